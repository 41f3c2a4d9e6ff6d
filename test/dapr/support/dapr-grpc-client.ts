import * as grpc from '@grpc/grpc-js';
import { daprServiceDefinition } from '../../../src/api/grpc/server';
import { decodeStatus } from '../../../src/api/grpc/rich-status';

/** A raw gRPC client of statecar's Dapr service (our own protos), for checking codes and error details. */
export interface DaprGrpc {
  call<T = Record<string, unknown>>(
    method: string,
    request: object,
    metadata?: Record<string, string>,
  ): Promise<T>;
  close(): void;
}

/** What a failed call carried: code, message and the decoded rich details (if any). */
export interface GrpcFailure {
  code: grpc.status;
  details: string;
  rich?: { code: number; message: string; details: Record<string, unknown>[] };
}

export function daprGrpc(port: number, maxMessageBytes = 16 * 1024 * 1024): DaprGrpc {
  const Ctor = grpc.makeGenericClientConstructor(daprServiceDefinition(), 'Dapr');
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_receive_message_length': maxMessageBytes,
  });
  return {
    call<T>(method: string, request: object, metadata: Record<string, string> = {}): Promise<T> {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) md.set(k, v);
      return new Promise<T>((resolve, reject) => {
        const fn = (client as unknown as Record<string, (...a: unknown[]) => void>)[method];
        fn.call(client, request, md, (err: grpc.ServiceError | null, res: T) =>
          err ? reject(err) : resolve(res),
        );
      });
    },
    close: () => client.close(),
  };
}

/** Run a call expected to fail; returns its code, message and decoded rich status. */
export async function grpcFailure(p: Promise<unknown>): Promise<GrpcFailure> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    const bin = err.metadata?.get('grpc-status-details-bin')[0];
    return {
      code: err.code,
      details: err.details,
      rich: Buffer.isBuffer(bin) ? decodeStatus(bin) : undefined,
    };
  }
  throw new Error('expected the gRPC call to fail');
}

/** The ErrorInfo reason of a failure. */
export function reasonOf(f: GrpcFailure): string | undefined {
  const info = f.rich?.details.find((d) => String(d['@type']).endsWith('google.rpc.ErrorInfo'));
  return info?.reason as string | undefined;
}
