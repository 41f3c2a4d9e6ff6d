import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import protobuf from 'protobufjs';

/**
 * gRPC request bodies for h2load, built with protobufjs from the repository's own `.proto` files: a 5-byte
 * length-prefixed message frame (flag 0 = uncompressed, 4-byte big-endian length) followed by the protobuf bytes.
 * h2load sends the file as the DATA of every request, so one file is one unary call.
 */

/** Repository root, from `bench/` (ts-node) or `dist/bench/` (built). */
const repoRoot = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

let root: protobuf.Root | undefined;

/** The Dapr and etcd protos, parsed once; imports resolve against `proto/` and `proto/etcd/`. */
export function benchProtoRoot(): protobuf.Root {
  if (root) return root;
  const protoDir = path.join(repoRoot, 'proto');
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const base of [protoDir, path.join(protoDir, 'etcd')]) {
      const p = path.join(base, target);
      if (fs.existsSync(p)) return p;
    }
    return path.join(protoDir, target);
  };
  r.loadSync(['dapr/proto/runtime/v1/dapr.proto', 'etcdserverpb/rpc.proto'], { keepCase: true });
  root = r;
  return r;
}

/** Encode `fields` as message `type` (fully qualified, e.g. `etcdserverpb.RangeRequest`). */
export function encodeMessage(type: string, fields: Record<string, unknown>): Buffer {
  const t = benchProtoRoot().lookupType(type);
  const err = t.verify(fields);
  if (err) throw new Error(`${type}: ${err}`);
  return Buffer.from(t.encode(t.fromObject(fields)).finish());
}

/** Decode a protobuf message of `type` to a plain object (bytes as Buffers). */
export function decodeMessage(type: string, bytes: Buffer): Record<string, unknown> {
  const t = benchProtoRoot().lookupType(type);
  return t.toObject(t.decode(bytes), { longs: String, bytes: Buffer, defaults: true }) as Record<
    string,
    unknown
  >;
}

/** A gRPC length-prefixed message frame around `message`. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** A writer of request files for h2load (`-d`): one gRPC-framed message per file in `dir`; returns its path. */
export function frameFiles(
  dir: string,
): (name: string, type: string, fields: Record<string, unknown>) => string {
  return (name, type, fields) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, grpcFrame(encodeMessage(type, fields)));
    return p;
  };
}

/** The request files of the GetState and etcd Range rows (the key `bench-key` of `store`, the key `bench-range`). */
export function readRequestFiles(
  file: ReturnType<typeof frameFiles>,
  store: string,
): { getStateFile: string; rangeFile: string } {
  return {
    getStateFile: file('getstate.bin', 'dapr.proto.runtime.v1.GetStateRequest', {
      store_name: store,
      key: 'bench-key',
    }),
    rangeFile: file('range.bin', 'etcdserverpb.RangeRequest', { key: Buffer.from('bench-range') }),
  };
}

/** The result of one gRPC call made by {@link grpcCall}. */
export interface GrpcCallResult {
  /** `grpc-status` from the trailers (or headers, for trailers-only answers); -1 if absent. */
  status: number;
  message?: string;
  /** The response message bytes (frame header stripped), if any. */
  body?: Buffer;
}

/**
 * One unary call over plain node:http2, with exactly the headers h2load sends. Used to check, before a load run,
 * that a target answers the framed request with grpc-status 0: h2load only sees HTTP 200 and would count gRPC
 * errors as successes.
 */
export async function grpcCall(authority: string, method: string, frame: Buffer): Promise<GrpcCallResult> {
  const session = http2.connect(`http://${authority}`);
  const failed = new Promise<never>((_, reject) => session.on('error', reject));
  try {
    return await Promise.race([grpcCallOn(session, method, frame), failed]);
  } finally {
    session.close();
  }
}

/** One unary call on an open session (many calls share it), with the headers of {@link grpcCall}. */
export function grpcCallOn(
  session: http2.ClientHttp2Session,
  method: string,
  frame: Buffer,
): Promise<GrpcCallResult> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status = -1;
    let message: string | undefined;
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', reject);
    req.on('end', () => {
      const all = Buffer.concat(chunks);
      resolve({
        status,
        message,
        body: all.length >= 5 ? all.subarray(5, 5 + all.readUInt32BE(1)) : undefined,
      });
    });
    req.end(frame);
  });
}
