import type { KeyValue, WatchEvent } from '../contract';
import type { WatchFanout } from '../watch-fanout';
import type { FeedDemand, FeedRevision, HistoryRequest, HistoryResult } from '../watch-feed';
import { decodeRecord, list, type ScriptAnswer } from './codec';
import type { ScriptRunner } from './redis-connection';

/**
 * The Redis backend's side of watching: the revision log in Redis is the single source of truth. The feed reads
 * every revision the fan-out has not been offered yet (in order, from the log) and publishes it; pub/sub messages
 * and a periodic poll only wake it up, so a lost message, a reconnect or a Redis restart can delay events but never
 * drop or duplicate them. It also answers the fan-out's history reads from the same log. Everything about watchers
 * themselves is the shared fan-out's.
 */

/** Revisions read per log call, as etcd's `watchBatchMaxRevs`. */
const BATCH_REVS = 1000;
/** A log read stops after the revision that brings its reply past this size (big values). */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Retry delay of the pump after a failed Redis call (the poll also retries). */
const RETRY_MS = 200;
const EMPTY = Buffer.alloc(0);
/** A `from` above any revision: the log read then only reports the current and compacted revisions. */
const PROBE_FROM = 2 ** 52;

/** What the feed needs from its engine. */
export interface RedisLogFeedDeps {
  runner: ScriptRunner;
  /** The store went back in time (Redis lost its data): forget revisions seen before. */
  onStoreReset(revision: number): void;
  pollIntervalMs: number;
}

/** The live side of one engine instance's watching on Redis. */
export class RedisLogFeed {
  private fanout: WatchFanout<WatchEvent> | undefined;
  private demand: FeedDemand = { watchers: 0, live: 0, prevKv: false };
  private running = false;
  private again = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly pollTimer: NodeJS.Timeout;

  constructor(private readonly deps: RedisLogFeedDeps) {
    this.pollTimer = setInterval(() => {
      if (this.demand.watchers > 0) this.kick();
    }, deps.pollIntervalMs);
    this.pollTimer.unref();
  }

  /** Attach the fan-out this feed publishes to (once, right after both exist). */
  attach(fanout: WatchFanout<WatchEvent>): void {
    this.fanout = fanout;
  }

  /** The fan-out's needs changed: start reading as soon as anybody watches. */
  setDemand(demand: FeedDemand): void {
    this.demand = demand;
    if (demand.watchers > 0) this.kick();
  }

  /** Learn the current revision (before any watcher exists, and after the store was unknown). */
  async init(): Promise<number> {
    const ans = await this.readLog(PROBE_FROM, 0, 1, false);
    const rev = ans.meta.rev as number;
    this.fanout?.skipTo(rev);
    return rev;
  }

  /** A pub/sub wake-up: revision `rev` was committed by some sidecar. */
  onPublished(rev: number): void {
    const f = this.fanout;
    if (f === undefined || rev <= f.publishedRevision) return;
    // Nobody to deliver to: just keep the position fresh for the next watcher that starts "now".
    if (this.demand.watchers === 0 && !this.running && f.publishedRevision > 0) f.skipTo(rev);
    else this.kick();
  }

  /** The connection came back, or a write needs its watchers fed: catch up on whatever is new. */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.pump();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.pollTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /** History for a catching-up watcher: at most BATCH_REVS revisions / BATCH_BYTES per read. */
  async readHistory(req: HistoryRequest): Promise<HistoryResult<WatchEvent>> {
    const ans = await this.readLog(req.from, req.to, BATCH_REVS, req.prevKv);
    if (ans.meta.compacted) return { compactRevision: ans.meta.comp as number };
    return { revisions: decodeRevisions(ans, req.prevKv), upto: ans.meta.upto as number };
  }

  private readLog(from: number, to: number, max: number, pv: boolean): Promise<ScriptAnswer> {
    return this.deps.runner.run('readLog', { from, to, max, maxBytes: BATCH_BYTES, pv });
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.step();
      } while (this.again && !this.closed);
    } catch {
      // Redis is away (or answered badly): keep the position and try again soon; the poll also retries.
      if (!this.closed && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, RETRY_MS);
        this.retryTimer.unref();
      }
    } finally {
      this.running = false;
    }
  }

  /** Publish the revisions after the fan-out's position (or, with nobody live, just move the position). */
  private async step(): Promise<void> {
    const f = this.fanout;
    if (f === undefined) return;
    if (f.publishedRevision === 0) await this.init();
    for (;;) {
      if (this.closed) return;
      const published = f.publishedRevision;
      const live = this.demand.live > 0;
      const pv = this.demand.prevKv;
      const ans = live
        ? await this.readLog(published + 1, 0, BATCH_REVS, pv)
        : await this.readLog(PROBE_FROM, 0, 1, false);
      const cur = ans.meta.rev as number;
      const comp = ans.meta.comp as number;
      if (cur < f.publishedRevision) {
        // The store went back in time (Redis lost its data): nothing can be resumed gap-free.
        f.reset(cur);
        this.deps.onStoreReset(cur);
        return;
      }
      f.compacted(comp);
      if (!live || ans.meta.compacted || f.publishedRevision !== published) {
        // Nobody live, or this instance fell behind a compaction (a long outage): move the position; synced
        // watchers that needed the skipped revisions catch up from history (and learn there what was compacted).
        f.skipTo(cur);
        return;
      }
      for (const r of decodeRevisions(ans, pv)) f.publish(r);
      const upto = ans.meta.upto as number;
      f.progress(upto);
      if (upto >= cur) return;
    }
  }
}

/** Decode the `readLog` answer into revisions with events. */
function decodeRevisions(ans: ScriptAnswer, prevKv: boolean): FeedRevision<WatchEvent>[] {
  const out: FeedRevision<WatchEvent>[] = [];
  for (const r of list<{ r: number; ev: unknown }>(ans.meta.revs)) {
    const flat = list<string | number>(r.ev);
    const events: WatchEvent[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const key = ans.blob(flat[i + 1] as number);
      const recIdx = flat[i + 2] as number;
      const prevIdx = flat[i + 3] as number;
      let kv: KeyValue;
      let type: 'PUT' | 'DELETE';
      if (flat[i] === 'P') {
        if (recIdx === 0) continue; // cannot happen: a PUT's record lives as long as its log entry
        type = 'PUT';
        kv = decodeRecord(key, ans.blob(recIdx));
      } else {
        type = 'DELETE';
        kv = { key, createRevision: 0, modRevision: r.r, version: 0, value: EMPTY, lease: 0n };
      }
      const ev: WatchEvent = { type, kv };
      if (prevIdx > 0) ev.prevKv = decodeRecord(key, ans.blob(prevIdx));
      events.push(ev);
    }
    out.push({ revision: r.r, changes: events, prevKv });
  }
  return out;
}
