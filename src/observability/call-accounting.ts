/**
 * Per-call bookkeeping of both APIs, done once per call: in-flight tracking (what a graceful shutdown waits for) and,
 * when metrics are on, request counts and latency. One fastify hook set and one gRPC call layer do both, because
 * every hook and every layer costs on every call: on the GET path the bookkeeping used to cost more than
 * the store read.
 *
 * Labels never carry a raw URL or key: HTTP requests are labelled by route pattern (keys would make unbounded label
 * values), gRPC calls by full method name. Label children are resolved once per distinct label set and kept.
 */
import { status as grpcStatus } from '../api/grpc/grpc-core';
import type { FastifyInstance } from 'fastify';
import type { HttpCallAccounting } from '../api/http/fast-state-get';
import type { CallLayer } from '../api/grpc/server/call-layer';
import type { CounterChild, HistogramChild } from './fast-metrics';
import type { InFlightTracker } from '../lifecycle/in-flight-tracker';
import type { StatecarMetrics } from './metrics';
import { grpcApiOf, httpApiOf, isLongLivedRoute } from './route-classifier';

/** What the bookkeeping records into. */
export interface CallAccounting {
  /** Requests being served, for the graceful shutdown (and, with metrics, `statecar_inflight_requests`). */
  inFlight: InFlightTracker;
  /** Prometheus metrics (`--enable-metrics`). */
  metrics?: StatecarMetrics;
}

/** A count and a latency of one label set. */
interface CallSeries {
  readonly count: CounterChild;
  readonly latency: HistogramChild;
}

/** What is known of one HTTP route pattern (or of unmatched requests). */
interface RouteInfo {
  readonly api: string;
  readonly route: string;
  /** The SSE watch: counted when it ends, but neither in flight nor in the latency histogram. */
  readonly longLived: boolean;
  /** Series by `method status`. */
  readonly series: Map<string, CallSeries>;
}

/** Per-request field (declared with `decorateRequest` so every request object keeps one shape). */
interface AccountedRequest {
  statecarInFlight: boolean;
}

/** Seconds since `startMs` (a `performance.now()` reading). */
function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}

/**
 * The HTTP bookkeeping of one server, shared by its fastify hooks and by the hand-written GET fast path
 * (api/http/fast-state-get.ts), so a request is counted the same whichever path serves it.
 */
export class HttpCallRecorder implements HttpCallAccounting {
  private readonly routes = new Map<string, RouteInfo>();

  constructor(private readonly acct: CallAccounting) {}

  /** What is known of a route pattern (`undefined`: no route matched). */
  routeOf(url: string | undefined): RouteInfo {
    const key = url ?? '';
    let info = this.routes.get(key);
    if (!info) {
      info = {
        api: httpApiOf(url),
        route: url ?? 'unmatched',
        longLived: isLongLivedRoute(url),
        series: new Map(),
      };
      this.routes.set(key, info);
    }
    return info;
  }

  enter(): void {
    this.acct.inFlight.enter('http');
  }

  leave(): void {
    this.acct.inFlight.leave('http');
  }

  /** Count a finished request (and its latency unless the route is long-lived) when metrics are on. */
  record(info: RouteInfo, method: string, status: number, seconds: number): void {
    const metrics = this.acct.metrics;
    if (!metrics) return;
    const key = `${method} ${status}`;
    let s = info.series.get(key);
    if (!s) {
      const labels = { api: info.api, method, route: info.route, status: String(status) };
      s = { count: metrics.httpRequests.child(labels), latency: metrics.httpLatency.child(labels) };
      info.series.set(key, s);
    }
    s.count.inc();
    if (!info.longLived) s.latency.observe(seconds);
  }

  finished(route: string, method: string, status: number, startMs: number): void {
    this.leave();
    if (this.acct.metrics) this.record(this.routeOf(route), method, status, secondsSince(startMs));
  }
}

/**
 * Add the bookkeeping hooks to a fastify instance before it listens. Every request except the SSE watch is in flight
 * from `onRequest` until `onResponse`, or until the client aborts.
 */
export function instrumentHttp(app: FastifyInstance, recorder: HttpCallRecorder): void {
  const leave = (r: AccountedRequest): void => {
    if (!r.statecarInFlight) return;
    r.statecarInFlight = false;
    recorder.leave();
  };

  app.decorateRequest('statecarInFlight', false);
  app.addHook('onRequest', (req, _reply, done) => {
    const r = req as unknown as AccountedRequest;
    if (!recorder.routeOf(req.routeOptions.url).longLived) {
      r.statecarInFlight = true;
      recorder.enter();
    }
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    leave(req as unknown as AccountedRequest);
    // fastify times every reply from routing to the response's end; no clock of our own needed.
    recorder.record(
      recorder.routeOf(req.routeOptions.url),
      req.method,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  // A client that disconnects before the response is sent never reaches onResponse.
  app.addHook('onRequestAbort', (req, done) => {
    leave(req as unknown as AccountedRequest);
    done();
  });
}

/** What is known of one gRPC method. */
interface MethodInfo {
  readonly api: string;
  readonly method: string;
  readonly streaming: boolean;
  /** Series by status code. */
  readonly series: Map<number, CallSeries>;
}

/** Status names by code, for the `code` label. */
const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(grpcStatus)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v, k]),
);

const SHUTTING_DOWN = { code: grpcStatus.UNAVAILABLE, details: 'statecar is shutting down' };

/**
 * The call layer doing the bookkeeping of every gRPC call; put it first in the server's layers so calls that a
 * later layer refuses (the API token check) are counted too.
 *
 * Unary calls are in flight until their status is sent. Streams (etcd's Watch and LeaseKeepAlive) last as long as
 * the client wants, so they are not waited for; they are registered with the tracker instead, so a shutdown can end
 * them with UNAVAILABLE (what clients retry elsewhere on). Streams are counted when they end, without latency.
 */
export function grpcCallAccounting(acct: CallAccounting): CallLayer {
  const { inFlight, metrics } = acct;
  const methods = new Map<string, MethodInfo>();
  const seriesOf = (info: MethodInfo, code: number): CallSeries | undefined => {
    if (!metrics) return undefined;
    let s = info.series.get(code);
    if (!s) {
      const labels = { api: info.api, method: info.method, code: STATUS_NAMES[code] ?? String(code) };
      s = { count: metrics.grpcRequests.child(labels), latency: metrics.grpcLatency.child(labels) };
      info.series.set(code, s);
    }
    return s;
  };

  return (call) => {
    let info = methods.get(call.path);
    if (!info) {
      const method = call.path.replace(/^\//, '');
      info = {
        api: grpcApiOf(method),
        method,
        streaming: call.kind !== 'unary',
        series: new Map(),
      };
      methods.set(call.path, info);
    }
    const m = info;

    if (m.streaming) {
      const unregister = inFlight.stream(() => call.endWith(SHUTTING_DOWN));
      call.onEnd((code) => {
        unregister();
        seriesOf(m, code)?.count.inc();
      });
      return undefined;
    }

    inFlight.enter('grpc');
    if (!metrics) {
      call.onEnd(() => inFlight.leave('grpc'));
      return undefined;
    }
    const startMs = performance.now();
    call.onEnd((code) => {
      inFlight.leave('grpc');
      const s = seriesOf(m, code)!;
      s.count.inc();
      s.latency.observe(secondsSince(startMs));
    });
    return undefined;
  };
}
