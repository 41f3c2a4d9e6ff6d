/**
 * Prometheus metrics for `--metrics-port` (daprd's default 9090).
 *
 * What an operator of a state sidecar needs on a dashboard:
 * - API traffic: requests by API, method/route and status, with latency histograms, for both protocols
 *   (`statecar_http_*`, `statecar_grpc_*`);
 * - store health: operation latencies by store and operation, live watchers, leases, current and compacted revision,
 *   key count and database size (`statecar_store_*`).
 *
 * This file holds the registry and the metric set. Traffic is counted by the call bookkeeping (`call-accounting.ts`:
 * one fastify hook set, one gRPC call layer); store operations by wrapping each engine (`instrumented-engine.ts`,
 * through {@link StatecarMetrics.instrumentEngine}); the store gauges are read at scrape time (`store-gauges.ts`);
 * `metrics-server.ts` serves the text.
 */
import type http from 'node:http';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../engine/contract';
import type { InFlightTracker } from '../lifecycle/in-flight-tracker';
import { FastCounter, FastHistogram } from './fast-metrics';
import { InstrumentedEngine, type StoreOpLabels } from './instrumented-engine';
import { startMetricsServer } from './metrics-server';
import { registerStoreGauges, type WatchedEngine } from './store-gauges';

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
/**
 * How often the event-loop delay monitor behind `nodejs_eventloop_lag_*` samples, in ms. prom-client's default of
 * 10 ms wakes the process 100 times a second, which was most of an idle sidecar's CPU (11–13 mCPU at rest against
 * 4–5 mCPU with this value, measured with the sidecar doing nothing): paid in every pod, for a metric daprd does
 * not have. At 100 ms the monitor still records every delay of a turn it was due in.
 */
const EVENT_LOOP_MONITORING_PRECISION_MS = 100;

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
  readonly storeLatency: FastHistogram<StoreOpLabels>;
  private readonly engines: WatchedEngine[] = [];

  constructor(opts: StatecarMetricsOptions = {}) {
    if (opts.registry) {
      this.registry = opts.registry;
    } else {
      this.registry = new Registry();
      if (opts.appId !== undefined) this.registry.setDefaultLabels({ app_id: opts.appId });
      collectDefaultMetrics({
        register: this.registry,
        eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS,
      });
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
    registerStoreGauges(registers, this.engines);
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

  /** The metrics text, as served on `/metrics`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Serve this registry on `GET /metrics`; see {@link startMetricsServer}. */
  listen(port: number, host?: string): Promise<http.Server> {
    return startMetricsServer(this.registry, port, host);
  }
}
