import type { WatchEvent, WatchMessage, WatchRequest, WatchSink, Watcher } from '../contract';
import { inInterval, type KeyInterval } from '../key-range';
import { type Rec, toKeyValue, tombstoneKeyValue } from './record';

/** What the hub reads from the store: the visible and compacted revisions and the history window. */
export interface WatchSource {
  visibleRev(): number;
  compactRev(): number;
  history(from: number, to: number, visit: (r: Rec) => boolean): void;
}

export interface WatchHubOptions {
  progressNotifyIntervalMs: number;
  maxWatchResponseBytes: number;
}

/** etcd packs at most this many revisions into one history-replay response (`watchBatchMaxRevs`). */
const MAX_REPLAY_REVS = 1000;
/** Versions a catching-up watcher may scan per turn of the event loop, so a long replay never stalls writers. */
const REPLAY_SCAN_PER_TURN = 20_000;

const enum State {
  /** Receiving live events. */
  Synced,
  /** Catching up from history. */
  Unsynced,
  /** The sink said it is full; waiting for resume(). */
  Paused,
  Canceled,
}

/** One watcher's state (etcd `watcher` in `watchable_store.go`). */
class HubWatcher implements Watcher {
  state = State.Unsynced;
  /** Next revision this watcher has to receive. */
  nextRev = 0;
  /** Whether any message went out since the last progress tick. */
  busy = false;
  /** Fragments of a revision still to send after the sink pushed back in the middle of it. */
  backlog: WatchMessage[] = [];

  constructor(
    readonly id: number,
    readonly iv: KeyInterval,
    readonly req: WatchRequest,
    readonly sink: WatchSink,
    private readonly hub: WatchHub,
  ) {}

  get synced(): boolean {
    return this.state === State.Synced;
  }

  resume(): void {
    this.hub.resumeWatcher(this);
  }

  cancel(): void {
    this.hub.removeWatcher(this);
  }
}

/**
 * Fans committed revisions out to watchers, etcd's synced/unsynced model (`watchable_store.go`):
 * synced watchers get one message per revision as it commits; new watchers with a past start revision, and
 * watchers whose sink pushed back, catch up from the history window on later turns of the event loop and then rejoin
 * the synced set. A slow watcher therefore never blocks a writer or another watcher; if compaction overtakes its
 * position it is canceled with the compact revision.
 */
