import type * as grpc from '@grpc/grpc-js';
import type { Engine, WatchMessage, Watcher, WatchRequest } from '../../../engine/contract';
import { EngineError, isEngineError } from '../../../engine/errors';
import { eventToWire, int64, toNumber } from './codec';
import { isClientErrorKind } from '../../status-map';
import {
  etcdCancelReason,
  toGrpcError,
  watchCancelReason,
  WATCH_DUPLICATE_ID,
  WATCH_ID_OUT_OF_RANGE,
} from './errors';
import type { ResponseHeaderFactory } from './header';
import type { WireWatchCreateRequest, WireWatchRequest } from './wire-types';

/**
 * One `etcdserverpb.Watch/Watch` bidi stream: many watchers multiplexed by watch ID (etcd: v3rpc/watch.go).
 *
 * - Requests are handled strictly one after another, so `created` responses leave in request order — clients bind
 *   them to their queue of pending creates by position, not by ID.
 * - Events of a watcher are held back until its `created` response is out.
 * - Create failures (duplicate ID, empty range, negative start, any other request the engine refuses) are in-band:
 *   `created+canceled`, `watch_id=-1`, and the stream goes on: one bad create never ends it
 *   (docs/etcd-semantics.md#the-stream). Only a failure of the server itself (the engine stopped) ends the call, with
 *   the engine error's own status.
 * - Backpressure: when the gRPC stream's buffer is full the sink answers `false`; the engine pauses that watcher
 *   (catching it up from history later) and it is resumed on `drain`.
 */

/** Most messages buffered for a watcher whose `created` response has not been sent yet. */
const MAX_PENDING_BEFORE_CREATED = 128;

interface Entry {
  id: number;
  watcher?: Watcher;
  announced: boolean;
  /** Messages held back until `created` is out (none for most watchers: no array until the first). */
  pending: object[] | undefined;
  paused: boolean;
}

