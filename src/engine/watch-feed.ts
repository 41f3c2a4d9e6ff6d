import type { WatchEvent } from './contract';
import { toBin } from './key-range';

/**
 * The interface between a backend and the shared watch fan-out (`watch-fanout.ts`).
 *
 * A backend does two things for watchers and nothing else:
 * - it hands the fan-out every committed revision that changed its keys, once and in revision order
 *   ({@link WatchFanout.publish}), or tells it how far it got without events ({@link WatchFanout.progress},
 *   {@link WatchFanout.skipTo}), its compaction point ({@link WatchFanout.compacted}) and a reset of the store
 *   ({@link WatchFanout.reset});
 * - it answers the fan-out's history reads ({@link WatchSource.readHistory}) for watchers that start in the past, or
 *   fell behind because their consumer pushed back.
 *
 * Everything else — synced / unsynced / paused watchers, filters, packing and fragmenting, progress notifications,
 * cancel reasons — is the fan-out's. A backend's changes stay in the backend's own representation `C` (an in-memory
 * version record, a decoded log entry, ...) and are turned into contract events through its {@link ChangeCodec},
 * only for watchers that receive them: a write nobody watches costs no event.
 */

/** How the fan-out reads a backend's change records. */
export interface ChangeCodec<C> {
  /** The changed key as a binary string (`key-range.ts`), for matching watcher ranges. */
  key(change: C): string;
  /** Whether the change deleted the key. */
  isDelete(change: C): boolean;
  /**
   * The contract event. With `withPrevKv` it carries the key's previous live version when the change has one (the
   * fan-out asks for it only from revisions read with previous values, see {@link FeedRevision.prevKv}); without,
   * it must not carry one. The fan-out builds each event once per delivery round and shares it between watchers.
   */
  event(change: C, withPrevKv: boolean): WatchEvent;
}

/** One committed revision: every change it made to the backend's keys, in execution order. */
export interface FeedRevision<C> {
  readonly revision: number;
  readonly changes: readonly C[];
  /**
   * Whether previous versions can be built for these changes. A backend that reads its log without them (nobody
   * asked) sets false; a watcher that wants them then catches up from history instead.
   */
  readonly prevKv: boolean;
}

/** A history read of the fan-out: the revisions a watcher still needs. */
export interface HistoryRequest {
  /** First revision wanted. */
  from: number;
  /** The fan-out's published revision: the read need not go past it (it may, see {@link HistoryResult}). */
  to: number;
  /** Build previous versions for the events. */
  prevKv: boolean;
  /** Aborted when the watcher no longer needs the read (canceled, paused, engine closing). */
  signal: AbortSignal;
}

/**
 * The answer to a history read:
 * - `revisions`: every revision in `[from, upto]` that changed a key, complete, in order; `upto >= from`. A read may
 *   stop before `to` (a size bound: the fan-out reads again) or go past it (a remote history; the watcher then
 *   skips those revisions when they are published);
 * - `compactRevision`: `from` was compacted away; the watcher is canceled with this compaction revision.
 */
export type HistoryResult<C> =
  | { revisions: FeedRevision<C>[]; upto: number; compactRevision?: undefined }
  | { compactRevision: number; revisions?: undefined; upto?: undefined };

/** What the fan-out currently needs from live delivery; a backend may start or stop its feed on it. */
export interface FeedDemand {
  /** Watchers registered (synced, catching up or paused). */
  readonly watchers: number;
  /** Synced watchers: those that take published revisions live. */
  readonly live: number;
  /** Whether a synced watcher wants previous versions with its live events. */
  readonly prevKv: boolean;
}

/** What a backend supplies to its fan-out. */
export interface WatchSource<C> {
  readonly codec: ChangeCodec<C>;
  /**
   * The newest revision this engine has answered with (0 while it does not know any): a watcher starting "now" gets
   * the revisions after it. At least the fan-out's published revision when known.
   */
  knownRevision(): number;
  /**
   * Read history for a watcher. May answer synchronously (an in-memory log) or asynchronously; a rejection is retried
   * a little later with the watcher's position unchanged.
   */
  readHistory(req: HistoryRequest): HistoryResult<C> | Promise<HistoryResult<C>>;
  /** Called when {@link FeedDemand} changes. */
  demand?(demand: FeedDemand): void;
}

/**
 * The codec of backends whose changes are contract events already (decoded from a log or a remote watch), read with
 * previous versions when a watcher wanted them.
 */
export const WATCH_EVENT_CHANGES: ChangeCodec<WatchEvent> = {
  key: (e) => toBin(e.kv.key),
  isDelete: (e) => e.type === 'DELETE',
  event: (e, withPrevKv) => (withPrevKv || e.prevKv === undefined ? e : { type: e.type, kv: e.kv }),
};