export class WatchHub {
  private nextId = 1;
  /** Synced watchers on a single key, by key: a write touches only the watchers of its own key... */
  private readonly byKey = new Map<string, Set<HubWatcher>>();
  /** ...plus the synced range watchers. */
  private readonly ranged = new Set<HubWatcher>();
  private readonly unsynced = new Set<HubWatcher>();
  private readonly progress = new Set<HubWatcher>();
  /** Watchers whose sink pushed back, waiting for resume(). */
  private readonly paused = new Set<HubWatcher>();
  private syncScheduled = false;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly source: WatchSource,
    private readonly opts: WatchHubOptions,
  ) {
    this.ticker = setInterval(() => this.progressTick(), opts.progressNotifyIntervalMs);
    this.ticker.unref();
  }

  /** Number of live watchers (for metrics). */
  get size(): number {
    let n = this.ranged.size + this.unsynced.size;
    for (const s of this.byKey.values()) n += s.size;
    return n + this.paused.size;
  }

  /** Register a watcher. Never calls the sink synchronously. */
  watch(req: WatchRequest, iv: KeyInterval, sink: WatchSink): Watcher {
    const w = new HubWatcher(this.nextId++, iv, req, sink, this);
    const visible = this.source.visibleRev();
    const start = req.startRevision ?? 0;
    if (req.progressNotify) this.progress.add(w);
    if (this.closed) {
      w.state = State.Unsynced;
      w.nextRev = visible + 1;
      this.unsynced.add(w);
      this.scheduleSync();
      return w;
    }
    if (start === 0 || start > visible) {
      w.nextRev = start === 0 ? visible + 1 : start;
      this.addSynced(w);
    } else {
      w.nextRev = start;
      this.unsynced.add(w);
      this.scheduleSync();
    }
    return w;
  }

  private addSynced(w: HubWatcher): void {
    w.state = State.Synced;
    if (w.iv.end === undefined) {
      let set = this.byKey.get(w.iv.start);
      if (set === undefined) this.byKey.set(w.iv.start, (set = new Set()));
      set.add(w);
    } else {
      this.ranged.add(w);
    }
  }

  private removeSynced(w: HubWatcher): void {
    if (w.iv.end === undefined) {
      const set = this.byKey.get(w.iv.start);
      if (set !== undefined) {
        set.delete(w);
        if (set.size === 0) this.byKey.delete(w.iv.start);
      }
    } else {
      this.ranged.delete(w);
    }
  }

  /** Detach a watcher for good. */
  removeWatcher(w: HubWatcher): void {
    if (w.state === State.Canceled) return;
    if (w.state === State.Synced) this.removeSynced(w);
    else if (w.state === State.Unsynced) this.unsynced.delete(w);
    else if (w.state === State.Paused) this.paused.delete(w);
    this.progress.delete(w);
    w.state = State.Canceled;
  }

  resumeWatcher(w: HubWatcher): void {
    if (w.state !== State.Paused) return;
    this.paused.delete(w);
    w.state = State.Unsynced;
    this.unsynced.add(w);
    this.scheduleSync();
  }

  private pause(w: HubWatcher): void {
    if (w.state === State.Synced) this.removeSynced(w);
    else if (w.state === State.Unsynced) this.unsynced.delete(w);
    w.state = State.Paused;
    this.paused.add(w);
  }

  /**
   * Deliver; a false return from the sink pauses the watcher at `nextRev`. Returns whether delivery may go on,
   * which is also false when the sink canceled the watcher from inside the call.
   */
  private send(w: HubWatcher, msg: WatchMessage): boolean {
    w.busy = true;
    const ok = w.sink(msg);
    if (w.state === State.Canceled) return false;
    if (!ok) this.pause(w);
    return ok;
  }

  private cancelWith(w: HubWatcher, reason: string, compactRevision: number): void {
    this.removeWatcher(w);
    w.sink({ type: 'canceled', revision: this.source.visibleRev(), reason, compactRevision });
  }

  /** A revision became visible: send its changes to the synced watchers that match. */
  notify(rev: number, changes: Rec[]): void {
    if (this.closed) return;
    const cache = new EventCache();
    if (changes.length === 1) {
      const r = changes[0];
      const targets: HubWatcher[] = [];
      const keyed = this.byKey.get(r.key);
      if (keyed !== undefined) for (const w of keyed) targets.push(w);
      for (const w of this.ranged) if (inInterval(w.iv, r.key)) targets.push(w);
      for (const w of targets) {
        if (w.state !== State.Synced || rev < w.nextRev) continue;
        const ev = cache.event(r, w.req);
        w.nextRev = rev + 1;
        if (ev !== null) this.deliver(w, [ev], rev);
      }
      return;
    }
    const perWatcher = new Map<HubWatcher, WatchEvent[]>();
    for (const r of changes) {
      const keyed = this.byKey.get(r.key);
      if (keyed !== undefined) for (const w of keyed) add(perWatcher, w, r, cache);
      for (const w of this.ranged) if (inInterval(w.iv, r.key)) add(perWatcher, w, r, cache);
    }
    for (const [w, events] of perWatcher) {
      if (w.state !== State.Synced || rev < w.nextRev) continue;
      w.nextRev = rev + 1;
      if (events.length > 0) this.deliver(w, events, rev);
    }
  }

  /**
   * Send events as one message, or as fragments when the watcher asked for them and the message is large. If the
   * sink pushes back in the middle of a fragmented revision, the rest waits in the backlog for resume().
   */
  private deliver(w: HubWatcher, events: WatchEvent[], headerRev: number): boolean {
    if (w.req.fragment && events.length > 1) {
      const pieces = fragment(events, this.opts.maxWatchResponseBytes);
      if (pieces.length > 1) {
        const msgs: WatchMessage[] = pieces.map((p, i) => ({
          type: 'events',
          revision: headerRev,
          events: p,
          fragment: i < pieces.length - 1,
        }));
        return this.sendAll(w, msgs);
      }
    }
    return this.send(w, { type: 'events', revision: headerRev, events, fragment: false });
  }

  /** Send messages in order; on push-back keep the unsent rest in the watcher's backlog. */
  private sendAll(w: HubWatcher, msgs: WatchMessage[]): boolean {
    for (let i = 0; i < msgs.length; i++) {
      if (!this.send(w, msgs[i])) {
        if (w.state !== State.Canceled) w.backlog = msgs.slice(i + 1);
        return false;
      }
    }
    return true;
  }

  private scheduleSync(): void {
    if (this.syncScheduled) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      this.syncUnsynced();
    });
  }

  /** Catch unsynced watchers up from history (etcd `syncWatchers`), a bounded amount per turn. */
  private syncUnsynced(): void {
    const visible = this.source.visibleRev();
    const compact = this.source.compactRev();
    for (const w of [...this.unsynced]) {
      if (w.state !== State.Unsynced) continue;
      if (this.closed) {
        this.cancelWith(w, 'etcdserver: server stopped', 0);
        continue;
      }
      if (w.backlog.length > 0) {
        const backlog = w.backlog;
        w.backlog = [];
        if (!this.sendAll(w, backlog)) continue;
      }
      if (w.nextRev < compact) {
        this.cancelWith(w, 'mvcc: required revision has been compacted', compact);
        continue;
      }
      if (w.nextRev > visible) {
        this.unsynced.delete(w);
        this.addSynced(w);
        continue;
      }
      this.replay(w, visible);
    }
    if (this.unsynced.size > 0) this.scheduleSync();
  }

  /** Replay [w.nextRev, visible] in messages of at most MAX_REPLAY_REVS revisions, header = visible revision. */
  private replay(w: HubWatcher, visible: number): void {
    const cache = new EventCache();
    let batch: WatchEvent[] = [];
    let revsInBatch = 0;
    let lastRev = 0;
    let scanned = 0;
    let stopped = false;
    const flush = (): boolean => {
      if (batch.length === 0) return true;
      const ok = this.deliver(w, batch, visible);
      batch = [];
      revsInBatch = 0;
      return ok;
    };
    this.source.history(w.nextRev, visible, (r) => {
      if (r.modRev !== lastRev) {
        // A revision is never split across messages: flush before starting the next one.
        if (revsInBatch >= MAX_REPLAY_REVS || scanned >= REPLAY_SCAN_PER_TURN) {
          w.nextRev = r.modRev;
          if (!flush() || scanned >= REPLAY_SCAN_PER_TURN) {
            stopped = true;
            return false;
          }
        }
        lastRev = r.modRev;
        revsInBatch++;
      }
      scanned++;
      if (inInterval(w.iv, r.key)) {
        const ev = cache.event(r, w.req);
        if (ev !== null) batch.push(ev);
      }
      return true;
    });
    if (stopped) return;
    w.nextRev = visible + 1;
    if (!flush()) return;
    // A sink may have written during this replay (synchronously, in memory mode): that revision's live
    // notification skipped this still-unsynced watcher, so keep catching up instead of going live.
    if (this.source.visibleRev() > visible) {
      this.scheduleSync();
      return;
    }
    if (w.state === State.Unsynced) {
      this.unsynced.delete(w);
      this.addSynced(w);
    }
  }

  /** Compaction passed `rev`: cancel paused watchers that can no longer catch up (unsynced ones are handled on sync). */
  onCompacted(rev: number): void {
    for (const w of [...this.paused]) {
      if (w.nextRev < rev) this.cancelWith(w, 'mvcc: required revision has been compacted', rev);
    }
    if (this.unsynced.size > 0) this.scheduleSync();
  }

  /** Periodic progress notification for idle synced watchers that asked for it. */
  private progressTick(): void {
    const rev = this.source.visibleRev();
    for (const w of this.progress) {
      if (w.state === State.Synced && !w.busy) this.send(w, { type: 'progress', revision: rev });
      w.busy = false;
    }
  }

  /** End every watcher with a cancel (shutdown). */
  close(reason: string): void {
    this.closed = true;
    clearInterval(this.ticker);
    const all: HubWatcher[] = [...this.ranged, ...this.unsynced, ...this.paused];
    for (const s of this.byKey.values()) all.push(...s);
    for (const w of all) this.cancelWith(w, reason, 0);
  }
}

