/**
 * `grpc.health.v1.Health` on statecar's gRPC ports, for Kubernetes gRPC probes and etcd clients (daprd serves no
 * health service; statecar does, docs/dapr-api.md#routes): the overall service `""` is SERVING when every component
 * is ready, NOT_SERVING otherwise.
 *
 * The protocol (Check, Watch, List, the statuses and their bookkeeping) is the `grpc-health-check` package's. What
 * statecar adds is where the status comes from: readiness is asked, not pushed, so Check reads it afresh and open
 * Watch streams are fed by a poll that runs only while there are some.
 */
import type { HealthImplementation } from 'grpc-health-check';
import type * as healthPackage from 'grpc-health-check';
import type { EngineHealth } from '../../engine/contract';
import { captureService, lazyService, type LoadedService, type MethodShape } from './lazy-service';

/** How often readiness is read while Watch streams are open. */
export const HEALTH_WATCH_POLL_MS = 1000;

/** The overall health of the server (the service name probes and etcd clients ask for). */
const OVERALL = '';

/**
 * grpc.health.v1.Health's methods. The package (with proto-loader and its parsed health.proto) is loaded on the
 * first call (./lazy-service.ts): Kubernetes probes statecar over HTTP, and most sidecars are never asked.
 */
const HEALTH_METHODS: MethodShape[] = [
  { name: 'Check', originalName: 'check', requestStream: false, responseStream: false },
  { name: 'Watch', originalName: 'watch', requestStream: false, responseStream: true },
  { name: 'List', originalName: 'list', requestStream: false, responseStream: false },
].map((m) => ({ ...m, path: `/grpc.health.v1.Health/${m.name}` }));

/** A call of the Health service, as far as this file looks at it. */
interface HealthCall {
  on(event: 'cancelled' | 'close' | 'error' | 'finish', listener: () => void): unknown;
}

type Handler = (call: HealthCall, callback?: unknown) => void;

/** What the registrar adds the service to: a grpc-js server, or statecar's own, which takes the same definition. */
export interface HealthServer {
  addService(service: typeof healthPackage.service, implementation: Record<string, Handler>): void;
}

/** The health service of one sidecar; register it on each gRPC server with {@link registrar}. */
export class GrpcHealth {
  /** The package's implementation, once a health call has loaded it. */
  private impl: HealthImplementation | undefined;
  private readonly definition: typeof healthPackage.service;
  private readonly handlers: Record<string, Handler>;
  private watchers = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The status last published: Watch streams are told of changes only. */
  private published: 'SERVING' | 'NOT_SERVING' = 'NOT_SERVING';

  constructor(private readonly health: () => EngineHealth) {
    const lazy = lazyService(HEALTH_METHODS, () => this.load());
    const inner = lazy.implementation as unknown as Record<string, Handler>;
    this.definition = lazy.definition as typeof healthPackage.service;
    this.handlers = {
      ...inner,
      check: (call, callback) => {
        this.refresh();
        inner.check!(call, callback);
      },
      watch: (call) => {
        this.refresh();
        this.follow(call);
        inner.watch!(call);
      },
    };
  }

  /** Load grpc-health-check and its implementation, starting from the status published so far. */
  private load(): LoadedService {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on the first health call (see above)
    const pkg = require('grpc-health-check') as typeof healthPackage;
    const impl = new pkg.HealthImplementation({ [OVERALL]: this.published });
    this.impl = impl;
    return captureService((s) => impl.addToServer(s as never))[0];
  }

  /** Adds the service to a server (call once per server). */
  readonly registrar = (server: HealthServer): void => {
    server.addService(this.definition, this.handlers);
  };

  /** From now on NOT_SERVING, whatever the components say (the sidecar is shutting down). */
  stop(): void {
    this.stopped = true;
    this.refresh();
    this.stopPolling();
  }

  /** Read readiness and publish it if it changed (Watch streams hear of the change). */
  refresh(): void {
    const status = !this.stopped && this.health().ready ? 'SERVING' : 'NOT_SERVING';
    if (status === this.published) return;
    this.published = status;
    this.impl?.setStatus(OVERALL, status);
  }

  private follow(call: HealthCall): void {
    this.watchers++;
    this.timer ??= setInterval(() => this.refresh(), HEALTH_WATCH_POLL_MS).unref();
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      if (--this.watchers === 0) this.stopPolling();
    };
    for (const event of ['cancelled', 'close', 'error', 'finish'] as const) call.on(event, end);
  }

  private stopPolling(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
