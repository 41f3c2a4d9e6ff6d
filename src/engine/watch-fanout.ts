import type { WatchEvent, WatchMessage, WatchRequest, WatchSink, Watcher } from './contract';
import { ENGINE_ERRORS } from './errors';
import { inInterval, type KeyInterval } from './key-range';
import type { ChangeCodec, FeedDemand, FeedRevision, HistoryResult, WatchSource } from './watch-feed';
import { fragmentEvents } from './watch-fragments';

/** Options of the fan-out (the engine options of the same names, see `options.ts`). */
export interface WatchFanoutOptions {
  progressNotifyIntervalMs: number;
  maxWatchResponseBytes: number;
}

/** etcd packs at most this many revisions into one history-replay response (`watchBatchMaxRevs`). */
const MAX_REPLAY_REVS = 1000;
/** Delay before a failed history read (backend unreachable) is tried again. */
const RETRY_MS = 200;

const enum State {
  /** Receiving live events as revisions are published. */
  Synced,
  /** Catching up from history. */
  Unsynced,
  /** The sink said it is full; waiting for resume(). */
  Paused,
  Canceled,
}

/** One watcher's state (etcd `watcher` in `watchable_store.go`). */
/** What the fan-out reads of a watch request once the watcher exists: its options, not its key range. */
type WatchFlags = Pick<WatchRequest, 'prevKv' | 'noPut' | 'noDelete' | 'fragment' | 'progressNotify'>;

const sharedFlags = new Map<number, WatchFlags>();

/**
 * The options of `req` as one of at most 32 shared frozen objects: a watcher keeps no request object (nor the key
 * buffers it points to) of its own.
 */
function flagsOf(req: WatchRequest): WatchFlags {
  const bits =
    (req.prevKv ? 1 : 0) |
    (req.noPut ? 2 : 0) |
    (req.noDelete ? 4 : 0) |
    (req.fragment ? 8 : 0) |
    (req.progressNotify ? 16 : 0);
  let flags = sharedFlags.get(bits);
  if (flags === undefined) {
    flags = Object.freeze({
      prevKv: Boolean(req.prevKv),
      noPut: Boolean(req.noPut),
      noDelete: Boolean(req.noDelete),
      fragment: Boolean(req.fragment),
      progressNotify: Boolean(req.progressNotify),
    });
    sharedFlags.set(bits, flags);
  }
  return flags;
}

/** The empty backlog, shared: a watcher costs no array of its own until the sink pushes back. */
const NO_BACKLOG: readonly WatchMessage[] = Object.freeze([]);

/**
 * Watchers of one exact key: the watcher itself while it is the only one (the usual case, and a Set per key would
 * cost more than the watcher), a Set once there are more.
 */
type KeyWatchers = FanoutWatcher | Set<FanoutWatcher>;

function eachOf(k: KeyWatchers): Iterable<FanoutWatcher> {
  return k instanceof Set ? k : [k];
}

class FanoutWatcher implements Watcher {
  state = State.Unsynced;
  /** Next revision this watcher has to receive; 0 while the fan-out does not know the current revision yet. */
  nextRev = 0;
  /** Whether any message went out since the last progress tick. */
  busy = false;
  /** Fragments of a response still to send after the sink pushed back in the middle of it. */
  backlog: readonly WatchMessage[] = NO_BACKLOG;
  /** The history read in flight, if any. */
  reading: AbortController | undefined;

  constructor(
    readonly id: number,
    readonly iv: KeyInterval,
    readonly req: WatchFlags,
    readonly sink: WatchSink,
    private readonly fanout: WatchFanout<unknown>,
  ) {}

  get synced(): boolean {
    return this.state === State.Synced;
  }

  resume(): void {
    this.fanout.resumeWatcher(this);
  }

  cancel(): void {
    this.fanout.removeWatcher(this);
  }
}

