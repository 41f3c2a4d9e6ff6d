import type * as grpc from '@grpc/grpc-js';
import type { WatchEvent } from '../contract';
import type { WatchFanout } from '../watch-fanout';
import type { FeedDemand, FeedRevision, HistoryRequest, HistoryResult } from '../watch-feed';
import type { EtcdConnection, Member, WireHeader } from './etcd-connection';
import { eventFromWire, headerRevision, type KeyPrefix, type WireEvent } from './etcd-wire';

/**
 * The etcd backend's side of watching. The cluster's watch history is the only one: nothing is copied.
 *
 * - Live: while anybody watches, ONE upstream etcd watcher on the store's whole prefix feeds the shared fan-out
 *   (`watch-fanout.ts`), whatever the number of local watchers. It starts at the revision after the fan-out's
 *   published one and, when its stream breaks (a member died, lost its leader), is created again on another member
 *   from the revision after the last one published: the cluster replays what was missed, the fan-out drops what it
 *   already had (by revision), so watchers see no gap and no duplicate.
 * - History: a catching-up watcher's read is a short-lived etcd watcher from the wanted revision on the same
 *   stream; its first answer is complete up to the revision in its header (etcd sends a catch-up in batches of
 *   1000 revisions). When the read can have no events (the live feed saw every change since it started and none
 *   lies in the range) it is answered without asking the cluster. The one case the cluster cannot answer — a start
 *   before this feed started, and no change since — ends after a quiet period with no events (etcd 3.4 sends
 *   nothing for an empty catch-up, and its progress requests are not ordered with catch-ups). On the whole key
 *   space that case cannot arise (every revision is the store's change); under a key prefix it can, and an answer
 *   slower than the quiet period (a loaded cluster) is then taken for an empty one: a known limit.
 */

/** etcd's batch size of a catch-up (`watchBatchMaxRevs`): an answer with fewer revisions is complete. */
const ETCD_BATCH_REVS = 1000;
/** How long a history read waits for the cluster's catch-up when it cannot know whether any event exists. */
const QUIET_MS = 1000;
/** Reconnect delays after a broken stream. */
const REOPEN_MIN_MS = 50;
const REOPEN_MAX_MS = 1000;

interface WireWatchResponse {
  header?: WireHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: WireEvent[];
}

/** A one-shot history read in flight. */
interface HistoryRead {
  prevKv: boolean;
  resolve(res: HistoryResult<WatchEvent>): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

/** What the feed needs from its engine. */
export interface EtcdWatchFeedDeps {
  conn: EtcdConnection;
  prefix: KeyPrefix;
  /** The newest revision the engine has seen in any answer. */
  knownRevision(): number;
  /** A revision seen in a watch answer. */
  observed(rev: number): void;
  /** Bound of a history read that is sure to get an answer (the request timeout). */
  requestTimeoutMs: number;
}

/** The live and history side of one engine instance's watching on etcd. */
export class EtcdWatchFeed {
  private fanout: WatchFanout<WatchEvent> | undefined;
  private demand: FeedDemand = { watchers: 0, live: 0, prevKv: false };
  private stream: grpc.ClientDuplexStream<unknown, Record<string, unknown>> | undefined;
  private member: Member | undefined;
  private nextWatchId = 1;
  /** The live upstream watcher's id on the stream (0 = none). */
  private liveId = 0;
  private livePrevKv = false;
  /** Every change from this revision on has been (or is being) published by the live watcher. */
  private liveStart = Number.MAX_SAFE_INTEGER;
  /** Revision of the last change published live (0 = none since liveStart). */
  private lastChange = 0;
  private readonly reads = new Map<number, HistoryRead>();
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenDelay = REOPEN_MIN_MS;
  private closed = false;

  constructor(private readonly deps: EtcdWatchFeedDeps) {}

  attach(fanout: WatchFanout<WatchEvent>): void {
    this.fanout = fanout;
  }

  /** The fan-out's needs changed: start, adjust or stop the live watcher. */
  setDemand(demand: FeedDemand): void {
    this.demand = demand;
    this.steer();
  }

  close(): void {
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.failReads(new Error('watch feed closed'));
    this.endStream();
  }

