import type { KeyValue, WatchEvent, WatchMessage, WatchRequest, WatchSink, Watcher } from '../contract';
import { decodeRecord, list, type ScriptAnswer } from './codec';
import type { ScriptRunner } from './redis-connection';
import { EngineError } from '../errors';
import { checkWatch } from '../validate';
import { fromBin } from '../key-range';

/**
 * Watch fan-out for one engine instance. The revision log in Redis is the single source of truth: the hub reads
 * every revision it has not seen yet (in order, from the log) and hands the events to its local watchers. Pub/sub
 * messages and a periodic poll only wake it up, so a lost message, a reconnect or a Redis restart can delay events
 * but never drop or duplicate them. All reading and delivering runs in one serialized loop ({@link pump}), which is
 * what makes per-watcher ordering trivial.
 */

/** Revisions read per log call (and packed per history message at most), as etcd's `watchBatchMaxRevs`. */
const BATCH_REVS = 1000;
/** A log read stops after the revision that brings its reply past this size (big values). */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Retry delay of the pump after a failed Redis call (the poll also retries). */
const RETRY_MS = 200;
const EMPTY = Buffer.alloc(0);

interface LocalWatcher {
  readonly id: number;
  readonly key: Buffer;
  /** undefined: exactly `key`; `null`: every key >= key; else the exclusive end. */
  readonly end: Buffer | null | undefined;
  readonly req: WatchRequest;
  readonly sink: WatchSink;
  /** The next revision this watcher must receive. 0 = "after the current revision", fixed once the hub knows it. */
  nextRev: number;
  /** Receiving live events from the hub (as opposed to catching up from history). */
  synced: boolean;
  /** The sink said "no more for now"; nothing is delivered until resume(). */
  paused: boolean;
  canceled: boolean;
  /** Got events since the last progress tick. */
  active: boolean;
  /** Fragments of a split response not delivered yet because the sink paused in the middle of it. */
  pending: WatchMessage[];
}

/** One revision read from the log. */
interface LogRevision {
  rev: number;
  events: WatchEvent[];
}

/** The parts of the engine the hub needs. */
export interface WatchHubDeps {
  runner: ScriptRunner;
  /** Highest revision this engine has seen in any answer (so start 0 never replays the caller's own writes). */
  knownRevision(): number;
  /** The store went back in time (Redis lost its data): forget revisions seen before. */
  onStoreReset(revision: number): void;
  maxWatchResponseBytes: number;
  progressNotifyIntervalMs: number;
  pollIntervalMs: number;
  notifyWaitMs: number;
}

function inRange(w: LocalWatcher, k: Buffer): boolean {
  if (w.end === undefined) return k.equals(w.key);
  if (Buffer.compare(k, w.key) < 0) return false;
  return w.end === null || Buffer.compare(k, w.end) < 0;
}

function eventSize(e: WatchEvent): number {
  let n = 32 + e.kv.key.length + e.kv.value.length;
  if (e.prevKv) n += 32 + e.prevKv.key.length + e.prevKv.value.length;
  return n;
}

/** The hub: one per engine instance. */
export class RedisWatchHub {
  /** Every revision <= hubRev has been handed to the synced watchers. 0 = not known yet. */
  private hubRev = 0;
  private readonly watchers = new Map<number, LocalWatcher>();
  private nextId = 1;
  private running = false;
  private again = false;
  private closed = false;
  private progressDue = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly pollTimer: NodeJS.Timeout;
  private readonly progressTimer: NodeJS.Timeout;
  private waiters: { rev: number; resolve: () => void }[] = [];
  /** Callers waiting for the next complete pump step. */
  private settlers: (() => void)[] = [];

  constructor(private readonly deps: WatchHubDeps) {
    this.pollTimer = setInterval(() => {
      if (this.watchers.size > 0) this.kick();
    }, deps.pollIntervalMs);
    this.pollTimer.unref();
    this.progressTimer = setInterval(() => {
      this.progressDue = true;
      this.kick();
    }, deps.progressNotifyIntervalMs);
    this.progressTimer.unref();
  }

