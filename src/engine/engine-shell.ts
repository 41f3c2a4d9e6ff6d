import { ENGINE_CAPABILITIES, type EngineCapabilities } from './capabilities';
import type {
  CompactRequest,
  CompactResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Engine,
  EngineHealth,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseId,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  StatusResponse,
  TxnRequest,
  TxnResponse,
  WatchRequest,
  WatchSink,
  Watcher,
} from './contract';
import { EngineError } from './errors';
import type { KeyInterval } from './key-range';
import {
  checkCompact,
  checkDeleteRange,
  checkLeaseGrant,
  checkLeaseId,
  checkPut,
  checkRange,
  checkTxn,
  checkWatch,
} from './validate';

/**
 * What a backend implements: the contract's operations on requests the shell has already validated, and a watch
 * fan-out it feeds (`watch-fanout.ts`). A backend never re-checks arguments, the open state or the minimum lease
 * TTL; it does the checks that need its data (a lease that must exist, a revision that must not be compacted), as
 * part of the operation so that they are atomic with it.
 */
export interface EngineBackend {
  /** Backend name for logs and metrics, e.g. `memory`, `embedded`, `redis`. */
  readonly backend: string;
  /** The backend's watch fan-out (see `watch-fanout.ts`). */
  readonly fanout: {
    watch(req: WatchRequest, iv: KeyInterval, sink: WatchSink): Watcher;
    close(): void;
  };
  range(req: RangeRequest): Promise<RangeResponse>;
  put(req: PutRequest): Promise<PutResponse>;
  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse>;
  /** A txn within the op limit, duplicate-free (see `checkTxn`). */
  txn(req: TxnRequest): Promise<TxnResponse>;
  compact(req: CompactRequest): Promise<CompactResponse>;
  /** `ttl` already raised to the engine's minimum; `id` 0n = pick one. */
  leaseGrant(req: { ttl: number; id: LeaseId }): Promise<LeaseGrantResponse>;
  leaseRevoke(id: LeaseId): Promise<LeaseRevokeResponse>;
  leaseKeepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse>;
  leaseTimeToLive(id: LeaseId, keys: boolean): Promise<LeaseTimeToLiveResponse>;
  leaseLeases(): Promise<LeaseLeasesResponse>;
  currentRevision(): Promise<number>;
  status(): Promise<StatusResponse>;
  health(): EngineHealth;
  /** A failure after which the backend serves nothing (e.g. a durable write failed); thrown to every caller. */
  failure?(): EngineError | undefined;
  /** Release the backend; called once, after the fan-out was closed. */
  close(): Promise<void>;
}

/** Settings of the shell itself. */
export interface EngineShellOptions {
  /** Ops allowed in each of a txn's compare/success/failure lists. */
  maxTxnOps: number;
  /** Leases granted with a shorter TTL are raised to this (seconds). */
  minLeaseTtl: number;
}

/** A lease ID argument (named `id`, as the contract's lease calls name it). */
function checkLeaseIdArg(id: LeaseId): void {
  checkLeaseId(id, 'id');
}

/**
 * The validating wrapper every backend runs in: one place that checks that the engine is open, validates every
 * argument before anything is touched (so a bad request never writes anything), raises short lease TTLs to the
 * minimum, and serves watches from the backend's fan-out. Its methods reject — never throw — as the contract says;
 * they return the backend's promise unwrapped, so the hot path pays no extra asynchronous step.
 */
export class EngineShell implements Engine {
  readonly backend: string;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly checkTxnOps = (req: TxnRequest): void => checkTxn(req, this.opts.maxTxnOps);

  constructor(
    private readonly core: EngineBackend,
    private readonly opts: EngineShellOptions,
  ) {
    this.backend = core.backend;
  }

  /** The backend's optional capabilities (capabilities.ts), seen through the shell. */
  get [ENGINE_CAPABILITIES](): EngineCapabilities {
    return (this.core as { [ENGINE_CAPABILITIES]?: EngineCapabilities })[ENGINE_CAPABILITIES] ?? {};
  }

  private ensureOpen(): void {
    if (this.closed) throw new EngineError('STOPPED');
    const failure = this.core.failure?.();
    if (failure) throw failure;
  }

  /** Check the open state and the argument, then run the backend's operation; a failed check is a rejection. */
  private call<Q, R>(
    check: ((req: Q) => void) | null,
    req: Q,
    op: (this: EngineBackend, req: Q) => Promise<R>,
  ) {
    try {
      this.ensureOpen();
      if (check !== null) check(req);
    } catch (err) {
      return Promise.reject<R>(err);
    }
    return op.call(this.core, req);
  }

  range(req: RangeRequest): Promise<RangeResponse> {
    return this.call(checkRange, req, this.core.range);
  }

  put(req: PutRequest): Promise<PutResponse> {
    return this.call(checkPut, req, this.core.put);
  }

  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return this.call(checkDeleteRange, req, this.core.deleteRange);
  }

  txn(req: TxnRequest): Promise<TxnResponse> {
    return this.call(this.checkTxnOps, req, this.core.txn);
  }

  compact(req: CompactRequest): Promise<CompactResponse> {
    return this.call(checkCompact, req, this.core.compact);
  }

  watch(req: WatchRequest, sink: WatchSink): Watcher {
    this.ensureOpen();
    const iv = checkWatch(req);
    if (typeof sink !== 'function')
      throw new EngineError('INVALID_ARGUMENT', 'etcdserver: invalid argument: sink must be a function');
    return this.core.fanout.watch(req, iv, sink);
  }

  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const minTtl = this.opts.minLeaseTtl;
    return this.call(checkLeaseGrant, req, function (this: EngineBackend, r: LeaseGrantRequest) {
      return this.leaseGrant({ ttl: Math.max(r.ttl, minTtl), id: r.id ?? 0n });
    });
  }

  leaseRevoke(id: LeaseId): Promise<LeaseRevokeResponse> {
    return this.call(checkLeaseIdArg, id, this.core.leaseRevoke);
  }

  leaseKeepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse> {
    return this.call(checkLeaseIdArg, id, this.core.leaseKeepAlive);
  }

  leaseTimeToLive(id: LeaseId, keys = false): Promise<LeaseTimeToLiveResponse> {
    return this.call(checkLeaseIdArg, id, function (this: EngineBackend, i: LeaseId) {
      return this.leaseTimeToLive(i, keys === true);
    });
  }

  leaseLeases(): Promise<LeaseLeasesResponse> {
    return this.call(null, undefined, this.core.leaseLeases);
  }

  currentRevision(): Promise<number> {
    return this.call(null, undefined, this.core.currentRevision);
  }

  status(): Promise<StatusResponse> {
    return this.call(null, undefined, this.core.status);
  }

  health(): EngineHealth {
    if (this.closed) return { ready: false, reason: 'engine closed' };
    const failure = this.core.failure?.();
    if (failure) return { ready: false, reason: failure.message };
    return this.core.health();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.core.fanout.close();
    this.closing = this.core.close();
    return this.closing;
  }
}