  /** Bring the live watcher in line with the demand. */
  private steer(): void {
    if (this.closed || this.fanout === undefined) return;
    const wanted = this.demand.watchers > 0;
    if (!wanted) {
      if (this.liveId !== 0) this.stopLive();
      if (this.reads.size === 0) this.endStream();
      return;
    }
    if (this.liveId !== 0 && this.livePrevKv === this.demand.prevKv) return;
    if (this.liveId !== 0) this.stopLive();
    this.startLive();
  }

  private ensureStream(): grpc.ClientDuplexStream<unknown, Record<string, unknown>> | undefined {
    if (this.stream) return this.stream;
    if (this.reopenTimer) return undefined;
    const { stream, member } = this.deps.conn.openWatch();
    this.stream = stream;
    this.member = member;
    stream.on('data', (res: Record<string, unknown>) =>
      this.onResponse(stream, res as unknown as WireWatchResponse),
    );
    stream.on('error', (err: Error) => this.onBroken(stream, err));
    stream.on('end', () => this.onBroken(stream, new Error('watch stream ended')));
    return stream;
  }

  private endStream(): void {
    const s = this.stream;
    this.stream = undefined;
    this.liveId = 0;
    if (s) {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.cancel();
    }
  }

  private startLive(): void {
    const f = this.fanout!;
    const stream = this.ensureStream();
    if (!stream) return;
    // Nobody needed the revisions since the live watcher last ran: move on to the newest known one.
    if (this.liveStart === Number.MAX_SAFE_INTEGER || f.publishedRevision < this.liveStart - 1) {
      // Watchers that need what lies before the newest known revision catch up from history.
      const known = this.deps.knownRevision();
      if (known > f.publishedRevision) f.skipTo(known);
      this.liveStart = f.publishedRevision + 1;
      this.lastChange = 0;
    }
    this.liveId = this.nextWatchId++;
    this.livePrevKv = this.demand.prevKv;
    stream.write({
      create_request: {
        ...this.deps.prefix.all(),
        start_revision: String(f.publishedRevision + 1),
        prev_kv: this.livePrevKv,
        watch_id: String(this.liveId),
      },
    });
  }

  private stopLive(): void {
    const id = this.liveId;
    this.liveId = 0;
    this.stream?.write({ cancel_request: { watch_id: String(id) } });
    // Changes after what was published are no longer followed: a later start begins a new span.
    this.liveStart = Number.MAX_SAFE_INTEGER;
  }

