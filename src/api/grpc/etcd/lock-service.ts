import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { lock, unlock } from '../../../concurrency/etcd/mutex';
import { toBigInt } from './codec';
import { toConcurrencyGrpcError } from './errors';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';
import type { WireLockRequest, WireUnlockRequest } from './wire-types';

/** Abort signal that fires when the gRPC caller cancels (deadline or client going away). */
export function callSignal(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  if (call.cancelled) ac.abort();
  return ac.signal;
}

/** `v3lockpb.Lock`: the mutex recipe (`src/concurrency/etcd/mutex.ts`) behind gRPC; every error is code Unknown. */
export function lockService(
  engine: Engine,
  header: ResponseHeaderFactory,
): grpc.UntypedServiceImplementation {
  return {
    Lock: unary(async (req: WireLockRequest, call) => {
      const res = await lock(engine, req.name, toBigInt(req.lease), callSignal(call));
      return { header: header.full(res.header.revision), key: res.key };
    }, toConcurrencyGrpcError),
    Unlock: unary(async (req: WireUnlockRequest) => {
      const h = await unlock(engine, req.key);
      return { header: header.full(h.revision) };
    }, toConcurrencyGrpcError),
  };
}
