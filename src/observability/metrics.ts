/**
 * Prometheus metrics for `--metrics-port` (daprd's default 9090).
 *
 * What an operator of a state sidecar needs on a dashboard:
 * - API traffic: requests by API, method/route and status, with latency histograms, for both protocols
 *   (`statecar_http_*`, `statecar_grpc_*`);
 * - store health: operation latencies by store and operation, live watchers, leases, current and compacted revision,
 *   key count and database size (`statecar_store_*`).
 *
 * Traffic is counted by the call bookkeeping (`call-accounting.ts`: one fastify hook set, one gRPC interceptor); store
 * operations by
 * wrapping each engine ({@link StatecarMetrics.instrumentEngine}). The store gauges are read from the engines'
 * `status()` when Prometheus scrapes, not on every write, so they cost nothing between scrapes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type {
  CompactRequest,
  DeleteRangeRequest,
  Engine,
  EngineHealth,
  LeaseId,
  PutRequest,
  RangeRequest,
  StatusResponse,
  TxnRequest,
  WatchRequest,
  WatchSink,
  Watcher,
} from '../engine/contract';
import { capabilitiesOf, ENGINE_CAPABILITIES, type EngineCapabilities } from '../engine/capabilities';
import { FastCounter, FastHistogram, type HistogramChild } from './fast-metrics';
import type { InFlightTracker } from './shutdown';

/**
 * Latency buckets in seconds: from 0.5 ms (a memory read) to 10 s (a slow Redis or a stalled disk). Prometheus
 * convention is seconds, unlike daprd's milliseconds, so `histogram_quantile` results read directly as durations.
 */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Options of {@link StatecarMetrics}. */
export interface StatecarMetricsOptions {
  /** `app_id` label on every series (as daprd labels its metrics). */
  appId?: string;
  /**
   * Register into this registry instead of a new one (e.g. one that already has other collectors). Default process
   * metrics are then left to the registry's owner.
   */
  registry?: Registry;
}

type HttpLabels = 'api' | 'method' | 'route' | 'status';
type GrpcLabels = 'api' | 'method' | 'code';
type StoreLabels = 'store' | 'backend';

/** An engine the gauges are read from. */
interface WatchedEngine {
  store: string;
  engine: Engine;
  /** Live watchers opened through the instrumented engine (undefined when the engine is not wrapped). */
  watchers?: () => number;
  /** The last `status()`, shared by the gauges of one scrape (one backend round trip instead of four). */
  status?: { at: number; value: Promise<StatusResponse> };
}

/** Upper bound on reusing one `status()` answer (each scrape also starts afresh, see `statecar_store_up`). */
const STATUS_REUSE_MS = 1000;

function statusOf(e: WatchedEngine): Promise<StatusResponse> {
  const now = Date.now();
  if (!e.status || now - e.status.at > STATUS_REUSE_MS) e.status = { at: now, value: e.engine.status() };
  return e.status.value;
}

/** The registry and every statecar metric. */
export class StatecarMetrics {
  /** Serve this registry's text (`registry.metrics()`) on `/metrics`. */
  readonly registry: Registry;
  /** HTTP API requests, by coarse API, method, route pattern and status. */
  readonly httpRequests: FastCounter<HttpLabels>;
  /** HTTP API latency (request received → response sent). */
  readonly httpLatency: FastHistogram<HttpLabels>;
  /** gRPC API calls by API (dapr, etcd), full method and status code name. */
  readonly grpcRequests: FastCounter<GrpcLabels>;
  /** gRPC unary call latency (streams are left out: their duration is the client's choice). */
  readonly grpcLatency: FastHistogram<GrpcLabels>;
  /** Where `statecar_inflight_requests` is read from at scrape time (see {@link readInFlight}). */
  private inFlightSource: InFlightTracker | undefined;
  /** Engine operation latency by store, backend, operation and outcome (`ok` / `error`). */
  readonly storeLatency: FastHistogram<StoreLabels | 'op' | 'outcome'>;
  private readonly engines: WatchedEngine[] = [];