function isPromise<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/**
 * The watch fan-out every backend uses, etcd's synced / unsynced model (`watchable_store.go`): synced watchers get
 * one message per published revision as it commits; new watchers with a past start revision, and watchers whose
 * sink pushed back, catch up from the backend's history on later turns of the event loop and then rejoin the synced
 * set. A slow watcher therefore never blocks a writer or another watcher; if compaction overtakes its position it is
 * canceled with the compact revision.
 *
 * A sink that throws breaks the contract ("a sink must never throw"): its watcher is detached at once, so one faulty
 * consumer cannot stop delivery to the others or fail the write being published.
 */
export class WatchFanout<C> {
  private nextId = 1;
  /** Synced watchers on a single key, by key: a change reaches only the watchers of its own key... */
  private readonly byKey = new Map<string, KeyWatchers>();
  /** ...plus the synced range watchers. */
  private readonly ranged = new Set<FanoutWatcher>();
  private readonly unsynced = new Set<FanoutWatcher>();
  private readonly paused = new Set<FanoutWatcher>();
  private readonly progressWatchers = new Set<FanoutWatcher>();
  /** Synced watchers, and how many of them want previous versions (for {@link FeedDemand}). */
  private syncedCount = 0;
  private syncedPrevKv = 0;
  private lastDemand: FeedDemand = { watchers: 0, live: 0, prevKv: false };
  /** Every change up to this revision has been offered to the synced watchers; 0 = not known yet. */
  private published = 0;
  /** Revisions published while a publish was being delivered (a sink wrote): delivered right after it, in order. */
  private readonly queue: FeedRevision<C>[] = [];
  private publishing = false;
  private syncScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;
  private waiters: Array<{ rev: number; resolve: () => void }> = [];

  constructor(
    private readonly source: WatchSource<C>,
    private readonly opts: WatchFanoutOptions,
  ) {
    this.ticker = setInterval(() => this.progressTick(), opts.progressNotifyIntervalMs);
    this.ticker.unref();
  }

  /** The revision up to which every change has been offered to the synced watchers (0 = not known yet). */
  get publishedRevision(): number {
    return this.published;
  }

  /** Number of live watchers (synced, catching up or paused). */
  get size(): number {
    return this.syncedCount + this.unsynced.size + this.paused.size;
  }