  private onBroken(stream: grpc.ClientDuplexStream<unknown, Record<string, unknown>>, err: Error): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.liveId = 0;
    const why = (err as { details?: string }).details ?? err.message;
    if (this.member) this.deps.conn.streamFailed(this.member, why);
    this.failReads(err);
    if (this.closed) return;
    // The live span continues: the next watcher starts after the last published revision.
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.steer();
    }, this.reopenDelay);
    this.reopenTimer.unref();
    this.reopenDelay = Math.min(this.reopenDelay * 2, REOPEN_MAX_MS);
  }

  private failReads(err: Error): void {
    for (const [, r] of this.reads) {
      if (r.timer) clearTimeout(r.timer);
      r.reject(err);
    }
    this.reads.clear();
  }

  private onResponse(
    stream: grpc.ClientDuplexStream<unknown, Record<string, unknown>>,
    res: WireWatchResponse,
  ): void {
    if (this.stream !== stream) return;
    this.reopenDelay = REOPEN_MIN_MS;
    const id = Number(res.watch_id);
    const rev = headerRevision(res.header);
    if (rev > 0) this.deps.observed(rev);
    const read = this.reads.get(id);
    if (read !== undefined) {
      this.onHistory(id, read, res);
      return;
    }
    if (id !== this.liveId || this.liveId === 0) return;
    const f = this.fanout!;
    if (res.canceled) {
      this.liveId = 0;
      const comp = Number(res.compact_revision);
      if (comp > 0) {
        // Compaction overtook the live position (a long outage): what lies before it cannot be delivered.
        f.compacted(comp);
        if (comp - 1 > f.publishedRevision) f.skipTo(comp - 1);
        this.liveStart = Number.MAX_SAFE_INTEGER;
      }
      this.steer();
      return;
    }
    if (res.events.length === 0) return;
    const revs = groupByRevision(this.deps.prefix, res.events);
    for (const r of revs) {
      f.publish({ revision: r.revision, changes: r.changes, prevKv: this.livePrevKv });
      this.lastChange = r.revision;
    }
    // A catch-up answer with fewer than a full batch of revisions covers everything up to its header revision.
    if (revs.length < ETCD_BATCH_REVS && rev > f.publishedRevision) f.progress(rev);
  }

  /** A history read's answer (see the module comment). */
  private onHistory(id: number, read: HistoryRead, res: WireWatchResponse): void {
    if (res.created && !res.canceled) return;
    this.reads.delete(id);
    if (read.timer) clearTimeout(read.timer);
    if (!res.canceled) this.stream?.write({ cancel_request: { watch_id: String(id) } });
    const comp = Number(res.compact_revision);
    if (res.canceled) {
      if (comp > 0) read.resolve({ compactRevision: comp });
      else read.reject(new Error(`etcd canceled a history read: ${res.cancel_reason}`));
      return;
    }
    const revs = groupByRevision(this.deps.prefix, res.events, read.prevKv);
    const last = revs.length > 0 ? revs[revs.length - 1]!.revision : 0;
    const upto = revs.length < ETCD_BATCH_REVS ? Math.max(headerRevision(res.header), last) : last;
    read.resolve({ revisions: revs, upto });
  }

  /** History for a catching-up watcher of the fan-out. */
  readHistory(req: HistoryRequest): HistoryResult<WatchEvent> | Promise<HistoryResult<WatchEvent>> {
    const followed = this.liveId !== 0 && req.from >= this.liveStart;
    // On the whole key space every revision is a change of the store's, so a read with revisions in it has events
    // and waits for them; under a prefix the feed knows only the changes it saw live (see the module comment).
    const knownChange =
      (this.deps.prefix.prefix.length === 0 && req.from <= req.to) ||
      (this.lastChange >= req.from && this.lastChange >= this.liveStart);
    if (followed && !knownChange) return { revisions: [], upto: req.to };
    const stream = this.ensureStream();
    if (!stream) return Promise.reject(new Error('etcd watch stream reconnecting'));
    const id = this.nextWatchId++;
    return new Promise<HistoryResult<WatchEvent>>((resolve, reject) => {
      const read: HistoryRead = { prevKv: req.prevKv, resolve, reject };
      const abandon = (result: HistoryResult<WatchEvent> | Error) => {
        if (!this.reads.delete(id)) return;
        this.stream?.write({ cancel_request: { watch_id: String(id) } });
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      // Sure to get an answer: bounded by the request timeout. Not sure: a quiet period means no events.
      read.timer = knownChange
        ? setTimeout(() => abandon(new Error('etcd history read timed out')), this.deps.requestTimeoutMs)
        : setTimeout(() => abandon({ revisions: [], upto: req.to }), QUIET_MS);
      read.timer.unref();
      req.signal.addEventListener('abort', () => abandon(new Error('aborted')), { once: true });
      this.reads.set(id, read);
      stream.write({
        create_request: {
          ...this.deps.prefix.all(),
          start_revision: String(req.from),
          prev_kv: req.prevKv,
          watch_id: String(id),
        },
      });
    });
  }
}

/** Events of one answer as revisions, in order (etcd never splits a revision across answers unasked). */
function groupByRevision(
  prefix: KeyPrefix,
  events: WireEvent[],
  withPrevKv = true,
): FeedRevision<WatchEvent>[] {
  const out: FeedRevision<WatchEvent>[] = [];
  let cur: { revision: number; changes: WatchEvent[]; prevKv: boolean } | undefined;
  for (const e of events) {
    if (!e.kv || !prefix.owns(e.kv.key)) continue;
    const rev = Number(e.kv.mod_revision);
    if (cur === undefined || cur.revision !== rev) {
      cur = { revision: rev, changes: [], prevKv: withPrevKv };
      out.push(cur);
    }
    cur.changes.push(eventFromWire(prefix, e));
  }
  return out;
}
