/**
 * The engine's typed errors, declared once in a table: code → canonical status and a protocol-neutral message.
 *
 * The status is the google.rpc code name; each API layer maps it in one place (`src/api/status-map.ts`). The
 * messages say what happened without any protocol's dressing: the etcd API adds etcd's exact wire texts
 * (`etcdserver: ...`, `src/api/grpc/etcd/errors.ts`, docs/etcd-semantics.md#errors), the Dapr API embeds the message
 * in its own error (`src/api/dapr-errors.ts`, docs/dapr-api.md#errors).
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

/** Every engine error code with its status and default message. */
export const ENGINE_ERRORS = {
  KEY_NOT_PROVIDED: { status: 'INVALID_ARGUMENT', message: 'key is not provided' },
  KEY_NOT_FOUND: { status: 'INVALID_ARGUMENT', message: 'key not found' },
  VALUE_PROVIDED: { status: 'INVALID_ARGUMENT', message: 'value is provided' },
  LEASE_PROVIDED: { status: 'INVALID_ARGUMENT', message: 'lease is provided' },
  TOO_MANY_OPS: { status: 'INVALID_ARGUMENT', message: 'too many operations in txn request' },
  DUPLICATE_KEY: { status: 'INVALID_ARGUMENT', message: 'duplicate key given in txn request' },
  REQUEST_TOO_LARGE: { status: 'INVALID_ARGUMENT', message: 'request is too large' },
  /** Contract-level validation failure (wrong type, negative limit, ...); the message says what. */
  INVALID_ARGUMENT: { status: 'INVALID_ARGUMENT', message: 'invalid argument' },
  COMPACTED: { status: 'OUT_OF_RANGE', message: 'required revision has been compacted' },
  FUTURE_REV: { status: 'OUT_OF_RANGE', message: 'required revision is a future revision' },
  NO_SPACE: { status: 'RESOURCE_EXHAUSTED', message: 'database space exceeded' },
  LEASE_NOT_FOUND: { status: 'NOT_FOUND', message: 'requested lease not found' },
  LEASE_EXISTS: { status: 'FAILED_PRECONDITION', message: 'lease already exists' },
  LEASE_TTL_TOO_LARGE: { status: 'OUT_OF_RANGE', message: 'too large lease TTL' },
  WATCH_RANGE_EMPTY: { status: 'INVALID_ARGUMENT', message: 'watcher range is empty' },
  /** Cancel reason of a watcher whose position was compacted away (mvcc `ErrCompacted`, as watchers see it). */
  WATCH_COMPACTED: { status: 'OUT_OF_RANGE', message: 'the watched revision has been compacted' },
  /** Cancel reason when a store's revision went back (its data was lost): no watcher can resume gap-free. */
  STORE_RESET: { status: 'UNAVAILABLE', message: 'the store was reset: its revision went back' },
  STOPPED: { status: 'UNAVAILABLE', message: 'server stopped' },
  /** A backend on a shared cluster (etcd) compacts only when its component allows it (`allowCompaction`). */
  COMPACTION_DISABLED: {
    status: 'FAILED_PRECONDITION',
    message: 'compaction of the shared cluster is not enabled for this store (allowCompaction)',
  },
  UNAVAILABLE: { status: 'UNAVAILABLE', message: 'request timed out' },
  INTERNAL: { status: 'INTERNAL', message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type EngineErrorCode = keyof typeof ENGINE_ERRORS;

/**
 * An etcd wire prefix some engine code still writes at the start of its own messages. It is dropped here, so that
 * no protocol's text reaches another protocol's clients; the etcd API adds it back.
 */
const ETCD_WIRE_PREFIX = 'etcdserver: ';

/** A typed engine failure. `message` is the table's text unless a more specific one was given. */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly status: StatusKind;

  constructor(code: EngineErrorCode, message?: string, options?: { cause?: unknown }) {
    const text = message?.startsWith(ETCD_WIRE_PREFIX) ? message.slice(ETCD_WIRE_PREFIX.length) : message;
    super(text ?? ENGINE_ERRORS[code].message, options);
    this.name = 'EngineError';
    this.code = code;
    this.status = ENGINE_ERRORS[code].status;
  }

  /** True when the message is the table's own text for the code (no more specific one was given). */
  get isDefaultMessage(): boolean {
    return this.message === ENGINE_ERRORS[this.code].message;
  }
}

export function isEngineError(err: unknown): err is EngineError {
  return err instanceof EngineError;
}