  /** Whether any watcher is registered: a backend may skip building revisions for {@link publish} when not. */
  get watching(): boolean {
    return this.size > 0;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Watchers

  /** Register a watcher (its request already validated into `iv`). Never calls the sink synchronously. */
  watch(req: WatchRequest, iv: KeyInterval, sink: WatchSink): Watcher {
    const w = new FanoutWatcher(this.nextId++, iv, flagsOf(req), sink, this as WatchFanout<unknown>);
    if (req.progressNotify) this.progressWatchers.add(w);
    const start = req.startRevision ?? 0;
    if (this.closed) {
      // Canceled on the next turn, so the caller can still announce the watcher first.
      this.unsynced.add(w);
      this.scheduleSync();
    } else if (start === 0) {
      const now = Math.max(this.published, this.source.knownRevision());
      w.nextRev = now === 0 ? 0 : now + 1;
      this.addSynced(w);
    } else if (this.published > 0 && start > this.published) {
      w.nextRev = start;
      this.addSynced(w);
    } else {
      w.nextRev = start;
      this.unsynced.add(w);
      this.scheduleSync();
    }
    this.demandChanged();
    return w;
  }

  private addSynced(w: FanoutWatcher): void {
    w.state = State.Synced;
    this.syncedCount++;
    if (w.req.prevKv) this.syncedPrevKv++;
    if (w.iv.end === undefined) {
      const cur = this.byKey.get(w.iv.start);
      if (cur === undefined) this.byKey.set(w.iv.start, w);
      else if (cur instanceof Set) cur.add(w);
      else this.byKey.set(w.iv.start, new Set([cur, w]));
    } else {
      this.ranged.add(w);
    }
  }

  private removeSynced(w: FanoutWatcher): void {
    this.syncedCount--;
    if (w.req.prevKv) this.syncedPrevKv--;
    if (w.iv.end === undefined) {
      const cur = this.byKey.get(w.iv.start);
      if (cur === w) this.byKey.delete(w.iv.start);
      else if (cur instanceof Set) {
        cur.delete(w);
        if (cur.size === 0) this.byKey.delete(w.iv.start);
      }
    } else {
      this.ranged.delete(w);
    }
  }

  /** Take a watcher out of whichever set holds it (and stop its history read). */
  private detach(w: FanoutWatcher): void {
    if (w.state === State.Synced) this.removeSynced(w);
    else if (w.state === State.Unsynced) this.unsynced.delete(w);
    else if (w.state === State.Paused) this.paused.delete(w);
    if (w.reading) {
      w.reading.abort();
      w.reading = undefined;
    }
  }

  /** Detach a watcher for good (its `cancel()`). */
  removeWatcher(w: FanoutWatcher): void {
    if (w.state === State.Canceled) return;
    this.detach(w);
    this.progressWatchers.delete(w);
    w.state = State.Canceled;
    w.backlog = NO_BACKLOG;
    this.demandChanged();
  }

  /** The watcher's `resume()`: catch up from history, then go live again. */
  resumeWatcher(w: FanoutWatcher): void {
    if (w.state !== State.Paused) return;
    this.paused.delete(w);
    w.state = State.Unsynced;
    this.unsynced.add(w);
    this.scheduleSync();
    this.demandChanged();
  }

  private pause(w: FanoutWatcher): void {
    this.detach(w);
    w.state = State.Paused;
    this.paused.add(w);
    this.demandChanged();
  }

  /** A synced watcher that needs revisions the live path cannot give it: catch it up from history. */
  private unsync(w: FanoutWatcher): void {
    this.removeSynced(w);
    w.state = State.Unsynced;
    this.unsynced.add(w);
    this.scheduleSync();
    this.demandChanged();
  }

  private demandChanged(): void {
    if (this.source.demand === undefined) return;
    const d: FeedDemand = { watchers: this.size, live: this.syncedCount, prevKv: this.syncedPrevKv > 0 };
    const last = this.lastDemand;
    if (d.watchers === last.watchers && d.live === last.live && d.prevKv === last.prevKv) return;
    this.lastDemand = d;
    this.source.demand(d);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Delivery

  /**
   * Deliver; a false return from the sink pauses the watcher (its `nextRev` already past the message). Returns
   * whether delivery to this watcher may go on, which is also false when it was canceled from inside the call.
   */
  private send(w: FanoutWatcher, msg: WatchMessage): boolean {
    w.busy = true;
    let ok: boolean;
    try {
      ok = w.sink(msg);
    } catch {
      this.removeWatcher(w);
      return false;
    }
    if (w.state === State.Canceled) return false;
    if (!ok) this.pause(w);
    return ok;
  }

  /** Send messages in order; on push-back keep the unsent rest in the watcher's backlog. */
  private sendAll(w: FanoutWatcher, msgs: readonly WatchMessage[]): boolean {
    for (let i = 0; i < msgs.length; i++) {
      if (!this.send(w, msgs[i])) {
        if (w.state !== State.Canceled) w.backlog = msgs.slice(i + 1);
        return false;
      }
    }
    return true;
  }

  /** Send events as one message, or as fragments when the watcher asked for them and the message is large. */
  private deliver(w: FanoutWatcher, events: WatchEvent[], revision: number): boolean {
    if (w.req.fragment && events.length > 1) {
      const pieces = fragmentEvents(events, this.opts.maxWatchResponseBytes);
      if (pieces.length > 1) {
        return this.sendAll(
          w,
          pieces.map((p, i) => ({ type: 'events', revision, events: p, fragment: i < pieces.length - 1 })),
        );
      }
    }
    return this.send(w, { type: 'events', revision, events, fragment: false });
  }

  private cancelWith(w: FanoutWatcher, reason: string, compactRevision: number): void {
    if (w.state === State.Canceled) return;
    this.removeWatcher(w);
    try {
      w.sink({ type: 'canceled', revision: this.published, reason, compactRevision });
    } catch {
      // Already detached; nothing more to tell it.
    }
  }

  private cancelCompacted(w: FanoutWatcher, compactRevision: number): void {
    this.cancelWith(w, ENGINE_ERRORS.WATCH_COMPACTED.message, compactRevision);
  }

  // -------------------------------------------------------------------------------------------------------------
  // What the backend tells the fan-out

  /**
   * A revision was committed: offer its changes to the synced watchers that match. Revisions come in order; between
   * the previously published revision and this one the backend's keys did not change.
   */
  publish(rev: FeedRevision<C>): void {
    if (this.closed || rev.revision <= this.published) return;
    if (this.publishing) {
      // A sink wrote while receiving: its revision goes out after the one being delivered, to everybody.
      this.queue.push(rev);
      return;
    }
    this.publishing = true;
    try {
      this.deliverLive(rev);
      while (this.queue.length > 0) this.deliverLive(this.queue.shift()!);
    } finally {
      this.publishing = false;
    }
    this.releaseWaiters();
  }

  private deliverLive(rev: FeedRevision<C>): void {
    if (rev.revision <= this.published) return;
    this.positionKnown(rev.revision - 1);
    this.published = rev.revision;
    if (this.syncedCount === 0) return;
    const codec = this.source.codec;
    const cache = new EventCache(codec);
    const n = rev.revision;
    if (rev.changes.length === 1) {
      const c = rev.changes[0];
      const key = codec.key(c);
      const targets: FanoutWatcher[] = [];
      const keyed = this.byKey.get(key);
      if (keyed !== undefined) for (const w of eachOf(keyed)) targets.push(w);
      for (const w of this.ranged) if (inInterval(w.iv, key)) targets.push(w);
      for (const w of targets) {
        if (!this.takes(w, rev)) continue;
        const ev = cache.event(c, w.req);
        if (ev !== null) this.deliver(w, [ev], n);
      }
      return;
    }
    const perWatcher = new Map<FanoutWatcher, WatchEvent[]>();
    for (const c of rev.changes) {
      const key = codec.key(c);
      const keyed = this.byKey.get(key);
      if (keyed !== undefined) for (const w of eachOf(keyed)) collect(perWatcher, w, c, cache);
      for (const w of this.ranged) if (inInterval(w.iv, key)) collect(perWatcher, w, c, cache);
    }
    for (const [w, events] of perWatcher) {
      if (!this.takes(w, rev)) continue;
      if (events.length > 0) this.deliver(w, events, n);
    }
  }

  /** Whether a matching synced watcher takes this revision live (and moves its position past it). */
  private takes(w: FanoutWatcher, rev: FeedRevision<C>): boolean {
    if (w.state !== State.Synced || rev.revision < w.nextRev) return false;
    if (w.req.prevKv && !rev.prevKv) {
      // Read without previous versions (the backend did not know this watcher wanted them): history has them.
      this.unsync(w);
      return false;
    }
    w.nextRev = rev.revision + 1;
    return true;
  }

  /** The backend's keys did not change after the published revision up to `rev`. */
  progress(rev: number): void {
    if (this.closed || rev <= this.published) return;
    this.positionKnown(rev);
    this.published = rev;
    this.releaseWaiters();
  }

  /**
   * Move the published revision to `rev` without delivering what lies between (the backend did not read it, e.g.
   * nobody was watching live, or it lost track): synced watchers that still need some of it catch up from history.
   */
  skipTo(rev: number): void {
    if (this.closed || rev <= this.published) return;
    this.positionKnown(rev);
    this.published = rev;
    for (const w of [...this.ranged]) if (w.nextRev <= rev) this.unsync(w);
    for (const keyed of [...this.byKey.values()])
      for (const w of [...eachOf(keyed)]) if (w.nextRev <= rev) this.unsync(w);
    this.releaseWaiters();
    this.demandChanged();
  }

  /** The first time the current revision becomes known, watchers that started "now" before that start after it. */
  private positionKnown(rev: number): void {
    if (this.published > 0) return;
    for (const w of this.ranged) if (w.nextRev === 0) w.nextRev = rev + 1;
    for (const keyed of this.byKey.values())
      for (const w of eachOf(keyed)) if (w.nextRev === 0) w.nextRev = rev + 1;
    if (this.unsynced.size > 0) this.scheduleSync();
  }

  /**
   * Compaction reached `rev`: paused watchers that can no longer catch up are canceled now; watchers catching up
   * find out on their next history read.
   */
  compacted(rev: number): void {
    for (const w of [...this.paused]) if (w.nextRev < rev) this.cancelCompacted(w, rev);
    if (this.unsynced.size > 0) this.scheduleSync();
  }

  /** The store went back to revision `rev` (its data was lost): no watcher can go on gap-free. */
  reset(rev: number): void {
    for (const w of this.all()) this.cancelWith(w, ENGINE_ERRORS.STORE_RESET.message, 0);
    this.published = rev;
    this.releaseWaiters(true);
  }

  /**
   * Resolve once revision `rev` has been offered to the synced watchers, so a writer can answer after its own
   * watchers saw the write (as the embedded engine does by construction). At once when nobody watches; at most
   * `maxWaitMs` otherwise.
   */
  whenPublished(rev: number, maxWaitMs: number): Promise<void> {
    if (this.closed || rev <= this.published || this.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, maxWaitMs);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push({ rev, resolve: done });
    });
  }

