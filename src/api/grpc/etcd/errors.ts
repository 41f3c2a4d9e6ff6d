import type * as grpc from '@grpc/grpc-js';
import { status } from '../grpc-core';
import { ENGINE_ERRORS, isEngineError, type EngineError, type EngineErrorCode } from '../../../engine/errors';
import { EtcdApiError } from './api-errors';
import { grpcCodeOf } from '../../status-map';

/**
 * Engine errors on the etcd wire: the gRPC code from the one status mapping (`status-map.ts`) and etcd's exact
 * text, because clients string-match them (docs/etcd-semantics.md#errors; etcd: api/v3rpc/rpctypes/error.go).
 * Anything that is not an EngineError becomes code Unknown with its raw text, as etcd's `togRPCError` does for
 * unexpected errors.
 */

/** etcd's text for each engine error code, sent when the engine gave no more specific message. */
const ETCD_TEXTS: Readonly<Record<EngineErrorCode, string>> = {
  KEY_NOT_PROVIDED: 'etcdserver: key is not provided',
  KEY_NOT_FOUND: 'etcdserver: key not found',
  VALUE_PROVIDED: 'etcdserver: value is provided',
  LEASE_PROVIDED: 'etcdserver: lease is provided',
  TOO_MANY_OPS: 'etcdserver: too many operations in txn request',
  DUPLICATE_KEY: 'etcdserver: duplicate key given in txn request',
  REQUEST_TOO_LARGE: 'etcdserver: request is too large',
  INVALID_ARGUMENT: 'etcdserver: invalid argument',
  COMPACTED: 'etcdserver: mvcc: required revision has been compacted',
  FUTURE_REV: 'etcdserver: mvcc: required revision is a future revision',
  NO_SPACE: 'etcdserver: mvcc: database space exceeded',
  LEASE_NOT_FOUND: 'etcdserver: requested lease not found',
  LEASE_EXISTS: 'etcdserver: lease already exists',
  LEASE_TTL_TOO_LARGE: 'etcdserver: too large lease TTL',
  WATCH_RANGE_EMPTY: 'mvcc: watcher range is empty',
  WATCH_COMPACTED: 'mvcc: required revision has been compacted',
  STORE_RESET: 'etcdserver: the store was reset: its revision went back',
  STOPPED: 'etcdserver: server stopped',
  COMPACTION_DISABLED:
    'etcdserver: compaction of the shared cluster is not enabled for this store (allowCompaction)',
  UNAVAILABLE: 'etcdserver: request timed out',
  INTERNAL: 'etcdserver: internal error',
};

/** etcd's in-band Watch cancel reasons that are not engine errors (etcd: server/mvcc/watcher.go). */
export const WATCH_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';
/**
 * statecar's own: a chosen watch ID beyond 2^53 (statecar keeps watch IDs as numbers; clients choose small ones,
 * or 0 for an automatic one).
 */
export const WATCH_ID_OUT_OF_RANGE = 'watch ID out of range';

/**
 * The text etcd would send for an engine error: its own text for the code, or the engine's specific message under
 * etcd's `etcdserver: ` prefix.
 */
export function etcdText(err: EngineError): string {
  return err.isDefaultMessage ? ETCD_TEXTS[err.code] : `etcdserver: ${err.message}`;
}

/**
 * The in-band Watch `cancel_reason` for an engine error: etcd reports watch create failures with the mvcc
 * layer's text, without the `etcdserver: ` prefix of the RPC errors.
 */
export function watchCancelReason(err: EngineError): string {
  return etcdText(err).replace(/^etcdserver: /, '');
}

/** Engine error codes by their neutral message (the engine's watch cancel reasons are those messages). */
const CODE_OF_MESSAGE = new Map<string, EngineErrorCode>(
  (Object.keys(ETCD_TEXTS) as EngineErrorCode[]).map((code) => [ENGINE_ERRORS[code].message, code]),
);

/**
 * The `cancel_reason` etcd sends for an engine watch cancel: the engine gives a reason that is one of its error
 * messages (server stopped, store reset); the wire gets etcd's text for it. Any other reason passes as it is.
 */
export function etcdCancelReason(reason: string): string {
  const code = CODE_OF_MESSAGE.get(reason);
  return code ? ETCD_TEXTS[code] : reason;
}

/** The gRPC status for any thrown value. */
export function toGrpcError(err: unknown): Partial<grpc.StatusObject> {
  if (isEngineError(err)) return { code: grpcCodeOf(err.status), details: etcdText(err) };
  if (err instanceof EtcdApiError) return { code: err.grpcCode, details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.UNKNOWN, details: message };
}

/**
 * The Lock and Election services run etcd's client recipes through an in-process client, so every failure reaches
 * the caller as code Unknown carrying the inner message, etcd's text for engine errors (etcd: v3lock/v3election;
 * docs/etcd-semantics.md#lock-and-election).
 */
export function toConcurrencyGrpcError(err: unknown): Partial<grpc.StatusObject> {
  const message = isEngineError(err) ? etcdText(err) : err instanceof Error ? err.message : String(err);
  return { code: status.UNKNOWN, details: message };
}