function add(map: Map<HubWatcher, WatchEvent[]>, w: HubWatcher, r: Rec, cache: EventCache): void {
  let list = map.get(w);
  if (list === undefined) map.set(w, (list = []));
  const ev = cache.event(r, w.req);
  if (ev !== null) list.push(ev);
}

/** Builds each change's event once per notification, shared by every watcher that receives it. */
class EventCache {
  private plain = new Map<Rec, WatchEvent>();
  private withPrev = new Map<Rec, WatchEvent>();

  /** The event for a watcher, or null when its filters drop it. */
  event(r: Rec, req: WatchRequest): WatchEvent | null {
    const isDelete = r.value === null;
    if (isDelete ? req.noDelete : req.noPut) return null;
    const cache = req.prevKv ? this.withPrev : this.plain;
    let ev = cache.get(r);
    if (ev === undefined) {
      ev = { type: isDelete ? 'DELETE' : 'PUT', kv: isDelete ? tombstoneKeyValue(r) : toKeyValue(r) };
      // prev_kv: the key at mod_revision - 1 (etcd reads exactly that), unless this put created it or history was
      // compacted. The previous version may be from this same revision (a put then a from-key delete in one txn).
      if (req.prevKv && (isDelete || r.createRev !== r.modRev)) {
        let p = r.prev;
        while (p !== null && p.modRev >= r.modRev) p = p.prev;
        if (p !== null && p.value !== null) ev.prevKv = toKeyValue(p);
      }
      cache.set(r, ev);
    }
    return ev;
  }
}

/** Rough encoded size of an event (protobuf overhead is a few bytes per field). */
function eventSize(e: WatchEvent): number {
  const kv = (k: { key: Buffer; value: Buffer }): number => k.key.length + k.value.length + 40;
  return kv(e.kv) + (e.prevKv ? kv(e.prevKv) : 0) + 8;
}

/** Split events into pieces below `max` bytes, each with at least one event (etcd `sendFragments`). */
export function fragment(events: WatchEvent[], max: number): WatchEvent[][] {
  const total = events.reduce((n, e) => n + eventSize(e), 0);
  if (total < max) return [events];
  const pieces: WatchEvent[][] = [];
  let cur: WatchEvent[] = [];
  let size = 0;
  for (const e of events) {
    const s = eventSize(e);
    if (cur.length > 0 && size + s > max) {
      pieces.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(e);
    size += s;
  }
  if (cur.length > 0) pieces.push(cur);
  return pieces;
}
