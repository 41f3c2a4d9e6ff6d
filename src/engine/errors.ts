/**
 * The engine's typed errors, declared once in a table: code → canonical status and etcd's exact message.
 *
 * The status is the protocol-neutral google.rpc code name; the API layers map it to gRPC codes and HTTP statuses
 * in one place each (`src/api/...`). Clients string-match etcd's messages, so they are copied exactly
 * (etcd `api/v3rpc/rpctypes/error.go`).
 */

/** google.rpc canonical codes used by engine errors. */
export type StatusKind =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'FAILED_PRECONDITION'
  | 'OUT_OF_RANGE'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

interface ErrorSpec {
  readonly status: StatusKind;
  readonly message: string;
}

/** Every engine error code with its status and default (etcd) message. */
export const ENGINE_ERRORS = {
  KEY_NOT_PROVIDED: { status: 'INVALID_ARGUMENT', message: 'etcdserver: key is not provided' },
  KEY_NOT_FOUND: { status: 'INVALID_ARGUMENT', message: 'etcdserver: key not found' },
  VALUE_PROVIDED: { status: 'INVALID_ARGUMENT', message: 'etcdserver: value is provided' },
  LEASE_PROVIDED: { status: 'INVALID_ARGUMENT', message: 'etcdserver: lease is provided' },
  TOO_MANY_OPS: { status: 'INVALID_ARGUMENT', message: 'etcdserver: too many operations in txn request' },
  DUPLICATE_KEY: { status: 'INVALID_ARGUMENT', message: 'etcdserver: duplicate key given in txn request' },
  REQUEST_TOO_LARGE: { status: 'INVALID_ARGUMENT', message: 'etcdserver: request is too large' },
  /** Contract-level validation failure (wrong type, negative limit, ...); the message says what. */
  INVALID_ARGUMENT: { status: 'INVALID_ARGUMENT', message: 'etcdserver: invalid argument' },
  COMPACTED: { status: 'OUT_OF_RANGE', message: 'etcdserver: mvcc: required revision has been compacted' },
  FUTURE_REV: { status: 'OUT_OF_RANGE', message: 'etcdserver: mvcc: required revision is a future revision' },
  NO_SPACE: { status: 'RESOURCE_EXHAUSTED', message: 'etcdserver: mvcc: database space exceeded' },
  LEASE_NOT_FOUND: { status: 'NOT_FOUND', message: 'etcdserver: requested lease not found' },
  LEASE_EXISTS: { status: 'FAILED_PRECONDITION', message: 'etcdserver: lease already exists' },
  LEASE_TTL_TOO_LARGE: { status: 'OUT_OF_RANGE', message: 'etcdserver: too large lease TTL' },
  WATCH_RANGE_EMPTY: { status: 'INVALID_ARGUMENT', message: 'mvcc: watcher range is empty' },
  /** Cancel reason of a watcher whose position was compacted away (mvcc `ErrCompacted`, as watchers see it). */
  WATCH_COMPACTED: { status: 'OUT_OF_RANGE', message: 'mvcc: required revision has been compacted' },
  /** Cancel reason when a store's revision went back (its data was lost): no watcher can resume gap-free. */
  STORE_RESET: { status: 'UNAVAILABLE', message: 'etcdserver: the store was reset: its revision went back' },
  STOPPED: { status: 'UNAVAILABLE', message: 'etcdserver: server stopped' },
  UNAVAILABLE: { status: 'UNAVAILABLE', message: 'etcdserver: request timed out' },
  INTERNAL: { status: 'INTERNAL', message: 'etcdserver: internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type EngineErrorCode = keyof typeof ENGINE_ERRORS;

/** A typed engine failure. `message` is etcd's exact text unless a more specific one was given. */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly status: StatusKind;

  constructor(code: EngineErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ENGINE_ERRORS[code].message, options);
    this.name = 'EngineError';
    this.code = code;
    this.status = ENGINE_ERRORS[code].status;
  }
}

export function isEngineError(err: unknown): err is EngineError {
  return err instanceof EngineError;
}
