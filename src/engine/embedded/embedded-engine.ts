import type {
  CompactRequest,
  CompactResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Engine,
  EngineHealth,
  LeaseId,
  LeaseGrantResponse,
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
} from '../contract';
import { EngineShell, type EngineBackend } from '../engine-shell';
import { EngineError } from '../errors';
import { fromBin } from '../key-range';
import {
  embeddedEngineOptionsSchema,
  parseEngineOptions,
  type EmbeddedEngineOptions,
  type EmbeddedEngineOptionsInput,
} from '../options';
import { Lessor, type Lease } from '../mvcc/lessor';
import { MvccStore, type WriteBatch } from '../mvcc/mvcc-store';
import { recChanges, type Rec } from '../mvcc/record';
import { AutoCompactor } from '../auto-compactor';
import { checkCompactRevision } from '../validate';
import { WatchFanout } from '../watch-fanout';
import type { ChangeCodec, FeedRevision, HistoryRequest, HistoryResult, WatchSource } from '../watch-feed';
import type { DurableLog } from './durable-log';
import { AuxAlarmStore } from '../alarms';
import { MemoryAuxStore } from '../aux-store';
import { ENGINE_CAPABILITIES, type EngineCapabilities } from '../capabilities';
import { quotaBytesOf, SpaceQuota } from '../space-quota';
import { embeddedCapabilities } from './embedded-capabilities';

/**
 * Create the embedded engine: in memory (no `dataDir`, component type `state.in-memory`) or durable on disk under
 * `dataDir` (component type `state.embedded`), restoring the exact history from the compaction point on.
 */
export async function createEmbeddedEngine(input: EmbeddedEngineOptionsInput = {}): Promise<Engine> {
  const opts = parseEngineOptions(embeddedEngineOptionsSchema, input, 'embedded');
  // LMDB (its native addon and ~16 MB of buffers) is loaded only for a durable store.
  const log = opts.dataDir
    ? (await import('./durable-log')).DurableLog.open(opts.dataDir, opts.valueCacheBytes, opts.idleReopenMs)
    : undefined;
  try {
    return new EngineShell(new EmbeddedBackend(opts, log), opts);
  } catch (err) {
    // A restore that fails must not keep the data directory (and its lock) open.
    await log?.close().catch(() => undefined);
    throw err;
  }
}

/** Versions a catching-up watcher may read per turn of the event loop, so a long replay never stalls writers. */
const REPLAY_SCAN_PER_TURN = 20_000;

interface PendingCommit {
  rev: number;
  batch: WriteBatch;
  done: boolean;
  /** Net change of the live key count, so status can report the count at the visible revision. */
  liveDelta: number;
}

/** A caller waiting for revision `rev` to become visible, to be answered with `value`. */
interface Waiter {
  rev: number;
  value: unknown;
  resolve: (value: unknown) => void;
  reject: (err: EngineError) => void;
}

const RELEASED: Waiter = { rev: 0, value: undefined, resolve: () => undefined, reject: () => undefined };

/**
 * The embedded backend: {@link MvccStore} + {@link Lessor}, a {@link WatchFanout} fed with every revision as it
 * becomes visible, and in durable mode a {@link DurableLog}.
 *
 * Durability and visibility: a write is applied to the in-memory store at once (so later writes compare against it),
 * but it becomes visible to readers and watchers only when it and every earlier revision are on disk; reads are
 * served at that visible revision. Nobody can therefore observe a revision that a crash could take back, and
 * revisions are never reused after a restart. In memory mode the visible revision is simply the current one.
 */
class EmbeddedBackend implements EngineBackend, WatchSource<Rec> {
  readonly backend: string;
  readonly codec: ChangeCodec<Rec>;
  readonly fanout: WatchFanout<Rec>;
  private readonly lessor: Lessor;
  private readonly store: MvccStore;
  private visible: number;
  private readonly pending: PendingCommit[] = [];
  /** Callers waiting for their revision to become visible, in revision order from `waitersHead` on. */
  private waiters: Waiter[] = [];
  private waitersHead = 0;
  private failed: EngineError | undefined;
  private draining = false;
  private closed = false;
  private readonly leaseTimer: NodeJS.Timeout;
  private readonly compactor: AutoCompactor | undefined;
  private readonly quota: SpaceQuota;
  /** Optional capabilities: aux buckets, alarms, snapshots, hashing, defragmentation (capabilities.ts). */
  readonly [ENGINE_CAPABILITIES]: EngineCapabilities;

