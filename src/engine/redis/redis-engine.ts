import Redis from 'ioredis';
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
} from '../contract';
import { EngineError, isEngineError } from '../errors';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from '../validate';
import { BlobTable, decodeKvs } from './codec';
import { storeKeys } from './key-layout';
import { ioredisOptions, ScriptRunner, toEngineError } from './redis-connection';
import { RedisLeases } from './redis-leases';
import {
  redisEngineOptionsSchema,
  storePrefixOf,
  type RedisEngineOptions,
  type RedisEngineOptionsInput,
} from './redis-options';
import { RedisWatchHub } from './redis-watch';
import { finishRange } from './range-results';
import { decodeTxn, rangeProgram, txnProgram } from './txn-program';

/**
 * The engine contract on Redis. Any number of engine instances (sidecars) on one Redis and one store prefix share
 * one revision space, one history and one set of leases: every write is one Lua script (`lua-scripts.ts`), reads
 * that need a consistent view are scripts too, and watchers follow the shared revision log (`redis-watch.ts`).
 */
class RedisEngine implements Engine {
  readonly backend = 'redis';
  /** Highest revision seen in any answer of this instance. */
  private known = 0;
  private closed = false;
  private lastError: string | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private compacting = false;
  private readonly runner: ScriptRunner;
  private readonly hub: RedisWatchHub;
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
    this.hub = new RedisWatchHub({
      runner: this.runner,
      knownRevision: () => this.known,
      onStoreReset: (rev) => (this.known = rev),
      maxWatchResponseBytes: opts.maxWatchResponseBytes,
      progressNotifyIntervalMs: opts.progressNotifyIntervalMs,
      pollIntervalMs: opts.watchPollIntervalMs,
      notifyWaitMs: opts.watchNotifyWaitMs,
    });
    this.leases = new RedisLeases(this.runner, opts.minLeaseTtl, (rev, wrote) => this.observed(rev, wrote));
    client.on('error', (err: Error) => (this.lastError = err.message));
    client.on('ready', () => {
      this.lastError = undefined;
      this.hub.onReconnected();
    });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => this.hub.onPublished(Number(message)));
    subscriber.on('ready', () => this.hub.onReconnected());
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
      await this.hub.init();
      this.known = Math.max(this.known, this.hub.revision);
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
    if (wrote) await this.hub.waitFor(rev);
  }

  private checkOpen(): void {
    if (this.closed) throw new EngineError('STOPPED');
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    this.checkOpen();
    checkRange(req);
    const blobs = new BlobTable();
    const ans = await this.runner.run('range', rangeProgram(req, blobs), blobs.blobs);
    const revision = ans.meta.rev as number;
    await this.observed(revision, false);
    return finishRange(req, decodeKvs(ans, ans.meta.kv), ans.meta.n as number, revision);
  }

  private async runTxn(req: TxnRequest): Promise<TxnResponse> {
    const blobs = new BlobTable();
    const ans = await this.runner.run('txn', txnProgram(req, blobs), blobs.blobs);
    const res = decodeTxn(req, ans);
    await this.observed(res.header.revision, true);
    return res;
  }

  async put(req: PutRequest): Promise<PutResponse> {
    this.checkOpen();
    checkPut(req);
    const res = await this.runTxn({ success: [{ put: req }] });
    return res.responses[0]!.put!;
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    this.checkOpen();
    checkDeleteRange(req);
    const res = await this.runTxn({ success: [{ deleteRange: req }] });
    const d = res.responses[0]!.deleteRange!;
    return { ...d, header: res.header };
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    this.checkOpen();
    checkTxn(req, this.opts.maxTxnOps);
    return this.runTxn(req);
  }

  async compact(req: CompactRequest): Promise<CompactResponse> {
    this.checkOpen();
    if (typeof req !== 'object' || req === null || !Number.isSafeInteger(req.revision) || req.revision < 0) {
      throw new EngineError(
        'INVALID_ARGUMENT',
        'etcdserver: invalid argument: revision must be a non-negative integer',
      );
    }
    // The script removes the history before it answers, so `physical` needs no extra wait.
    const ans = await this.runner.run('compact', { rev: req.revision });
    const revision = ans.meta.rev as number;
    await this.observed(revision, false);
    // Let local watchers that compaction overtook get their cancel before the caller goes on (as embedded).
    await this.hub.settle();
    return { header: { revision } };
  }

  watch(req: WatchRequest, sink: WatchSink): Watcher {
    this.checkOpen();
    return this.hub.watch(req, sink);
  }

  async leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    this.checkOpen();
    return this.leases.grant(req);
  }

  async leaseRevoke(id: LeaseId): Promise<LeaseRevokeResponse> {
    this.checkOpen();
    return this.leases.revoke(id);
  }

  async leaseKeepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse> {
    this.checkOpen();
    return this.leases.keepAlive(id);
  }

  async leaseTimeToLive(id: LeaseId, keys?: boolean): Promise<LeaseTimeToLiveResponse> {
    this.checkOpen();
    return this.leases.timeToLive(id, keys);
  }

  async leaseLeases(): Promise<LeaseLeasesResponse> {
    this.checkOpen();
    return this.leases.leases();
  }

  async status(): Promise<StatusResponse> {
    this.checkOpen();
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
    if (this.closed) return { ready: false, reason: 'engine closed' };
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
    if (this.closed) return;
    this.closed = true;
    this.leases.stop();
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.hub.close();
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
  const parsed = redisEngineOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new EngineError('INVALID_ARGUMENT', `invalid redis engine options: ${msg}`);
  }
  const opts = parsed.data;
  const client = new Redis(ioredisOptions(opts, 'main'));
  const subscriber = new Redis(ioredisOptions(opts, 'subscriber'));
  const engine = new RedisEngine(opts, client, subscriber);
  await engine.start();
  return engine;
}