  /** The revision the hub has delivered up to (0 until known). */
  get revision(): number {
    return this.hubRev;
  }

  /** Learn the current revision before any watcher exists. */
  async init(): Promise<void> {
    const ans = await this.deps.runner.run('readLog', {
      from: 2 ** 52,
      to: 0,
      max: 1,
      maxBytes: BATCH_BYTES,
      pv: false,
    });
    if (this.hubRev === 0) this.hubRev = ans.meta.rev as number;
  }

  /** A pub/sub wake-up: revision `rev` was committed by some sidecar. */
  onPublished(rev: number): void {
    if (this.watchers.size === 0 && !this.running) {
      // Nobody to deliver to: just keep the position fresh so a new "from now" watcher starts at the right place.
      if (this.hubRev > 0 && rev > this.hubRev) this.hubRev = rev;
      return;
    }
    if (rev > this.hubRev) this.kick();
  }

  /** The connection came back: catch up on whatever was missed meanwhile. */
  onReconnected(): void {
    this.kick();
  }

  /** Start a watcher (see the contract's `Engine.watch`). */
  watch(req: WatchRequest, sink: WatchSink): Watcher {
    const iv = checkWatch(req);
    if (typeof sink !== 'function') {
      throw new EngineError('INVALID_ARGUMENT', 'etcdserver: invalid argument: sink must be a function');
    }
    const key = fromBin(iv.start);
    const end = typeof iv.end === 'string' ? fromBin(iv.end) : iv.end;
    const start = req.startRevision ?? 0;
    const w: LocalWatcher = {
      id: this.nextId++,
      key,
      end,
      req,
      sink,
      nextRev: 0,
      synced: true,
      paused: false,
      canceled: false,
      active: false,
      pending: [],
    };
    if (start > 0) {
      w.nextRev = start;
      // Revisions the hub has already passed come from history; later ones arrive live.
      w.synced = this.hubRev > 0 && start > this.hubRev;
    } else if (this.hubRev > 0) {
      w.nextRev = Math.max(this.hubRev, this.deps.knownRevision()) + 1;
    }
    if (this.closed) {
      w.canceled = true;
    } else {
      this.watchers.set(w.id, w);
      // Never call the sink before watch() returns: the pump runs asynchronously.
      this.kick();
    }
    const kick = (): void => this.kick();
    const remove = (): void => void this.watchers.delete(w.id);
    return {
      id: w.id,
      get synced() {
        return w.synced && !w.paused && !w.canceled;
      },
      resume() {
        if (w.canceled || !w.paused) return;
        w.paused = false;
        w.synced = false;
        kick();
      },
      cancel() {
        w.canceled = true;
        remove();
      },
    };
  }