  constructor(
    opts: EmbeddedEngineOptions,
    private readonly log: DurableLog | undefined,
  ) {
    this.backend = log ? 'embedded' : 'memory';
    this.lessor = new Lessor();
    this.store = new MvccStore(this.lessor);
    this.codec = recChanges(this.store);
    if (log) log.restore(this.store, this.lessor, Date.now());
    this.visible = this.store.currentRev;
    this.fanout = new WatchFanout(this, opts);
    this.fanout.progress(this.visible);
    const aux = log?.auxStore ?? new MemoryAuxStore();
    const alarms = new AuxAlarmStore(aux);
    this.quota = new SpaceQuota(alarms, quotaBytesOf(opts.quotaBackendBytes), () => this.sizes().dbSize);
    this[ENGINE_CAPABILITIES] = embeddedCapabilities({
      store: this.store,
      lessor: this.lessor,
      aux,
      alarms,
      visibleRev: () => this.visible,
      log,
    });
    this.leaseTimer = setInterval(() => void this.expireLeases(), opts.leaseCheckIntervalMs);
    this.leaseTimer.unref();
    if (opts.retentionRevisions > 0 || opts.retentionMs > 0) {
      this.compactor = new AutoCompactor(
        {
          retentionRevisions: opts.retentionRevisions,
          retentionMs: opts.retentionMs,
          intervalMs: opts.compactionIntervalMs,
        },
        () => ({ current: this.visible, compacted: this.store.compactRev }),
        async (rev) => {
          if (this.failed === undefined) await this.compact({ revision: rev });
        },
      );
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // KV

  async range(req: RangeRequest): Promise<RangeResponse> {
    const vis = this.visible;
    this.store.checkReadRevision(req.revision ?? 0, vis);
    return this.store.range(req, vis, vis);
  }

  put(req: PutRequest): Promise<PutResponse> {
    try {
      const quota = this.quota.checkPut(req);
      if (quota) return quota.then(() => this.putNow(req));
      return this.putNow(req);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A put past the quota check. Not async: the hot path's only promise is the one its caller awaits. */
  private putNow(req: PutRequest): Promise<PutResponse> {
    this.store.checkPut(req);
    const w = this.store.begin();
    const res = this.store.put(w, req);
    this.store.end(w);
    return this.commit(w, res);
  }

  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    try {
      const preRev = this.store.currentRev;
      const w = this.store.begin();
      const res = this.store.deleteRange(w, req, preRev);
      this.store.end(w);
      return this.commit(w, res);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  txn(req: TxnRequest): Promise<TxnResponse> {
    try {
      const quota = this.quota.checkTxn(req);
      if (quota) return quota.then(() => this.txnNow(req));
      return this.txnNow(req);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private txnNow(req: TxnRequest): Promise<TxnResponse> {
    const preRev = this.store.currentRev;
    const path = this.store.planTxn(req, preRev);
    const w = this.store.begin();
    const res = this.store.applyTxn(w, path, preRev);
    this.store.end(w);
    return this.commit(w, res);
  }

  async compact(req: CompactRequest): Promise<CompactResponse> {
    checkCompactRevision(req.revision, this.store.compactRev, this.visible);
    const { removed } = this.store.compact(req.revision);
    this.fanout.compacted(req.revision);
    if (this.log) await this.guard(this.log.writeCompaction(req.revision, removed));
    return { header: { revision: this.visible } };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Watch source

  knownRevision(): number {
    return this.visible;
  }

  /** History from the in-memory window, at most REPLAY_SCAN_PER_TURN versions per read, whole revisions. */
  readHistory(req: HistoryRequest): HistoryResult<Rec> {
    if (req.from < this.store.compactRev) return { compactRevision: this.store.compactRev };
    const revisions: FeedRevision<Rec>[] = [];
    let changes: Rec[] = [];
    let rev = 0;
    let scanned = 0;
    let upto = req.to;
    this.store.history(req.from, req.to, (r) => {
      if (r.modRev !== rev) {
        if (scanned >= REPLAY_SCAN_PER_TURN) {
          upto = rev;
          return false;
        }
        rev = r.modRev;
        changes = [];
        revisions.push({ revision: rev, changes, prevKv: true });
      }
      changes.push(r);
      scanned++;
      return true;
    });
    return { revisions, upto };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Leases

  async leaseGrant(req: { ttl: number; id: LeaseId }): Promise<LeaseGrantResponse> {
    const quota = this.quota.checkLeaseGrant();
    if (quota) await quota;
    const ttl = req.ttl;
    const id = req.id !== 0n ? req.id : this.lessor.newId();
    if (this.lessor.exists(id)) throw new EngineError('LEASE_EXISTS');
    this.lessor.add(id, ttl, Date.now());
    if (this.log) await this.guard(this.log.writeLease(id, ttl));
    return { header: { revision: this.visible }, id, ttl };
  }

  async leaseRevoke(id: LeaseId): Promise<LeaseRevokeResponse> {
    const lease = this.lessor.get(id);
    if (lease === undefined) throw new EngineError('LEASE_NOT_FOUND');
    return { header: { revision: await this.revoke(lease) } };
  }

  async leaseKeepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse> {
    const header = { revision: this.visible };
    const now = Date.now();
    const lease = this.lessor.get(id);
    if (lease === undefined) return { header, id, ttl: 0 };
    if (lease.expiresAt <= now) {
      // Expired but not yet revoked: revoke now and report it gone (etcd waits for the revoke).
      await this.revoke(lease);
      return { header, id, ttl: 0 };
    }
    this.lessor.renew(id, now);
    return { header, id, ttl: lease.ttl };
  }

  async leaseTimeToLive(id: LeaseId, keys: boolean): Promise<LeaseTimeToLiveResponse> {
    const header = { revision: this.visible };
    const lease = this.lessor.get(id);
    if (lease === undefined) return { header, id, ttl: -1, grantedTtl: 0, keys: [] };
    const ttl = Math.max(0, Math.floor((lease.expiresAt - Date.now()) / 1000));
    return { header, id, ttl, grantedTtl: lease.ttl, keys: keys ? [...lease.keys].map(fromBin) : [] };
  }

  async leaseLeases(): Promise<LeaseLeasesResponse> {
    return { header: { revision: this.visible }, leases: this.lessor.list().map((l) => l.id) };
  }

  /**
   * Delete a lease's keys in one revision and drop the lease, durably in one transaction. Resolves with the
   * revision the revoke happened at (the current one when it deleted nothing).
   */
  private async revoke(lease: Lease): Promise<number> {
    const preRev = this.store.currentRev;
    if (this.lessor.get(lease.id) !== lease) return preRev;
    const keys = [...lease.keys].sort();
    const w = this.store.begin();
    for (const k of keys) this.store.deleteKey(w, k);
    this.store.end(w);
    this.lessor.remove(lease.id);
    // With keys, the removal joins the revision's transaction (same event turn) and its fsync.
    await this.commit(w, undefined, () => this.log?.removeLease(lease.id));
    return w.changes.length > 0 ? w.rev : preRev;
  }

  private async expireLeases(): Promise<void> {
    if (this.closed || this.failed) return;
    for (const lease of this.lessor.expired(Date.now())) {
      try {
        await this.revoke(lease);
      } catch {
        // A failed durable write already marked the engine failed; nothing more to do here.
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Status and lifecycle

  async currentRevision(): Promise<number> {
    return this.visible;
  }

  async status(): Promise<StatusResponse> {
    const sizes = this.sizes();
    return {
      header: { revision: this.visible },
      compactRevision: Math.max(0, this.store.compactRev),
      dbSize: sizes.dbSize,
      dbSizeInUse: sizes.dbSizeInUse,
      // Applied-but-not-yet-durable revisions are not visible: take their key count changes back out.
      keys: this.store.liveKeys - this.pending.reduce((n, p) => n + p.liveDelta, 0),
    };
  }

  /** Store size: the file for durable stores, an estimate in memory (~200 bytes per version plus the index). */
  private sizes(): { dbSize: number; dbSizeInUse: number } {
    if (this.log) return this.log.sizes();
    const estimate = this.store.historySize * 200 + this.store.liveKeys * 200;
    return { dbSize: estimate, dbSizeInUse: estimate };
  }

  health(): EngineHealth {
    return { ready: true };
  }

  failure(): EngineError | undefined {
    return this.failed;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.leaseTimer);
    this.compactor?.stop();
    if (this.log) await this.log.close();
  }

  // -------------------------------------------------------------------------------------------------------------
  // Commit pipeline

  /**
   * Make a finished write batch durable and visible, in revision order, then resolve with `res`. A batch without
   * changes still waits until everything it may have read is visible.
   */
  private commit<T>(w: WriteBatch, res: T, alsoWrite?: () => Promise<void> | void): Promise<T> {
    if (w.changes.length === 0) return this.commitNothing(res, alsoWrite);
    if (this.failed) return Promise.reject(this.failed);
    const log = this.log;
    if (log === undefined) {
      // Nothing to wait for, but still through the ordered queue: a write made from inside a watch sink must not
      // be delivered before the revision that sink is receiving has reached every watcher.
      this.pending.push({ rev: w.rev, batch: w, done: true, liveDelta: 0 });
      this.drain();
      return this.waitVisible(w.rev, res);
    }
    let liveDelta = 0;
    for (const r of w.changes) liveDelta += r.value === null ? -1 : r.version === 1 ? 1 : 0;
    const entry: PendingCommit = { rev: w.rev, batch: w, done: false, liveDelta };
    this.pending.push(entry);
    const visible = this.waitVisible(w.rev, res);
    log.writeRevision(w.rev, w.changes, alsoWrite, (err) => {
      if (err !== undefined) return this.fail(err);
      entry.done = true;
      this.drain();
    });
    return visible;
  }

  private async commitNothing<T>(res: T, alsoWrite?: () => Promise<void> | void): Promise<T> {
    const extra = alsoWrite?.();
    if (extra) await this.guard(extra);
    return this.waitVisible(this.store.currentRev, res);
  }

  /**
   * Publish finished commits in revision order. Not re-entrant: a write issued by a watch sink during `notify`
   * queues behind the revision being delivered and is published by the running loop, so every watcher sees
   * revision N before N+1 and no reader sees N+1 before N was delivered (docs/etcd-semantics.md#ordering-and-atomicity).
   */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.pending.length > 0 && this.pending[0].done) {
        const e = this.pending.shift()!;
        this.visible = e.rev;
        if (this.fanout.watching)
          this.fanout.publish({ revision: e.rev, changes: e.batch.changes, prevKv: true });
        else this.fanout.progress(e.rev);
        // Durable now, and the live watchers have their events: the values can live on disk only.
        this.log?.offload(e.batch.changes);
      }
    } finally {
      this.draining = false;
    }
    this.releaseWaiters();
  }

  /** Resolve the waiters whose revision is visible now (they are kept in revision order). */
  private releaseWaiters(): void {
    const waiters = this.waiters;
    let i = this.waitersHead;
    while (i < waiters.length && waiters[i].rev <= this.visible) {
      const x = waiters[i];
      waiters[i++] = RELEASED;
      x.resolve(x.value);
    }
    if (i === waiters.length) {
      this.waiters = [];
      this.waitersHead = 0;
    } else if (i > 1024 && i * 2 > waiters.length) {
      this.waiters = waiters.slice(i);
      this.waitersHead = 0;
    } else this.waitersHead = i;
  }

  /** Resolves with `value` once revision `rev` is visible; rejects if the engine fails first. */
  private waitVisible<T>(rev: number, value: T): Promise<T> {
    if (rev <= this.visible) return Promise.resolve(value);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { rev, value, resolve: resolve as (v: unknown) => void, reject };
      const waiters = this.waiters;
      let at = waiters.length;
      // Revisions are almost always handed out in order; keep the list sorted when one is not.
      while (at > this.waitersHead && waiters[at - 1].rev > rev) at--;
      if (at === waiters.length) waiters.push(waiter);
      else waiters.splice(at, 0, waiter);
    });
  }

  /** A durable write failed: memory is ahead of disk, so stop serving and fail everyone still waiting. */
  private fail(err: EngineError): void {
    this.failed ??= err;
    const waiters = this.waiters.slice(this.waitersHead);
    this.waiters = [];
    this.waitersHead = 0;
    for (const x of waiters) x.reject(this.failed);
  }

  /** A durable write that fails leaves memory ahead of disk: stop serving rather than serve what could vanish. */
  private async guard(p: Promise<void>): Promise<void> {
    try {
      await p;
    } catch (err) {
      this.fail(
        err instanceof EngineError
          ? err
          : new EngineError('INTERNAL', `etcdserver: ${(err as Error).message}`),
      );
      throw this.failed;
    }
  }
}
