/**
 * A watch on a store as its app sees it: the one change feed under the SSE watch route and the Configuration API.
 *
 * It stands on the engine's watch and adds what the app needs: app keys (the key space's prefix applied and
 * stripped, foreign keys such as locks and indexes left out), values as GET returns them (with `ttlExpireTime`
 * when the key has a TTL), the etag, and TTL expiry as the delete it is in the engine. A watch covers one key, a key
 * prefix, a set of keys or the whole store, and resumes from a position ({@link WatchPosition}) with no gap and no
 * repeat, because the engine replays its history from any revision it still holds.
 *
 * Flow control: the consumer's sink returns false when it cannot take more (a full socket); delivery then stops
 * until {@link StateWatch.resume}. Changes that arrive meanwhile wait in a short queue, and when that fills the
 * engine watcher is paused too, which costs writers nothing: the engine catches the watcher up from its history
 * later. A consumer that falls behind further than the history reaches is ended with a COMPACTED error, never
 * served with a gap. See docs/state-views.md.
 */
import type { Engine, WatchEvent, WatchMessage, Watcher } from '../engine/contract';
import type { KeySpace } from './key-space';
import type { LeaseClock } from './lease-clock';
import { StateError, toStateError } from './state-errors';
import { TTL_EXPIRE_TIME_KEY, formatExpireTime } from './ttl';

/** One change of one app key. */
export interface StateChange {
  type: 'PUT' | 'DELETE';
  key: string;
  /** PUT: the value, byte for byte as GET returns it. */
  value?: Buffer;
  /** PUT: the key's new etag; DELETE: the revision of the delete (the key has no etag any more). */
  etag: string;
  /** The engine revision of the change (equal to the etag). */
  revision: number;
  /** Position among the watched changes of this revision (0-based; a transaction can change several keys). */
  index: number;
  /** True on the last watched change of its revision. */
  last: boolean;
  /** PUT with a TTL: `ttlExpireTime`, as GET returns it. */
  metadata: Record<string, string>;
}

/**
 * Where a watch starts: at `revision`, leaving out the first `skip` watched changes of that revision (those were
 * delivered before). After an etag E the position is `{ revision: E + 1, skip: 0 }`.
 */
export interface WatchPosition {
  revision: number;
  skip: number;
}

/** The position right after a delivered change (to resume from it later). */
export function positionAfter(change: Pick<StateChange, 'revision' | 'index' | 'last'>): WatchPosition {
  return change.last
    ? { revision: change.revision + 1, skip: 0 }
    : { revision: change.revision, skip: change.index + 1 };
}

/** What a watch selects; at most one of `key`, `prefix`, `keys` (none = the whole store). */
export interface StateWatchRequest {
  key?: string;
  prefix?: string;
  /** A set of keys (empty = the whole store). */
  keys?: readonly string[];
  /** Resume here; absent = the changes after the store's current revision. */
  from?: WatchPosition;
}

/**
 * What the sink receives: the watched changes of one revision at a time, in revision order, or the end of the
 * watch (after which nothing more comes). `ended.error` is a StateError of kind COMPACTED when the watch's position
 * is no longer in the engine's history.
 */
export type StateWatchMessage =
  { type: 'changes'; revision: number; changes: StateChange[] } | { type: 'ended'; error: StateError };

/** Returns false to stop delivery until {@link StateWatch.resume}; the message it was given counts as taken. */
export type StateWatchSink = (message: StateWatchMessage) => boolean;

/** What a watch needs of a store. */
export interface WatchSource {
  engine: Engine;
  keys: KeySpace;
  /** Lease expiry times for `ttlExpireTime` (absent: not reported). */
  clock?: LeaseClock;
}

/** A running watch. */
export interface StateWatch {
  /** The first revision the watch delivers (everything before it is what the watcher already knows). */
  readonly startRevision: number;
  /** Start delivery (a watch is opened paused), or continue after the sink returned false. */
  resume(): void;
  /** Stop for good; the sink is not called after this returns. */
  cancel(): void;
}

/** Engine messages held while the consumer is behind, before the engine watcher itself is paused. */
const QUEUE_HIGH = 64;

/** The compacted error for a position. */
export function compactedError(revision: number, compactRevision: number): StateError {
  return new StateError(
    'COMPACTED',
    `revision ${revision} has been compacted (the oldest revision kept is ${compactRevision}); read the current ` +
      'state and watch from its etag',
  );
}

/**
 * Open a watch. It starts paused: call `resume()` once the consumer is ready (e.g. after sending headers). Rejects
 * with a StateError (COMPACTED when `from` is older than the engine's history).
 */
export async function openStateWatch(
  source: WatchSource,
  req: StateWatchRequest,
  sink: StateWatchSink,
): Promise<StateWatch> {
  try {
    const status = await source.engine.status();
    const from = req.from ?? { revision: status.header.revision + 1, skip: 0 };
    if (!Number.isSafeInteger(from.revision) || from.revision < 1) {
      throw new StateError('INVALID_REQUEST', `cannot watch from revision ${from.revision}`);
    }
    if (from.revision < status.compactRevision) throw compactedError(from.revision, status.compactRevision);
    const watch = new RunningWatch(source, req, from, sink);
    watch.start();
    return watch;
  } catch (err) {
    throw toStateError(err);
  }
}