  private releaseWaiters(all = false): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const x of this.waiters) {
      if (all || x.rev <= this.published) x.resolve();
      else keep.push(x);
    }
    this.waiters = keep;
  }

  /** End every watcher with a cancel (shutdown). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const w of this.all()) this.cancelWith(w, ENGINE_ERRORS.STOPPED.message, 0);
    this.releaseWaiters(true);
  }

  private all(): FanoutWatcher[] {
    const all: FanoutWatcher[] = [...this.ranged, ...this.unsynced, ...this.paused];
    for (const s of this.byKey.values()) all.push(...eachOf(s));
    return all;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Catch-up

  private scheduleSync(): void {
    if (this.syncScheduled) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      this.syncRound();
    });
  }

  /** One round of catching up (etcd `syncWatchers`): every unsynced watcher without a read in flight moves once. */
  private syncRound(): void {
    let again = false;
    for (const w of [...this.unsynced]) {
      if (w.state === State.Unsynced && w.reading === undefined && this.syncOne(w)) again = true;
    }
    if (again) this.scheduleSync();
  }

  /** Move one watcher forward; true when it needs another round soon. */
  private syncOne(w: FanoutWatcher): boolean {
    if (this.closed) {
      this.cancelWith(w, ENGINE_ERRORS.STOPPED.message, 0);
      return false;
    }
    if (w.backlog.length > 0) {
      const backlog = w.backlog;
      w.backlog = NO_BACKLOG;
      if (!this.sendAll(w, backlog)) return false;
    }
    // Until the backend knows its current revision, nobody can tell what "caught up" means.
    if (this.published === 0) return false;
    if (w.nextRev > this.published) {
      this.unsynced.delete(w);
      this.addSynced(w);
      this.demandChanged();
      return false;
    }
    const to = this.published;
    const reading = new AbortController();
    let result: HistoryResult<C> | Promise<HistoryResult<C>>;
    try {
      result = this.source.readHistory({
        from: w.nextRev,
        to,
        prevKv: Boolean(w.req.prevKv),
        signal: reading.signal,
      });
    } catch {
      this.retryLater();
      return false;
    }
    if (!isPromise(result)) return this.applyHistory(w, result, to);
    w.reading = reading;
    result.then(
      (res) => {
        if (w.reading !== reading) return;
        w.reading = undefined;
        if (w.state === State.Unsynced && this.applyHistory(w, res, to)) this.scheduleSync();
      },
      () => {
        if (w.reading !== reading) return;
        w.reading = undefined;
        this.retryLater();
      },
    );
    return false;
  }

  private retryLater(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.scheduleSync();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  /**
   * Deliver a history read to a catching-up watcher: its matching events packed into messages of at most
   * MAX_REPLAY_REVS revisions, a revision never split (but for fragments), each message's revision the published
   * revision when the read started (etcd's replay header). True when the watcher needs another round.
   */
  private applyHistory(w: FanoutWatcher, res: HistoryResult<C>, to: number): boolean {
    if (res.revisions === undefined) {
      this.cancelCompacted(w, res.compactRevision);
      return false;
    }
    const header = Math.max(to, res.upto);
    let batch: WatchEvent[] = [];
    let revs = 0;
    const codec = this.source.codec;
    for (const rev of res.revisions) {
      if (rev.revision < w.nextRev) continue;
      const before = batch.length;
      for (const c of rev.changes) {
        if (!inInterval(w.iv, codec.key(c))) continue;
        const ev = eventFor(codec, c, w.req);
        if (ev !== null) batch.push(ev);
      }
      if (batch.length === before) continue;
      if (revs === MAX_REPLAY_REVS) {
        const next = batch.splice(before);
        w.nextRev = rev.revision;
        if (!this.deliver(w, batch, header)) return false;
        batch = next;
        revs = 0;
      }
      revs++;
    }
    w.nextRev = Math.max(w.nextRev, res.upto + 1);
    if (batch.length > 0 && !this.deliver(w, batch, header)) return false;
    if (w.state !== State.Unsynced) return false;
    if (w.nextRev > this.published) {
      this.unsynced.delete(w);
      this.addSynced(w);
      this.demandChanged();
      return false;
    }
    // Written meanwhile (possibly by this watcher's own sink): keep catching up before going live.
    return true;
  }

  /** Periodic progress notification for idle synced watchers that asked for it. */
  private progressTick(): void {
    for (const w of this.progressWatchers) {
      if (w.state === State.Synced && !w.busy && this.published > 0) {
        this.send(w, { type: 'progress', revision: this.published });
      }
      w.busy = false;
    }
  }
}

