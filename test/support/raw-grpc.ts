import * as grpc from '@grpc/grpc-js';

/**
 * Raw gRPC for tests that must send bytes no generated client would produce: protobuf built by hand
 * ({@link pb}) and sent with identity serializers, so the server's own decoder is what meets them.
 */

/** Protobuf wire encoding by hand: fields are concatenated parts. */
export const pb = {
  varint(n: number | bigint): Buffer {
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      out.push(b);
    } while (v > 0n);
    return Buffer.from(out);
  },
  /** A length-delimited field (string, bytes or sub-message) from raw bytes. */
  bytes(field: number, value: Buffer | string): Buffer {
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return Buffer.concat([pb.varint(field * 8 + 2), pb.varint(v.length), v]);
  },
  /** A sub-message field made of parts. */
  msg(field: number, ...parts: Buffer[]): Buffer {
    return pb.bytes(field, Buffer.concat(parts));
  },
  /** A varint field. */
  int(field: number, value: number | bigint): Buffer {
    return Buffer.concat([pb.varint(field * 8), pb.varint(value)]);
  },
  /** A `map<string, string>` entry. */
  mapEntry(field: number, key: Buffer | string, value: Buffer | string): Buffer {
    return pb.msg(field, pb.bytes(1, key), pb.bytes(2, value));
  },
};

/** The outcome of one raw call: the response bytes, or the status. */
export type RawResult = { ok: true; bytes: Buffer } | { ok: false; code: grpc.status; details: string };

/** A client that sends and receives raw message bytes on any method path. */
export class RawGrpcClient {
  private readonly client: grpc.Client;

  constructor(endpoint: string) {
    this.client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
    });
  }

  /** A unary call of `path` (e.g. `/dapr.proto.runtime.v1.Dapr/GetState`) with `body` as the message. */
  unary(path: string, body: Buffer, metadata = new grpc.Metadata(), timeoutMs = 10_000): Promise<RawResult> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Buffer) =>
          resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, bytes: res! }),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