class RunningWatch implements StateWatch {
  readonly startRevision: number;
  private readonly wanted: (key: string) => boolean;
  private watcher?: Watcher;
  /** One revision's events per entry, or the engine's cancel. */
  private readonly queue: (WatchEvent[] | Extract<WatchMessage, { type: 'canceled' }>)[] = [];
  /** The engine watcher was told to stop (the queue filled). */
  private enginePaused = false;
  /** The consumer asked to stop, or has not started yet. */
  private consumerPaused = true;
  private pumping = false;
  private done = false;
  /** Watched changes of revision `startRevision` still to leave out. */
  private skip: number;

  constructor(
    private readonly source: WatchSource,
    private readonly req: StateWatchRequest,
    from: WatchPosition,
    private readonly sink: StateWatchSink,
  ) {
    this.startRevision = from.revision;
    this.skip = from.skip;
    this.wanted = selector(req);
  }

  start(): void {
    const range = this.engineRange();
    this.watcher = this.source.engine.watch(
      { ...range, startRevision: this.startRevision, prevKv: false },
      (m) => this.onEngine(m),
    );
  }

  resume(): void {
    if (this.done) return;
    this.consumerPaused = false;
    void this.pump();
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.watcher?.cancel();
  }

  private engineRange(): { key: Buffer; rangeEnd?: Buffer } {
    const { key, prefix, keys } = this.req;
    if (key !== undefined) return { key: this.source.keys.encode(key) };
    if (prefix !== undefined) return this.source.keys.range(prefix);
    if (keys !== undefined && keys.length > 0) return this.source.keys.covering(keys);
    return this.source.keys.range();
  }

  private onEngine(m: WatchMessage): boolean {
    if (this.done) return false;
    if (m.type === 'progress') return true;
    if (m.type === 'canceled') this.queue.push(m);
    else for (const group of byRevision(m.events)) this.queue.push(group);
    void this.pump();
    if (this.queue.length >= QUEUE_HIGH) {
      this.enginePaused = true;
      return false;
    }
    return true;
  }

  /** Deliver queued revisions in order until the queue is empty or the consumer pushes back. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.done && !this.consumerPaused && this.queue.length > 0) {
        const item = this.queue.shift()!;
        if (!Array.isArray(item)) {
          this.finish(
            item.compactRevision > 0
              ? compactedError(this.startRevision, item.compactRevision)
              : new StateError('STORE', `the watch ended: ${item.reason}`),
          );
          return;
        }
        const pending = this.changesOf(item);
        const changes = Array.isArray(pending) ? pending : await pending;
        if (this.done) return;
        if (changes.length > 0 && !this.sink({ type: 'changes', revision: changes[0].revision, changes })) {
          this.consumerPaused = true;
        }
        if (this.enginePaused && this.queue.length === 0) {
          this.enginePaused = false;
          this.watcher?.resume();
        }
      }
    } catch (err) {
      this.finish(toStateError(err));
    } finally {
      this.pumping = false;
    }
  }

  private finish(error: StateError): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.watcher?.cancel();
    try {
      this.sink({ type: 'ended', error });
    } catch {
      // A consumer that fails on its last message has nothing left to be told.
    }
  }

  /**
   * The watched changes of one revision, with the ones delivered before a resume left out. Synchronous unless a
   * changed key has a TTL, whose expiry time may have to be asked of the engine.
   */
  private changesOf(events: WatchEvent[]): StateChange[] | Promise<StateChange[]> {
    const revision = events[0].kv.modRevision;
    const picked: { e: WatchEvent; key: string }[] = [];
    for (const e of events) {
      const key = this.source.keys.decode(e.kv.key);
      if (key !== undefined && this.wanted(key)) picked.push({ e, key });
    }
    const out: StateChange[] = [];
    const leased: StateChange[] = [];
    for (let i = 0; i < picked.length; i++) {
      if (revision === this.startRevision && i < this.skip) continue;
      const { e, key } = picked[i];
      const put = e.type === 'PUT';
      const change: StateChange = {
        type: e.type,
        key,
        value: put ? e.kv.value : undefined,
        etag: String(revision),
        revision,
        index: i,
        last: i === picked.length - 1,
        metadata: {},
      };
      if (put && e.kv.lease !== 0n && this.source.clock) leased.push(change);
      out.push(change);
    }
    if (leased.length === 0) return out;
    return this.withExpiry(out, leased, events);
  }

  /** Fill in `ttlExpireTime` of the changes whose keys have a lease. */
  private async withExpiry(
    out: StateChange[],
    leased: StateChange[],
    events: WatchEvent[],
  ): Promise<StateChange[]> {
    const leaseOf = new Map(events.map((e) => [this.source.keys.decode(e.kv.key), e.kv.lease]));
    for (const c of leased) {
      const due = await this.source.clock!.expiresAt(leaseOf.get(c.key) ?? 0n);
      if (due !== undefined) c.metadata = { [TTL_EXPIRE_TIME_KEY]: formatExpireTime(due) };
    }
    return out;
  }
}

/** The key filter of a request (the engine range may be wider than what was asked). */
function selector(req: StateWatchRequest): (key: string) => boolean {
  if (req.key !== undefined) {
    const k = req.key;
    return (key) => key === k;
  }
  if (req.prefix !== undefined) {
    const p = req.prefix;
    return (key) => key.startsWith(p);
  }
  if (req.keys !== undefined && req.keys.length > 0) {
    const set = new Set(req.keys);
    return (key) => set.has(key);
  }
  return () => true;
}

/** Split the events of one message (history replay may pack several revisions) into one list per revision. */
function byRevision(events: WatchEvent[]): WatchEvent[][] {
  const out: WatchEvent[][] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last !== undefined && last[0].kv.modRevision === e.kv.modRevision) last.push(e);
    else out.push([e]);
  }
  return out;
}