  /** Resolve once every local watcher has been offered revision `rev` (bounded by `notifyWaitMs`). */
  async waitFor(rev: number): Promise<void> {
    if (this.watchers.size === 0 || this.hubRev >= rev || this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.deps.notifyWaitMs);
      timer.unref();
      const waiter = { rev, resolve: done };
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(waiter);
      this.kick();
    });
  }

  /** Resolve after one complete pump step that started after this call (bounded by `notifyWaitMs`). */
  async settle(): Promise<void> {
    if (this.watchers.size === 0 || this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.deps.notifyWaitMs);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.settlers.push(done);
      this.kick();
    });
  }

  /** Cancel every watcher and stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pollTimer);
    clearInterval(this.progressTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const w of this.watchers.values()) {
      this.cancelWatcher(w, {
        type: 'canceled',
        revision: this.hubRev,
        reason: 'etcdserver: server stopped',
        compactRevision: 0,
      });
    }
    this.watchers.clear();
    this.releaseWaiters(Number.MAX_SAFE_INTEGER);
    for (const s of this.settlers.splice(0)) s();
  }

  /** Schedule the pump. */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        const settlers = this.settlers.splice(0);
        await this.step();
        for (const s of settlers) s();
      } while ((this.again || this.settlers.length > 0) && !this.closed);
    } catch {
      // Redis is away (or answered badly): keep every position and try again soon; the poll also retries.
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

  private async step(): Promise<void> {
    if (this.hubRev === 0) await this.init();
    for (const w of this.watchers.values()) {
      if (w.nextRev === 0) w.nextRev = Math.max(this.hubRev, this.deps.knownRevision()) + 1;
    }
    await this.readLive();
    await this.catchUp();
    if (this.progressDue) this.sendProgress();
  }

  /** Read the revisions after hubRev and hand them to the synced watchers. */
  private async readLive(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const live = [...this.watchers.values()].filter((w) => w.synced && !w.paused);
      if (live.length === 0) {
        // Nothing live to feed: only advance the position.
        const ans = await this.deps.runner.run('readLog', {
          from: 2 ** 52,
          to: 0,
          max: 1,
          maxBytes: BATCH_BYTES,
          pv: false,
        });
        this.cancelOvertaken(ans.meta.comp as number);
        this.advanceTo(ans.meta.rev as number);
        return;
      }
      const pv = live.some((w) => w.req.prevKv);
      const ans = await this.deps.runner.run('readLog', {
        from: this.hubRev + 1,
        to: 0,
        max: BATCH_REVS,
        maxBytes: BATCH_BYTES,
        pv,
      });
      const cur = ans.meta.rev as number;
      if (cur < this.hubRev) {
        this.storeReset(cur);
        return;
      }
      if (ans.meta.compacted) {
        // This hub fell behind a compaction (e.g. a long outage): live watchers whose position was compacted away
        // cannot be served gap-free; the others continue from history (advanceTo moves them there).
        const comp = ans.meta.comp as number;
        for (const w of live) if (w.nextRev < comp) this.cancelCompacted(w, comp);
        this.advanceTo(cur);
        return;
      }
      this.cancelOvertaken(ans.meta.comp as number);
      const revs = decodeRevisions(ans);
      for (const r of revs) {
        this.dispatchLive(r, pv);
        this.hubRev = r.rev;
      }
      const upto = ans.meta.upto as number;
      this.advanceTo(upto);
      if (upto >= cur) return;
    }
  }

  /** Paused watchers whose position compaction passed can never resume gap-free: cancel them now. */
  private cancelOvertaken(comp: number): void {
    for (const w of [...this.watchers.values()]) {
      if (w.paused && w.nextRev < comp) this.cancelCompacted(w, comp);
    }
  }

  private advanceTo(rev: number): void {
    if (rev > this.hubRev) {
      // Moving the position without dispatching: a synced watcher that joined meanwhile (while a read was in
      // flight) and still needs some of the skipped revisions gets them from history instead.
      for (const w of this.watchers.values()) {
        if (w.synced && w.nextRev > 0 && w.nextRev <= rev) w.synced = false;
      }
      this.hubRev = rev;
    }
    this.releaseWaiters(this.hubRev);
  }

  private releaseWaiters(rev: number): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.rev <= rev) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  private dispatchLive(r: LogRevision, withPrev: boolean): void {
    for (const w of this.watchers.values()) {
      if (!w.synced || w.paused || w.canceled || w.nextRev > r.rev) continue;
      if (w.req.prevKv && !withPrev) {
        // Joined while this batch (read without previous values) was in flight: let history serve it.
        w.synced = false;
        continue;
      }
      const events = this.filter(w, r.events);
      w.nextRev = r.rev + 1;
      if (events.length === 0) continue;
      if (!this.deliver(w, events, r.rev)) {
        w.paused = true;
        w.synced = false;
      }
    }
  }

  /** Bring unsynced watchers up to hubRev from the log; those that get there become synced. */
  private async catchUp(): Promise<void> {
    for (const w of [...this.watchers.values()]) {
      while (!w.synced && !w.paused && !w.canceled && !this.closed) {
        if (w.pending.length > 0) {
          if (!this.sendPending(w)) w.paused = true;
          continue;
        }
        if (w.nextRev > this.hubRev) {
          w.synced = true;
          break;
        }
        const to = this.hubRev;
        const ans = await this.deps.runner.run('readLog', {
          from: w.nextRev,
          to,
          max: BATCH_REVS,
          maxBytes: BATCH_BYTES,
          pv: Boolean(w.req.prevKv),
        });
        if (w.canceled) break;
        if (ans.meta.compacted) {
          this.cancelCompacted(w, ans.meta.comp as number);
          break;
        }
        const revs = decodeRevisions(ans);
        const events: WatchEvent[] = [];
        for (const r of revs) events.push(...this.filter(w, r.events));
        w.nextRev = (ans.meta.upto as number) + 1;
        // History replay packs several revisions; its revision is the current one (etcd eventBatch).
        if (events.length > 0 && !this.deliver(w, events, to)) w.paused = true;
      }
    }
  }

  private filter(w: LocalWatcher, events: WatchEvent[]): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (const e of events) {
      if (e.type === 'PUT' ? w.req.noPut : w.req.noDelete) continue;
      if (!inRange(w, e.kv.key)) continue;
      out.push(w.req.prevKv || !e.prevKv ? e : { type: e.type, kv: e.kv });
    }
    return out;
  }

  /** Deliver events (split into fragments when asked for and large); false when the sink wants a pause. */
  private deliver(w: LocalWatcher, events: WatchEvent[], revision: number): boolean {
    w.active = true;
    const max = this.deps.maxWatchResponseBytes;
    if (!w.req.fragment || events.length < 2 || events.reduce((n, e) => n + eventSize(e), 0) < max) {
      return this.send(w, { type: 'events', revision, events, fragment: false });
    }
    const pieces: WatchMessage[] = [];
    let cur: WatchEvent[] = [];
    let size = 0;
    for (const e of events) {
      const s = eventSize(e);
      if (cur.length > 0 && size + s > max) {
        pieces.push({ type: 'events', revision, events: cur, fragment: true });
        cur = [];
        size = 0;
      }
      cur.push(e);
      size += s;
    }
    pieces.push({ type: 'events', revision, events: cur, fragment: false });
    w.pending = pieces;
    return this.sendPending(w);
  }

  /** Send queued fragments until the sink pushes back (the rest wait for resume()); false on push-back. */
  private sendPending(w: LocalWatcher): boolean {
    while (w.pending.length > 0) {
      const m = w.pending.shift()!;
      if (!this.send(w, m)) return false;
    }
    return true;
  }

  private send(w: LocalWatcher, m: WatchMessage): boolean {
    if (w.canceled) return true;
    try {
      return w.sink(m) !== false;
    } catch {
      return true;
    }
  }

  private cancelWatcher(w: LocalWatcher, m: WatchMessage): void {
    if (w.canceled) return;
    this.send(w, m);
    w.canceled = true;
    this.watchers.delete(w.id);
  }

  private cancelCompacted(w: LocalWatcher, comp: number): void {
    this.cancelWatcher(w, {
      type: 'canceled',
      revision: this.hubRev,
      reason: 'mvcc: required revision has been compacted',
      compactRevision: comp,
    });
  }

  private storeReset(cur: number): void {
    // The store went back in time (Redis lost its data): nothing can be resumed gap-free.
    for (const w of [...this.watchers.values()]) {
      this.cancelWatcher(w, {
        type: 'canceled',
        revision: cur,
        reason: 'redis store was reset: revision went back',
        compactRevision: 0,
      });
    }
    this.hubRev = cur;
    this.deps.onStoreReset(cur);
    this.releaseWaiters(Number.MAX_SAFE_INTEGER);
  }

  private sendProgress(): void {
    this.progressDue = false;
    for (const w of [...this.watchers.values()]) {
      if (w.req.progressNotify && w.synced && !w.paused && !w.active && w.nextRev <= this.hubRev + 1) {
        this.send(w, { type: 'progress', revision: this.hubRev });
      }
      w.active = false;
    }
  }
}

/** Decode the `readLog` answer into revisions with events. */
function decodeRevisions(ans: ScriptAnswer): LogRevision[] {
  const out: LogRevision[] = [];
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
    out.push({ rev: r.r, events });
  }
  return out;
}
