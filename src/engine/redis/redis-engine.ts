import Redis from 'ioredis';
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
  StatusResponse,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../contract';
import { EngineShell, type EngineBackend } from '../engine-shell';
import { isEngineError } from '../errors';
import { parseEngineOptions } from '../options';
import { finishRange, KEY_VALUE_ROWS } from '../range-finisher';
import { WatchFanout } from '../watch-fanout';
import { WATCH_EVENT_CHANGES, type FeedDemand, type HistoryRequest, type WatchSource } from '../watch-feed';
import { BlobTable, decodeKvs } from './codec';
import { storeKeys } from './key-layout';
import { ioredisOptions, ScriptRunner, toEngineError } from './redis-connection';
import { RedisLeases } from './redis-leases';
import { RedisLogFeed } from './redis-log-feed';
import {
  redisEngineOptionsSchema,
  storePrefixOf,
  type RedisEngineOptions,
  type RedisEngineOptionsInput,
} from './redis-options';
import { decodeTxn, rangeProgram, txnProgram } from './txn-program';

/**
 * The engine contract on Redis. Any number of engine instances (sidecars) on one Redis and one store prefix share
 * one revision space, one history and one set of leases: every write is one Lua script (`lua-scripts.ts`), reads
 * that need a consistent view are scripts too, and watchers follow the shared revision log (`redis-log-feed.ts`).
 */
class RedisBackend implements EngineBackend, WatchSource<WatchEvent> {
  readonly backend = 'redis';
  readonly codec = WATCH_EVENT_CHANGES;
  readonly fanout: WatchFanout<WatchEvent>;
  /** Highest revision seen in any answer of this instance. */
  private known = 0;
  private closed = false;
  private lastError: string | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private compacting = false;
  private readonly runner: ScriptRunner;
  private readonly feed: RedisLogFeed;
  private readonly leases: RedisLeases;

  constructor(
    private readonly opts: RedisEngineOptions,
    private readonly client: Redis,
    private readonly subscriber: Redis,
  ) {
    const keys = storeKeys(storePrefixOf(opts));
    this.runner = new ScriptRunner(
      client,
      keys,
      opts.failover ? `sentinel ${opts.redisHost}` : opts.redisHost,
    );
    this.feed = new RedisLogFeed({
      runner: this.runner,
      onStoreReset: (rev) => (this.known = rev),
      pollIntervalMs: opts.watchPollIntervalMs,
    });
    this.fanout = new WatchFanout<WatchEvent>(this, opts);
    this.feed.attach(this.fanout);
    this.leases = new RedisLeases(this.runner, (rev, wrote) => this.observed(rev, wrote));
    client.on('error', (err: Error) => (this.lastError = err.message));
    client.on('ready', () => {
      this.lastError = undefined;
      this.feed.kick();
    });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => this.feed.onPublished(Number(message)));
    subscriber.on('ready', () => this.feed.kick());
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

  /** Connect (bounded by dialTimeout), subscribe, learn the revision and start the timers. */
  async start(): Promise<void> {
    const keys = storeKeys(storePrefixOf(this.opts));
    const within = <T>(p: Promise<T>): Promise<unknown> =>
      Promise.race([
        p.catch(() => undefined),
        new Promise((r) => setTimeout(r, this.opts.dialTimeout).unref()),
      ]);
    // Redis may be down at start-up: the engine still starts (not ready) and ioredis keeps reconnecting.
    await within(this.client.connect());
    await within(this.subscriber.connect());
    // Queued (the subscriber keeps an offline queue) when Redis is not there yet; re-issued after reconnects.
    const subscribed = this.subscriber.subscribe(keys.channel).catch(() => undefined);
    if (this.subscriber.status === 'ready') await within(subscribed);
    try {
      this.known = Math.max(this.known, await this.feed.init());
    } catch {
      // Learned on the first successful pump.
    }
    this.leases.startExpiry(this.opts.leaseCheckIntervalMs);
    if (this.opts.retentionRevisions > 0 || this.opts.retentionMs > 0) {
      this.compactTimer = setInterval(() => void this.autoCompact(), this.opts.compactionIntervalMs);
      this.compactTimer.unref();
    }
  }

  /** Record a revision; after a write, let local watchers see it before the caller does (as the embedded one). */
  private async observed(rev: number, wrote: boolean): Promise<void> {
    if (rev > this.known) this.known = rev;
    if (wrote && this.fanout.watching && rev > this.fanout.publishedRevision) {
      this.feed.kick();
      await this.fanout.whenPublished(rev, this.opts.watchNotifyWaitMs);
    }
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    const blobs = new BlobTable();
    const ans = await this.runner.run('range', rangeProgram(req, blobs), blobs.blobs);
    const revision = ans.meta.rev as number;
    await this.observed(revision, false);
    return finishRange(req, decodeKvs(ans, ans.meta.kv), ans.meta.n as number, revision, KEY_VALUE_ROWS);
  }

