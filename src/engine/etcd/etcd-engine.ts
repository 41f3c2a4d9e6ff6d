import type {
  CompactRequest,
  CompactResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Engine,
  EngineHealth,
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
  ResponseOp,
  StatusResponse,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../contract';
import { ENGINE_CAPABILITIES, type EngineCapabilities } from '../capabilities';
import { EngineShell, type EngineBackend } from '../engine-shell';
import { EngineError, isEngineError } from '../errors';
import { parseEngineOptions } from '../options';
import { WatchFanout } from '../watch-fanout';
import { WATCH_EVENT_CHANGES, type FeedDemand, type HistoryRequest, type WatchSource } from '../watch-feed';
import { EtcdConnection, type WireHeader } from './etcd-connection';
import { EtcdLeases } from './etcd-leases';
import {
  etcdEngineOptionsSchema,
  keyPrefixOf,
  type EtcdEngineOptions,
  type EtcdEngineOptionsInput,
} from './etcd-options';
import { EtcdWatchFeed } from './etcd-watch-feed';
import { etcdClusterView, type EtcdClusterView } from './cluster-view';
import {
  deleteFromWire,
  deleteToWire,
  headerRevision,
  KeyPrefix,
  putFromWire,
  putToWire,
  rangeFromWire,
  rangeToWire,
  txnFromWire,
  txnToWire,
} from './etcd-wire';

/** How often the backend checks that the cluster answers linearizable reads (for health). */
const HEALTH_INTERVAL_MS = 1000;

/** Whether the executed branch of a txn wrote (so its revision is a change of this store). */
function txnWrote(responses: ResponseOp[]): boolean {
  for (const r of responses) {
    if (r.put) return true;
    if (r.deleteRange && r.deleteRange.deleted > 0) return true;
    if (r.txn && txnWrote(r.txn.responses)) return true;
  }
  return false;
}

/**
 * The engine contract on a real etcd cluster. Every key of the store lives under `<keyPrefixPath>/`; requests pass
 * through with the prefix added and removed, so revisions, history, leases and compaction are the cluster's own and
 * nothing is kept here but connections: any number of sidecars on one cluster and prefix share one store.
 */
class EtcdBackend implements EngineBackend, WatchSource<WatchEvent> {
  readonly backend = 'etcd';
  readonly codec = WATCH_EVENT_CHANGES;
  readonly fanout: WatchFanout<WatchEvent>;
  readonly prefix: KeyPrefix;
  readonly cluster: EtcdClusterView;
  private known = 0;
  /** Highest compaction revision this instance knows of (its own compactions, or found by a probe). */
  private compactKnown = 0;
  private readonly feed: EtcdWatchFeed;
  private readonly leases: EtcdLeases;
  private healthTimer: NodeJS.Timeout | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private unhealthy: string | undefined;
  private closed = false;

  constructor(
    private readonly opts: EtcdEngineOptions,
    readonly conn: EtcdConnection,
  ) {
    this.prefix = new KeyPrefix(keyPrefixOf(opts));
    this.feed = new EtcdWatchFeed({
      conn,
      prefix: this.prefix,
      knownRevision: () => this.known,
      observed: (rev) => this.seen(rev),
      requestTimeoutMs: opts.requestTimeout,
    });
    this.fanout = new WatchFanout<WatchEvent>(this, opts);
    this.feed.attach(this.fanout);
    this.leases = new EtcdLeases(conn, this.prefix, (h) => this.seenHeader(h));
    this.cluster = etcdClusterView(conn);
  }

  get [ENGINE_CAPABILITIES](): EngineCapabilities {
    return { cluster: this.cluster };
  }

  // Watch source (see watch-feed.ts)

  knownRevision(): number {
    return this.known;
  }

  readHistory(req: HistoryRequest) {
    return this.feed.readHistory(req);
  }

  demand(d: FeedDemand): void {
    this.feed.setDemand(d);
  }

  /** Reach the cluster (bounded by dialTimeout), learn the revision, check the prefix is readable. */
  async start(): Promise<void> {
    await this.conn.firstAnswer(this.opts.dialTimeout);
    try {
      await this.conn.unary('KV', 'Range', { ...this.prefix.all(), keys_only: true, limit: '1' }, 'read');
    } catch (err) {
      const e = err as EngineError;
      throw new EngineError(e.code ?? 'INTERNAL', `keyPrefixPath "${this.opts.keyPrefixPath}": ${e.message}`);
    }
    const rev = await this.currentRevision();
    this.fanout.skipTo(rev);
    this.healthTimer = setInterval(() => void this.checkHealth(), HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
    if (this.opts.allowCompaction && (this.opts.retentionRevisions > 0 || this.opts.retentionMs > 0)) {
      this.compactTimer = setInterval(() => void this.autoCompact(), this.opts.compactionIntervalMs);
      this.compactTimer.unref();
    }
  }

  private seen(rev: number): void {
    if (rev <= this.known) return;
    this.known = rev;
    // Nobody watches: keep the fan-out's position current, so a new watcher starting "now" starts here.
    if (!this.fanout.watching) this.fanout.skipTo(rev);
  }

  private seenHeader(h: WireHeader | undefined): number {
    const rev = headerRevision(h);
    this.seen(rev);
    return rev;
  }

  /** After a write of this store, let local watchers see it before the caller does (as the embedded engine). */
  private async wrote(rev: number): Promise<void> {
    this.seen(rev);
    if (this.fanout.watching && rev > this.fanout.publishedRevision) {
      await this.fanout.whenPublished(rev, this.opts.watchNotifyWaitMs);
    }
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    const w = await this.conn.unary('KV', 'Range', rangeToWire(this.prefix, req), 'read');
    const res = rangeFromWire(this.prefix, w);
    this.seen(res.header.revision);
    return res;
  }

  async put(req: PutRequest): Promise<PutResponse> {
    const w = await this.conn.unary('KV', 'Put', putToWire(this.prefix, req), 'write');
    const res = putFromWire(this.prefix, w);
    await this.wrote(res.header.revision);
    return res;
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    const w = await this.conn.unary('KV', 'DeleteRange', deleteToWire(this.prefix, req), 'write');
    const res = deleteFromWire(this.prefix, w);
    if (res.deleted > 0) await this.wrote(res.header.revision);
    else this.seen(res.header.revision);
    return res;
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    const w = await this.conn.unary('KV', 'Txn', txnToWire(this.prefix, req), 'write');
    const res = txnFromWire(this.prefix, w);
    if (txnWrote(res.responses)) await this.wrote(res.header.revision);
    else this.seen(res.header.revision);
    return res;
  }

  async compact(req: CompactRequest): Promise<CompactResponse> {
    if (!this.opts.allowCompaction) throw new EngineError('COMPACTION_DISABLED');
    const w = await this.conn.unary(
      'KV',
      'Compact',
      // Always physical: etcd removes compacted revisions from its backend in the background otherwise, and a
      // watcher starting at the compact revision could still replay a tombstone the contract says is gone.
      { revision: String(req.revision), physical: true },
      'write',
    );
    const revision = this.seenHeader(w.header as WireHeader);
    if (req.revision > this.compactKnown) this.compactKnown = req.revision;
    // Paused local watchers that compaction overtook get their cancel before the caller goes on (as embedded).
    this.fanout.compacted(req.revision);
    return { header: { revision } };
  }

  leaseGrant(req: { ttl: number; id: LeaseId }): Promise<LeaseGrantResponse> {
    return this.leases.grant(req);
  }

  leaseRevoke(id: LeaseId): Promise<LeaseRevokeResponse> {
    return this.leases.revoke(id);
  }

  leaseKeepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse> {
    return this.leases.keepAlive(id);
  }

  leaseTimeToLive(id: LeaseId, keys: boolean): Promise<LeaseTimeToLiveResponse> {
    return this.leases.timeToLive(id, keys);
  }

  leaseLeases(): Promise<LeaseLeasesResponse> {
    return this.leases.leases();
  }

  /** A linearizable read of a key that cannot exist (the bare prefix): its header is the current revision. */
  async currentRevision(): Promise<number> {
    const w = await this.conn.unary('KV', 'Range', { key: this.prefix.probe, count_only: true }, 'read');
    return this.seenHeader(w.header as WireHeader);
  }

  /**
   * The compaction revision. etcd 3.4 reports it nowhere but in errors, so it is found by serializable reads of
   * the bare prefix at chosen revisions: a read below the compaction revision fails COMPACTED.
   */
  private async compactRevision(current: number): Promise<number> {
    const readable = async (rev: number): Promise<boolean> => {
      try {
        await this.conn.unary(
          'KV',
          'Range',
          { key: this.prefix.probe, count_only: true, serializable: true, revision: String(rev) },
          'read',
        );
        return true;
      } catch (err) {
        if (isEngineError(err) && err.code === 'COMPACTED') return false;
        throw err;
      }
    };
    let lo = Math.max(this.compactKnown, 1);
    if (await readable(lo)) return this.compactKnown;
    // Smallest readable revision in (lo, current].
    let hi = current;
    while (lo + 1 < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (await readable(mid)) hi = mid;
      else lo = mid;
    }
    this.compactKnown = Math.max(this.compactKnown, hi);
    return hi;
  }

  async status(): Promise<StatusResponse> {
    const counted = await this.conn.unary('KV', 'Range', { ...this.prefix.all(), count_only: true }, 'read');
    const revision = this.seenHeader(counted.header as WireHeader);
    const [member, compactRevision] = await Promise.all([
      this.conn.unary('Maintenance', 'Status', {}, 'read'),
      this.compactRevision(revision),
    ]);
    return {
      header: { revision },
      compactRevision,
      dbSize: Number(member.dbSize ?? 0),
      dbSizeInUse: Number(member.dbSizeInUse ?? 0) || Number(member.dbSize ?? 0),
      keys: Number(counted.count ?? 0),
    };
  }

  health(): EngineHealth {
    if (this.unhealthy !== undefined) return { ready: false, reason: this.unhealthy };
    return this.conn.connectivity();
  }

  private async checkHealth(): Promise<void> {
    if (this.closed) return;
    try {
      await this.conn.unary(
        'KV',
        'Range',
        { key: this.prefix.probe, count_only: true },
        'read',
        Math.min(this.opts.requestTimeout, HEALTH_INTERVAL_MS * 2),
      );
      this.unhealthy = undefined;
    } catch (err) {
      this.unhealthy = err instanceof Error ? err.message : String(err);
    }
  }

  /** (time, revision) samples for time-based retention: the cluster keeps no revision timestamps. */
  private readonly samples: Array<{ at: number; rev: number }> = [];

  /**
   * Auto-compaction by revision count and/or age (etcd's `revision` and `periodic` modes), only when the component
   * allows compacting the cluster. Any sidecar may run it; a lost race is harmless.
   */
  private async autoCompact(): Promise<void> {
    if (this.closed) return;
    try {
      const cur = await this.currentRevision();
      const now = Date.now();
      this.samples.push({ at: now, rev: cur });
      const targets: number[] = [];
      if (this.opts.retentionRevisions > 0) targets.push(cur - this.opts.retentionRevisions);
      if (this.opts.retentionMs > 0) {
        // The newest revision known to be at least retentionMs old (0 until one is).
        let old = 0;
        while (this.samples.length > 0 && this.samples[0]!.at <= now - this.opts.retentionMs) {
          old = this.samples.shift()!.rev;
        }
        if (old > 0) this.samples.unshift({ at: now - this.opts.retentionMs, rev: old });
        targets.push(old);
      } else {
        this.samples.length = 0;
      }
      const target = Math.min(...targets);
      if (target > 1 && target > this.compactKnown) await this.compact({ revision: target });
    } catch (err) {
      // COMPACTED: another sidecar got there first; UNAVAILABLE: next tick.
      if (!isEngineError(err)) throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.feed.close();
    this.leases.close();
    this.conn.close();
  }
}

/**
 * Create an engine on an etcd cluster. Options are validated (zod) first; a bad option rejects with
 * INVALID_ARGUMENT. Unlike the Redis backend, start-up needs the cluster: it rejects with UNAVAILABLE when no
 * endpoint answers within `dialTimeout` (bad TLS material fails the same way, with the handshake's reason).
 */
export async function createEtcdEngine(input: EtcdEngineOptionsInput): Promise<Engine> {
  const opts = parseEngineOptions(etcdEngineOptionsSchema, input, 'etcd');
  const tls = opts.tlsEnable ? { ca: opts.ca!, cert: opts.cert!, key: opts.key! } : undefined;
  let conn: EtcdConnection;
  try {
    conn = new EtcdConnection(opts.endpoints, tls, opts.requestTimeout);
  } catch (err) {
    // grpc-js checks the PEM material when the credentials are built.
    throw new EngineError('INVALID_ARGUMENT', `invalid TLS material: ${(err as Error).message}`);
  }
  const backend = new EtcdBackend(opts, conn);
  try {
    await backend.start();
  } catch (err) {
    await backend.close();
    throw err;
  }
  return new EngineShell(backend, opts);
}
