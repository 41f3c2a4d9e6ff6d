/**
 * The engine decorator behind the store metrics: each operation's latency by outcome, and the live watcher count.
 */
import type {
  CompactRequest,
  DeleteRangeRequest,
  Engine,
  EngineHealth,
  LeaseId,
  PutRequest,
  RangeRequest,
  TxnRequest,
  WatchRequest,
  WatchSink,
  Watcher,
} from '../engine/contract';
import { capabilitiesOf, ENGINE_CAPABILITIES, type EngineCapabilities } from '../engine/capabilities';
import type { FastHistogram, HistogramChild } from './fast-metrics';

/** Labels of the store operation latency histogram. */
export type StoreOpLabels = 'store' | 'backend' | 'op' | 'outcome';

/**
 * An engine that records each operation's latency and counts live watchers, delegating everything to `inner`.
 * Errors are re-thrown unchanged (callers map `EngineError`s to API statuses).
 */
export class InstrumentedEngine implements Engine {
  private watchers = 0;
  /** Latency children by operation, resolved on first use (see fast-metrics.ts for why they are kept). */
  private readonly ops = new Map<string, { ok: HistogramChild; error: HistogramChild }>();

  constructor(
    private readonly inner: Engine,
    private readonly store: string,
    private readonly latency: FastHistogram<StoreOpLabels>,
  ) {}

  /** The wrapped engine's backend name. */
  get backend(): string {
    return this.inner.backend;
  }

  /** The wrapped engine's optional capabilities (maintenance operations are not timed). */
  get [ENGINE_CAPABILITIES](): EngineCapabilities {
    return capabilitiesOf(this.inner);
  }

  /** Watchers opened through this engine that have not ended yet. */
  get liveWatchers(): number {
    return this.watchers;
  }

  private timersOf(op: string): { ok: HistogramChild; error: HistogramChild } {
    let t = this.ops.get(op);
    if (!t) {
      const labels = (outcome: string) => ({ store: this.store, backend: this.inner.backend, op, outcome });
      t = { ok: this.latency.child(labels('ok')), error: this.latency.child(labels('error')) };
      this.ops.set(op, t);
    }
    return t;
  }

  /** Run one operation and record its latency under `ok` or `error` (a synchronous throw counts as an error). */
  private timed<T>(op: string, run: () => Promise<T>): Promise<T> {
    const timers = this.timersOf(op);
    const started = performance.now();
    let result: Promise<T>;
    try {
      result = run();
    } catch (err) {
      timers.error.observe((performance.now() - started) / 1000);
      return Promise.reject(err as Error);
    }
    // The caller gets the operation's own promise: timing rides beside it instead of adding a step in front of
    // every response (and the observer's promise settles either way, so a failure is not reported twice).
    result.then(
      () => timers.ok.observe((performance.now() - started) / 1000),
      () => timers.error.observe((performance.now() - started) / 1000),
    );
    return result;
  }

  range(req: RangeRequest) {
    return this.timed('range', () => this.inner.range(req));
  }
  put(req: PutRequest) {
    return this.timed('put', () => this.inner.put(req));
  }
  deleteRange(req: DeleteRangeRequest) {
    return this.timed('delete_range', () => this.inner.deleteRange(req));
  }
  txn(req: TxnRequest) {
    return this.timed('txn', () => this.inner.txn(req));
  }
  compact(req: CompactRequest) {
    return this.timed('compact', () => this.inner.compact(req));
  }
  leaseGrant(req: Parameters<Engine['leaseGrant']>[0]) {
    return this.timed('lease_grant', () => this.inner.leaseGrant(req));
  }
  leaseRevoke(id: LeaseId) {
    return this.timed('lease_revoke', () => this.inner.leaseRevoke(id));
  }
  leaseKeepAlive(id: LeaseId) {
    return this.timed('lease_keepalive', () => this.inner.leaseKeepAlive(id));
  }
  leaseTimeToLive(id: LeaseId, keys?: boolean) {
    return this.timed('lease_timetolive', () => this.inner.leaseTimeToLive(id, keys));
  }
  leaseLeases() {
    return this.timed('lease_leases', () => this.inner.leaseLeases());
  }
  currentRevision() {
    return this.inner.currentRevision();
  }
  status() {
    return this.inner.status();
  }
  health(): EngineHealth {
    return this.inner.health();
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  /** Watch through the inner engine, counting the watcher until it is canceled by either side. */
  watch(req: WatchRequest, sink: WatchSink): Watcher {
    const counted = new CountedWatcher(this, sink);
    counted.inner = this.inner.watch(req, counted.deliver);
    // Counted only once created: a watch that fails validation throws above and was never live.
    this.watchers++;
    return counted;
  }

  /** A counted watcher ended (canceled by the client or by the engine). */
  watcherEnded(): void {
    this.watchers--;
  }
}

/** A watcher of an {@link InstrumentedEngine}: one object per watcher (no closures of its own but the sink). */
class CountedWatcher implements Watcher {
  inner!: Watcher;
  private live = true;

  constructor(
    private readonly owner: InstrumentedEngine,
    private readonly sink: WatchSink,
  ) {}

  readonly deliver: WatchSink = (m) => {
    if (m.type === 'canceled') this.ended();
    return this.sink(m);
  };

  get id(): number {
    return this.inner.id;
  }

  get synced(): boolean {
    return this.inner.synced;
  }

  resume(): void {
    this.inner.resume();
  }

  cancel(): void {
    this.inner.cancel();
    this.ended();
  }

  private ended(): void {
    if (!this.live) return;
    this.live = false;
    this.owner.watcherEnded();
  }
}