  private async runTxn(req: TxnRequest): Promise<TxnResponse> {
    const blobs = new BlobTable();
    const ans = await this.runner.run('txn', txnProgram(req, blobs), blobs.blobs);
    const res = decodeTxn(req, ans);
    await this.observed(res.header.revision, true);
    return res;
  }

  async put(req: PutRequest): Promise<PutResponse> {
    const res = await this.runTxn({ success: [{ put: req }] });
    return res.responses[0]!.put!;
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    const res = await this.runTxn({ success: [{ deleteRange: req }] });
    const d = res.responses[0]!.deleteRange!;
    return { ...d, header: res.header };
  }

  txn(req: TxnRequest): Promise<TxnResponse> {
    return this.runTxn(req);
  }

  async compact(req: CompactRequest): Promise<CompactResponse> {
    // The script removes the history before it answers, so `physical` needs no extra wait.
    const ans = await this.runner.run('compact', { rev: req.revision });
    const revision = ans.meta.rev as number;
    await this.observed(revision, false);
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

  async currentRevision(): Promise<number> {
    let rev: string | null;
    try {
      rev = await this.client.get(storeKeys(storePrefixOf(this.opts)).rev);
    } catch (err) {
      throw toEngineError(err, this.opts.redisHost);
    }
    // An absent counter is a fresh store, at revision 1 (as etcd).
    const revision = rev === null ? 1 : Number(rev);
    await this.observed(revision, false);
    return revision;
  }

  async status(): Promise<StatusResponse> {
    const ans = await this.runner.run('status', { keepMs: 0 });
    let info = '';
    try {
      info = await this.client.info('memory');
    } catch (err) {
      throw toEngineError(err, this.opts.redisHost);
    }
    const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    const revision = ans.meta.rev as number;
    await this.observed(revision, false);
    return {
      header: { revision },
      compactRevision: Math.max(ans.meta.comp as number, 0),
      dbSize: field('used_memory'),
      dbSizeInUse: field('used_memory_dataset') || field('used_memory'),
      keys: ans.meta.keys as number,
    };
  }

  health(): EngineHealth {
    if (this.client.status === 'ready') return { ready: true };
    const why = this.lastError ? `: ${this.lastError}` : '';
    return { ready: false, reason: `redis ${this.opts.redisHost} is ${this.client.status}${why}` };
  }

  /** Auto-compaction by revision count and/or age; any sidecar may run it, a lost race is harmless. */
  private async autoCompact(): Promise<void> {
    if (this.compacting || this.closed) return;
    this.compacting = true;
    try {
      const ans = await this.runner.run('status', { keepMs: this.opts.retentionMs });
      const cur = ans.meta.rev as number;
      const comp = ans.meta.comp as number;
      const targets: number[] = [];
      if (this.opts.retentionRevisions > 0) targets.push(cur - this.opts.retentionRevisions);
      if (this.opts.retentionMs > 0) targets.push(ans.meta.old as number);
      // Compacting to revision 1 would remove nothing.
      const target = Math.min(...targets);
      if (target > 1 && target > comp) await this.runner.run('compact', { rev: target });
    } catch (err) {
      // COMPACTED: another sidecar got there first; UNAVAILABLE: next tick.
      if (!isEngineError(err)) throw err;
    } finally {
      this.compacting = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.leases.stop();
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.feed.close();
    // QUIT lets the server close the sockets (a plain disconnect waits for a close that may never come).
    await Promise.all(
      [this.subscriber, this.client].map(async (c) => {
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
  }
}

/**
 * Create a Redis-backed engine. Options are validated (zod) first; a bad option rejects with INVALID_ARGUMENT.
 * If Redis is not reachable yet the engine is still returned, reports not ready in `health()`, fails requests
 * with UNAVAILABLE and recovers by itself once Redis answers.
 */
export async function createRedisEngine(input: RedisEngineOptionsInput = {}): Promise<Engine> {
  const opts = parseEngineOptions(redisEngineOptionsSchema, input, 'redis');
  const client = new Redis(ioredisOptions(opts, 'main'));
  const subscriber = new Redis(ioredisOptions(opts, 'subscriber'));
  const backend = new RedisBackend(opts, client, subscriber);
  await backend.start();
  return new EngineShell(backend, opts);
}
