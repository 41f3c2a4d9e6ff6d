import * as grpc from '@grpc/grpc-js';
import { isEngineError } from '../../../engine/errors';
import { EtcdApiError } from './api-errors';
import { grpcCodeOf } from '../../status-map';

/**
 * Engine errors → gRPC statuses (codes from the shared `status-map.ts`) with etcd's exact messages (clients string-match them; etcd:
 * api/v3rpc/rpctypes/error.go). Anything that is not an EngineError becomes code Unknown with its raw text, as
 * etcd's `togRPCError` does for unexpected errors.
 */

/** The gRPC status for any thrown value. */
export function toGrpcError(err: unknown): Partial<grpc.StatusObject> {
  if (isEngineError(err)) return { code: grpcCodeOf(err.status), details: err.message };
  if (err instanceof EtcdApiError) return { code: err.grpcCode, details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.UNKNOWN, details: message };
}

/**
 * The Lock and Election services run etcd's client recipes through an in-process client, so every failure reaches
 * the caller as code Unknown carrying the inner message (etcd: v3lock/v3election; docs/etcd-semantics.md#lock-and-election).
 */
export function toConcurrencyGrpcError(err: unknown): Partial<grpc.StatusObject> {
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.UNKNOWN, details: message };
}

/** `etcdserver: request is too large` (etcd: v3_server.go `ErrRequestTooLarge`), for the 1.5 MiB app limit. */
export function requestTooLarge(): Partial<grpc.StatusObject> {
  return { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: request is too large' };
}