  constructor(opts: StatecarMetricsOptions = {}) {
    if (opts.registry) {
      this.registry = opts.registry;
    } else {
      this.registry = new Registry();
      if (opts.appId !== undefined) this.registry.setDefaultLabels({ app_id: opts.appId });
      collectDefaultMetrics({ register: this.registry });
    }
    const registers = [this.registry];
    this.httpRequests = new FastCounter({
      name: 'statecar_http_requests_total',
      help: 'HTTP API requests by API, method, route and response status',
      labelNames: ['api', 'method', 'route', 'status'],
      registers,
    });
    this.httpLatency = new FastHistogram({
      name: 'statecar_http_request_duration_seconds',
      help: 'HTTP API request latency by API, method, route and response status',
      labelNames: ['api', 'method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.grpcRequests = new FastCounter({
      name: 'statecar_grpc_requests_total',
      help: 'gRPC API calls by API, method and status code',
      labelNames: ['api', 'method', 'code'],
      registers,
    });
    this.grpcLatency = new FastHistogram({
      name: 'statecar_grpc_request_duration_seconds',
      help: 'gRPC API unary call latency by API, method and status code',
      labelNames: ['api', 'method', 'code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    // Requests and unary calls being served (what a graceful shutdown waits for): the tracker's own counts.
    const source = (): InFlightTracker | undefined => this.inFlightSource;
    new Gauge({
      name: 'statecar_inflight_requests',
      help: 'HTTP requests and gRPC unary calls being served',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.set({ protocol: 'http' }, source()?.sizeOf('http') ?? 0);
        this.set({ protocol: 'grpc' }, source()?.sizeOf('grpc') ?? 0);
      },
    });
    this.storeLatency = new FastHistogram({
      name: 'statecar_store_operation_duration_seconds',
      help: 'State store (engine) operation latency by store, backend, operation and outcome',
      labelNames: ['store', 'backend', 'op', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });

    // Store gauges: computed at scrape time from the engines' own bookkeeping.
    const engines = this.engines;
    const gauge = (
      name: string,
      help: string,
      read: (e: WatchedEngine) => Promise<number | undefined>,
      startsScrape = false,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ['store', 'backend'],
        registers,
        async collect() {
          // Synchronously, before any other gauge of this scrape asks for a status.
          if (startsScrape) for (const e of engines) e.status = undefined;
          this.reset();
          for (const e of engines) {
            // A closed or unreachable backend must not fail the whole scrape: its series is just absent.
            const v = await read(e).catch(() => undefined);
            if (v !== undefined) this.set({ store: e.store, backend: e.engine.backend }, v);
          }
        },
      });
    };
    // Registered first, so its collect starts first in a scrape: it drops the previous scrape's status answers.
    gauge(
      'statecar_store_up',
      '1 when the store backend is ready, else 0',
      async (e) => (e.engine.health().ready ? 1 : 0),
      true,
    );
    gauge('statecar_store_watchers', 'Live watchers on the store', async (e) => e.watchers?.());
    gauge(
      'statecar_store_leases',
      'Live leases on the store',
      async (e) => (await e.engine.leaseLeases()).leases.length,
    );
    gauge(
      'statecar_store_revision',
      'Current store revision',
      async (e) => (await statusOf(e)).header.revision,
    );
    gauge(
      'statecar_store_compact_revision',
      'Revision up to which history was compacted',
      async (e) => (await statusOf(e)).compactRevision,
    );
    gauge('statecar_store_keys', 'Live keys at the current revision', async (e) => (await statusOf(e)).keys);
    gauge(
      'statecar_store_db_size_bytes',
      'Bytes the backend occupies',
      async (e) => (await statusOf(e)).dbSize,
    );
  }

  /**
   * Wrap `engine` so each operation's latency is recorded under `store`, count its live watchers, and read its
   * gauges on scrape. Use the returned engine everywhere instead of the original (closing it closes the original).
   */
  instrumentEngine(engine: Engine, store: string): Engine {
    const wrapped = new InstrumentedEngine(engine, store, this.storeLatency);
    // Gauges read the inner engine, so scrapes do not show up as store operations.
    this.engines.push({ store, engine, watchers: () => wrapped.liveWatchers });
    return wrapped;
  }

  /** Show `tracker`'s counts as `statecar_inflight_requests` (the call bookkeeping keeps them). */
  readInFlight(tracker: InFlightTracker): void {
    this.inFlightSource = tracker;
  }

  /** Read gauges (revision, leases, ...) from an engine that is not wrapped; its watcher count is then absent. */
  observeEngine(engine: Engine, store: string): void {
    if (this.engines.some((e) => e.engine === engine)) return;
    this.engines.push({ store, engine });
  }

  /** The metrics text, as served on `/metrics`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Serve this registry on `GET /metrics`; see {@link startMetricsServer}. */
  listen(port: number, host?: string): Promise<http.Server> {
    return startMetricsServer(this.registry, port, host);
  }
}

/** `dapr.proto.runtime.v1.Dapr/GetState` → `dapr`; `etcdserverpb.KV/Range` → `etcd`. */
export function grpcApiOf(method: string): string {
  if (method.startsWith('dapr.')) return 'dapr';
  if (
    method.startsWith('etcdserverpb.') ||
    method.startsWith('v3electionpb.') ||
    method.startsWith('v3lockpb.')
  ) {
    return 'etcd';
  }
  if (method.startsWith('grpc.health.')) return 'health';
  return 'other';
}

/**
 * The coarse API of an HTTP route, for dashboards that want "state vs lock vs metadata" without listing routes:
 * `/v1.0/state/:store/:key` → `state`, `/v1.0-alpha1/state/:store/watch` → `watch`, unmatched → `unknown`.
 */
export function httpApiOf(route: string | undefined): string {
  if (!route) return 'unknown';
  if (/^\/v1\.0[^/]*\/state\/[^/]+\/watch$/.test(route)) return 'watch';
  const m = /^\/v1\.0[^/]*\/([a-z]+)/.exec(route);
  if (!m) return 'unknown';
  return m[1] === 'healthz' ? 'health' : m[1];
}

/**
 * Serve `registry` at host:port on `GET /metrics` (any path, in fact: daprd's exporter answers on every path, and
 * scrape configs written for it may use `/`). Resolves with the listening server; close it with `server.close()`.
 */
export async function startMetricsServer(
  registry: Registry,
  port: number,
  host = '0.0.0.0',
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    registry
      .metrics()
      .then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      })
      .catch((err: Error) => {
        res.writeHead(500).end(`${err.message}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return server;
}

/** The port a server ended up on (useful after listening on port 0). */
export function boundPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

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
    private readonly latency: FastHistogram<StoreLabels | 'op' | 'outcome'>,
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
    return result.then(
      (value) => {
        timers.ok.observe((performance.now() - started) / 1000);
        return value;
      },
      (err: unknown) => {
        timers.error.observe((performance.now() - started) / 1000);
        throw err;
      },
    );
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
    let live = true;
    const ended = (): void => {
      if (!live) return;
      live = false;
      this.watchers--;
    };
    const inner = this.inner.watch(req, (m) => {
      if (m.type === 'canceled') ended();
      return sink(m);
    });
    // Counted only once created: a watch that fails validation throws above and was never live.
    this.watchers++;
    return {
      get id() {
        return inner.id;
      },
      get synced() {
        return inner.synced;
      },
      resume: () => inner.resume(),
      cancel: () => {
        inner.cancel();
        ended();
      },
    };
  }
}