/** The state of one Watch call; created per call by {@link watchService}. */
export class WatchStream {
  private nextAutoId = 0;
  private readonly entries = new Map<number, Entry>();
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly header: ResponseHeaderFactory,
    private readonly call: grpc.ServerDuplexStream<WireWatchRequest, object>,
    private readonly authorize?: WatchAuthorizer,
  ) {
    call.on('data', (req: WireWatchRequest) => {
      this.chain = this.chain.then(() => this.handle(req)).catch((err: unknown) => this.fail(err));
    });
    // A half-close only ends the receive side; events keep flowing until the client cancels the call (etcd's
    // Watch returns only when the stream context is done).
    call.on('end', () => undefined);
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
    call.on('error', () => this.close());
    call.on('drain', () => this.resumePaused());
  }

  private async handle(req: WireWatchRequest): Promise<void> {
    if (this.closed) return;
    switch (req.request_union) {
      case 'create_request':
        return this.create(req.create_request!);
      case 'cancel_request':
        return this.cancel(toNumber(req.cancel_request!.watch_id));
      case 'progress_request':
        return this.progress();
      default:
        // An empty WatchRequest is ignored, as etcd does.
        return;
    }
  }

  private async create(c: WireWatchCreateRequest): Promise<void> {
    const requestedId = toNumber(c.watch_id);
    // A revision past 2^53 cannot be held exactly, and no store will ever reach it: waiting for 2^53 - 1 instead
    // is the same wait, forever, as etcd's for any revision beyond the current one.
    const startRevision = Math.min(toNumber(c.start_revision), Number.MAX_SAFE_INTEGER);
    // Auth comes first, with the credentials the stream was opened with (etcd: v3rpc/watch.go).
    const denied = this.authorize?.(this.call.metadata, c.key ?? Buffer.alloc(0), c.range_end);
    if (denied) return this.rejectCreate(denied);
    if (!Number.isSafeInteger(requestedId)) return this.rejectCreate(WATCH_ID_OUT_OF_RANGE);
    if (requestedId !== 0 && this.entries.has(requestedId)) return this.rejectCreate(WATCH_DUPLICATE_ID);
    if (startRevision < 0) return this.rejectCreate(watchCancelReason(new EngineError('COMPACTED')));
    const filters = new Set(
      (c.filters ?? []).map((f) => (typeof f === 'number' ? ['NOPUT', 'NODELETE'][f] : f)),
    );
    const request: WatchRequest = {
      key: c.key && c.key.length > 0 ? c.key : Buffer.from([0]),
      rangeEnd: c.range_end && c.range_end.length > 0 ? c.range_end : undefined,
      startRevision,
      prevKv: !!c.prev_kv,
      noPut: filters.has('NOPUT'),
      noDelete: filters.has('NODELETE'),
      progressNotify: !!c.progress_notify,
      fragment: !!c.fragment,
    };
    const entry: Entry = { id: requestedId, announced: false, pending: undefined, paused: false };
    try {
      entry.watcher = this.engine.watch(request, (m) => this.deliver(entry, m));
    } catch (err) {
      // Whatever the engine refuses in a create request is answered in-band, for that create only.
      if (isEngineError(err) && isClientErrorKind(err.status))
        return this.rejectCreate(watchCancelReason(err));
      throw err;
    }
    // The ID is taken only once the watcher exists: a rejected create consumes no auto ID (etcd validates the
    // range before picking one). The sink is not called before watch() returns, so setting it now is safe.
    const id = requestedId !== 0 ? requestedId : this.allocateId();
    entry.id = id;
    this.entries.set(id, entry);
    const rev = await this.engine.currentRevision();
    if (this.closed) return;
    this.write({ header: this.header.full(rev), watch_id: int64(id), created: true });
    entry.announced = true;
    const pending = entry.pending;
    entry.pending = undefined;
    if (pending) for (const msg of pending) this.write(msg);
    if (entry.paused) this.resume(entry);
  }

  /** Auto IDs start at 0 and skip IDs in use (etcd: server/mvcc/watcher.go `Watch`). */
  private allocateId(): number {
    while (this.entries.has(this.nextAutoId)) this.nextAutoId++;
    return this.nextAutoId++;
  }

  private async rejectCreate(reason: string): Promise<void> {
    const rev = await this.engine.currentRevision();
    if (this.closed) return;
    this.write({
      header: this.header.full(rev),
      watch_id: '-1',
      created: true,
      canceled: true,
      cancel_reason: reason,
    });
  }

  /** Cancel of an unknown ID gets no answer at all (obs). */
  private async cancel(id: number): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    entry.watcher?.cancel();
    const rev = await this.engine.currentRevision();
    if (this.closed) return;
    this.write({ header: this.header.full(rev), watch_id: int64(id), canceled: true });
  }

  /**
   * A progress request is answered with `watch_id=-1` and the current revision only when every watcher on the
   * stream is caught up, so the revision is a true bookmark (etcd 3.5 `RequestProgressAll`). With no watcher
   * it is answered too, as etcd 3.4 does.
   */
  private async progress(): Promise<void> {
    for (const e of this.entries.values()) {
      if (!e.announced || e.paused || !e.watcher?.synced) return;
    }
    const rev = await this.engine.currentRevision();
    if (this.closed) return;
    this.write({ header: this.header.full(rev), watch_id: '-1' });
  }

  /** The engine's sink for one watcher. Must not throw. */
  private deliver(entry: Entry, m: WatchMessage): boolean {
    if (this.closed) return false;
    let msg: object;
    const watchId = int64(entry.id);
    switch (m.type) {
      case 'events':
        msg = {
          header: this.header.full(m.revision),
          watch_id: watchId,
          events: m.events.map(eventToWire),
          ...(m.fragment ? { fragment: true } : {}),
        };
        break;
      case 'progress':
        msg = { header: this.header.full(m.revision), watch_id: watchId };
        break;
      case 'canceled':
        if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
        msg = m.compactRevision
          ? // etcd's compaction cancel: header revision 0, compact_revision set, no reason.
            {
              header: this.header.full(0),
              watch_id: watchId,
              canceled: true,
              compact_revision: int64(m.compactRevision),
            }
          : {
              header: this.header.full(m.revision),
              watch_id: watchId,
              canceled: true,
              cancel_reason: etcdCancelReason(m.reason),
            };
        break;
    }
    if (!entry.announced) {
      (entry.pending ??= []).push(msg);
      if (entry.pending.length >= MAX_PENDING_BEFORE_CREATED) {
        entry.paused = true;
        return false;
      }
      return true;
    }
    if (this.write(msg)) return true;
    entry.paused = true;
    return false;
  }

  private write(msg: object): boolean {
    if (this.closed) return false;
    try {
      return this.call.write(msg);
    } catch {
      this.close();
      return false;
    }
  }

  private resume(entry: Entry): void {
    entry.paused = false;
    entry.watcher?.resume();
  }

  private resumePaused(): void {
    for (const e of [...this.entries.values()]) {
      if (e.paused && e.announced && !this.closed) this.resume(e);
    }
  }

  /** The server failed (not the request): end the call with the failure's status from the error table. */
  private fail(err: unknown): void {
    if (this.closed) return;
    this.close();
    this.call.emit('error', toGrpcError(err));
  }

  /** Stop every watcher of the stream. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.entries.values()) e.watcher?.cancel();
    this.entries.clear();
  }
}

/** Checks a watch create against the stream's credentials: the in-band cancel reason, or undefined if allowed. */
export type WatchAuthorizer = (
  md: grpc.Metadata,
  key: Buffer,
  rangeEnd: Buffer | undefined,
) => string | undefined;

/** `etcdserverpb.Watch`: one {@link WatchStream} per call. */
export function watchService(
  engine: Engine,
  header: ResponseHeaderFactory,
  authorize?: WatchAuthorizer,
): grpc.UntypedServiceImplementation {
  return {
    Watch: (call: grpc.ServerDuplexStream<WireWatchRequest, object>) => {
      new WatchStream(engine, header, call, authorize);
    },
  };
}