/** The event a watcher gets for a change, or null when its filters drop it. */
function eventFor<C>(codec: ChangeCodec<C>, c: C, req: WatchFlags): WatchEvent | null {
  if (codec.isDelete(c) ? req.noDelete : req.noPut) return null;
  return codec.event(c, Boolean(req.prevKv));
}

function collect<C>(
  map: Map<FanoutWatcher, WatchEvent[]>,
  w: FanoutWatcher,
  c: C,
  cache: EventCache<C>,
): void {
  let list = map.get(w);
  if (list === undefined) map.set(w, (list = []));
  const ev = cache.event(c, w.req);
  if (ev !== null) list.push(ev);
}

/** Builds each change's event once per published revision, shared by every watcher that receives it. */
class EventCache<C> {
  private readonly plain = new Map<C, WatchEvent>();
  private readonly withPrev = new Map<C, WatchEvent>();

  constructor(private readonly codec: ChangeCodec<C>) {}

  event(c: C, req: WatchFlags): WatchEvent | null {
    if (this.codec.isDelete(c) ? req.noDelete : req.noPut) return null;
    const cache = req.prevKv ? this.withPrev : this.plain;
    let ev = cache.get(c);
    if (ev === undefined) {
      ev = this.codec.event(c, Boolean(req.prevKv));
      cache.set(c, ev);
    }
    return ev;
  }
}
