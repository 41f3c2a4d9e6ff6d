/**
 * The engine contract: an etcd v3 style revisioned key-value store.
 *
 * Every backend (embedded in-memory, embedded durable, Redis, ...) implements {@link Engine} with exactly etcd's
 * semantics (see docs/etcd-semantics.md). A backend is written as an `EngineBackend` run inside the shared
 * `EngineShell` (`engine-shell.ts`), which validates every request, and feeds the shared watch fan-out
 * (`watch-fanout.ts`). The contract knows nothing of Dapr, gRPC or HTTP: keys and values are bytes, revisions
 * are plain numbers (safe up to 2^53, far beyond any realistic revision) and lease IDs are `bigint` because
 * etcd lease IDs use the full int64 range.
 *
 * Failures are thrown as {@link EngineError} values (see `errors.ts`), never as raw `TypeError`s.
 */

/** Raw bytes. Keys compare byte-wise (lexicographically), exactly as etcd does. */
export type Bytes = Buffer;

/** Lease IDs are int64; 0n means "no lease". */
export type LeaseId = bigint;

/** Header carried by every response. `revision` is the store revision the response reflects. */
export interface ResponseHeader {
  revision: number;
}

/** A key's state at one revision (etcd `mvccpb.KeyValue`). */
export interface KeyValue {
  key: Bytes;
  createRevision: number;
  modRevision: number;
  /** 1 on creation, +1 per put in the same generation. */
  version: number;
  value: Bytes;
  lease: LeaseId;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

/**
 * Range request. `rangeEnd` absent or empty: exactly `key`. `rangeEnd` = `\0`: every key >= `key`.
 * `key` = `\0` with `rangeEnd` = `\0`: every key.
 */
export interface RangeRequest {
  key: Bytes;
  rangeEnd?: Bytes;
  /** 0 (default) = unlimited. Negative is rejected by the contract (the etcd wire layer maps it to 0). */
  limit?: number;
  /**
   * 0 (default) = latest. Negative is rejected, except for a Range inside a txn, where it follows etcd's check
   * against the compaction point as the txn sees it: below the compact revision (-1 before any compaction) it fails
   * COMPACTED, otherwise it reads the latest revision.
   */
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  /** Skip the linearizable read path where the backend has one. */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  /** True when `limit` cut the result. */
  more: boolean;
  /** Keys in the range at that revision, before filters and limit. */
  count: number;
}

export interface PutRequest {
  key: Bytes;
  value?: Bytes;
  /** 0n or absent = no lease (a put without lease detaches the key from its old lease). */
  lease?: LeaseId;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Bytes;
  rangeEnd?: Bytes;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';
export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';

/**
 * One txn compare: `stored <result> given`. The operand is the field named by `target`; a missing operand counts
 * as 0 / empty bytes, as in etcd.
 */
export interface Compare {
  key: Bytes;
  rangeEnd?: Bytes;
  target: CompareTarget;
  result: CompareResult;
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Bytes;
  lease?: LeaseId;
}

/** Exactly one member set. An op with none set is rejected ("key not found"), as etcd does. */
export interface RequestOp {
  range?: RangeRequest;
  put?: PutRequest;
  deleteRange?: DeleteRangeRequest;
  txn?: TxnRequest;
}

export interface ResponseOp {
  range?: RangeResponse;
  put?: PutResponse;
  deleteRange?: DeleteRangeResponse;
  txn?: TxnResponse;
}

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactRequest {
  revision: number;
  /** Wait until the compacted history is physically removed before answering. */
  physical?: boolean;
}

export interface CompactResponse {
  header: ResponseHeader;
}

// ---------------------------------------------------------------------------------------------------------------
// Watch

export type EventType = 'PUT' | 'DELETE';

/** A change. DELETE events carry a kv with only `key` and `modRevision` (the delete revision) set. */
export interface WatchEvent {
  type: EventType;
  kv: KeyValue;
  prevKv?: KeyValue;
}

export interface WatchRequest {
  /** Empty key is treated as `\0` (as etcd's watch does). */
  key: Bytes;
  rangeEnd?: Bytes;
  /** 0 = only changes after the current revision; 1..current replays history; > current waits. */
  startRevision?: number;
  prevKv?: boolean;
  noPut?: boolean;
  noDelete?: boolean;
  /** Periodic progress notifications while the watcher is synced and idle. */
  progressNotify?: boolean;
  /** Split a response larger than the engine's `maxWatchResponseBytes` into fragments. */
  fragment?: boolean;
}

/**
 * What a watcher's sink receives.
 * - `events`: one or more revisions of events. Live delivery sends one message per revision with
 *   `revision` = that revision; history replay may pack several revisions with `revision` = the current revision.
 *   `fragment` is true on every piece but the last of a split response.
 * - `progress`: everything up to `revision` has been delivered.
 * - `canceled`: the watcher is gone. `compactRevision` is set when its start (or its catch-up position) was
 *   compacted away; `reason` is always set.
 */
export type WatchMessage =
  | { type: 'events'; revision: number; events: WatchEvent[]; fragment: boolean }
  | { type: 'progress'; revision: number }
  | { type: 'canceled'; revision: number; reason: string; compactRevision: number };

/**
 * The consumer of a watcher. Return `false` when the consumer cannot take more right now: the engine then stops
 * pushing to this watcher (it is not dropped) until {@link Watcher.resume} is called, and catches it up from history.
 * A sink must never throw.
 */
export type WatchSink = (message: WatchMessage) => boolean;

export interface Watcher {
  /** Engine-wide unique watcher number (not the etcd per-stream watch ID, which the API layer assigns). */
  readonly id: number;
  /** True while the watcher is caught up with the store and receiving live events. */
  readonly synced: boolean;
  /** Resume delivery after the sink returned false. */
  resume(): void;
  /** Stop the watcher. No message is delivered after this returns. */
  cancel(): void;
}

// ---------------------------------------------------------------------------------------------------------------
// Leases

export interface LeaseGrantRequest {
  /** Seconds. Values below the engine's minimum TTL (2 s by default) are raised to it. */
  ttl: number;
  /** 0n or absent: the engine picks a positive int63 ID. */
  id?: LeaseId;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  id: LeaseId;
  ttl: number;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
}

export interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  id: LeaseId;
  /** Granted TTL; 0 when the lease does not exist (not an error). */
  ttl: number;
}

export interface LeaseTimeToLiveResponse {
  header: ResponseHeader;
  id: LeaseId;
  /** Whole seconds remaining (truncated); -1 when the lease does not exist (not an error). */
  ttl: number;
  grantedTtl: number;
  keys: Bytes[];
}

export interface LeaseLeasesResponse {
  header: ResponseHeader;
  /** Sorted by soonest expiry. */
  leases: LeaseId[];
}

// ---------------------------------------------------------------------------------------------------------------
// Status

export interface StatusResponse {
  header: ResponseHeader;
  compactRevision: number;
  /** Bytes the backend occupies (file size for durable stores, an estimate for memory). */
  dbSize: number;
  /** Bytes actually in use. */
  dbSizeInUse: number;
  /** Live keys at the current revision. */
  keys: number;
}

/** A backend's readiness, for health checks. */
export interface EngineHealth {
  ready: boolean;
  /** Why it is not ready (absent when ready). */
  reason?: string;
}

/**
 * The engine contract. All methods validate their arguments and reject with an {@link EngineError}.
 * Writes resolve only after they are durable for backends that promise durability.
 */
export interface Engine {
  /** Backend name for logs and metrics, e.g. `memory`, `embedded`, `redis`. */
  readonly backend: string;

  range(req: RangeRequest): Promise<RangeResponse>;
  put(req: PutRequest): Promise<PutResponse>;
  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse>;
  txn(req: TxnRequest): Promise<TxnResponse>;
  compact(req: CompactRequest): Promise<CompactResponse>;

  /**
   * Start a watcher. Validation failures throw synchronously (e.g. an empty range). The sink is never called
   * before `watch` returns, so a caller can announce the watcher (etcd's `created` response) first.
   */
  watch(req: WatchRequest, sink: WatchSink): Watcher;

  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse>;
  leaseRevoke(id: LeaseId): Promise<LeaseRevokeResponse>;
  leaseKeepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse>;
  leaseTimeToLive(id: LeaseId, keys?: boolean): Promise<LeaseTimeToLiveResponse>;
  leaseLeases(): Promise<LeaseLeasesResponse>;

  /**
   * The current store revision, the one a Range issued now would carry in its header; cheaper than `status()`. For
   * headers of responses that carry no data of their own (watch control messages, lease calls).
   */
  currentRevision(): Promise<number>;

  status(): Promise<StatusResponse>;
  health(): EngineHealth;

  /** Stop timers, end watchers (with a cancel), flush and release the backend. Idempotent. */
  close(): Promise<void>;
}
