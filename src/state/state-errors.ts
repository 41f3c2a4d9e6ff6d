/**
 * Failures of the Dapr state semantics layer, independent of any wire protocol.
 *
 * The API layers translate a {@link StateError} into Dapr's error codes through the one table in
 * `src/api/dapr-errors.ts`; which row applies depends on the operation (save, delete, transaction, ...) and on
 * the {@link StateErrorKind}.
 */

/**
 * - `ETAG_MISMATCH`: the etag (or first-write condition) did not hold → 409 / Aborted on save and delete.
 * - `ETAG_INVALID`: the etag is not a revision number → 400 / InvalidArgument.
 * - `ILLEGAL_KEY`: the key contains `||`.
 * - `TOO_MANY_OPS`: a transaction exceeds the store's limit.
 * - `UNSUPPORTED_OPERATION`: a transaction operation other than `upsert` / `delete`.
 * - `INVALID_VALUE`: a value that had to be JSON was not (gRPC `contentType=application/json`).
 * - `COMPACTED`: a read or watch asked for a revision the engine's history no longer holds (a page token or a
 *   resume position that is too old).
 * - `INVALID_REQUEST`: a malformed argument of a query, list or watch (a bad page token, a bad position).
 * - `STORE`: any other failure of the store (bad TTL, bad option string, engine error).
 */
export type StateErrorKind =
  | 'ETAG_MISMATCH'
  | 'ETAG_INVALID'
  | 'ILLEGAL_KEY'
  | 'TOO_MANY_OPS'
  | 'UNSUPPORTED_OPERATION'
  | 'INVALID_VALUE'
  | 'COMPACTED'
  | 'INVALID_REQUEST'
  | 'STORE';

/** A typed failure of a state operation; `message` is the store-level text Dapr embeds in its own message. */
export class StateError extends Error {
  readonly kind: StateErrorKind;
  /** The key (ILLEGAL_KEY), operation name (UNSUPPORTED_OPERATION) or counts (TOO_MANY_OPS) involved. */
  readonly key?: string;
  readonly operation?: string;
  readonly count?: number;
  readonly max?: number;

  constructor(
    kind: StateErrorKind,
    message: string,
    extra: { key?: string; operation?: string; count?: number; max?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'StateError';
    this.kind = kind;
    this.key = extra.key;
    this.operation = extra.operation;
    this.count = extra.count;
    this.max = extra.max;
  }
}

export function isStateError(err: unknown): err is StateError {
  return err instanceof StateError;
}

/** Wrap any failure as a StateError, keeping typed ones as they are. */
export function toStateError(err: unknown): StateError {
  if (err instanceof StateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StateError('STORE', message, { cause: err });
}

/**
 * The combined outcome of a multi-item save or delete (not atomic: some items may have succeeded).
 * Its kind follows Dapr's rule: any etag failure makes the whole answer an etag answer (invalid wins over
 * mismatch); otherwise it is a store failure.
 */
export function joinItemErrors(errors: StateError[]): StateError {
  if (errors.length === 1) return errors[0];
  const etag = errors.filter((e) => e.kind === 'ETAG_INVALID' || e.kind === 'ETAG_MISMATCH');
  const kind = etag.some((e) => e.kind === 'ETAG_INVALID')
    ? 'ETAG_INVALID'
    : etag.length > 0
      ? 'ETAG_MISMATCH'
      : errors[0].kind;
  // Go's errors.Join separates the parts with newlines.
  return new StateError(kind, errors.map((e) => e.message).join('\n'));
}
