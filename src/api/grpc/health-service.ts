/**
 * `grpc.health.v1.Health` on statecar's gRPC ports, for Kubernetes gRPC probes and etcd clients (daprd serves no
 * health service; statecar does, docs/dapr-api.md#routes): the overall service `""` is SERVING when every component
 * is ready, NOT_SERVING otherwise.
 *
 * The protocol (Check, Watch, List, the statuses and their bookkeeping) is the `grpc-health-check` package's. What
 * statecar adds is where the status comes from: readiness is asked, not pushed, so Check reads it afresh and open
 * Watch streams are fed by a poll that runs only while there are some.
 */
import { HealthImplementation, service as healthServiceDefinition } from 'grpc-health-check';
import type { EngineHealth } from '../../engine/contract';

/** How often readiness is read while Watch streams are open. */
export const HEALTH_WATCH_POLL_MS = 1000;

/** The overall health of the server (the service name probes and etcd clients ask for). */
const OVERALL = '';

/** A call of the Health service, as far as this file looks at it. */
interface HealthCall {
  on(event: 'cancelled' | 'close' | 'error' | 'finish', listener: () => void): unknown;
}

type Handler = (call: HealthCall, callback?: unknown) => void;

/** What the registrar adds the service to: a grpc-js server, or statecar's own, which takes the same definition. */
export interface HealthServer {
  addService(service: typeof healthServiceDefinition, implementation: Record<string, Handler>): void;
}

/** The health service of one sidecar; register it on each gRPC server with {@link registrar}. */
export class GrpcHealth {
  private readonly impl = new HealthImplementation({ [OVERALL]: 'NOT_SERVING' });
  private readonly handlers: Record<string, Handler>;
  private watchers = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The status last published: Watch streams are told of changes only. */
  private published: 'SERVING' | 'NOT_SERVING' = 'NOT_SERVING';

  constructor(private readonly health: () => EngineHealth) {
    let inner: Record<string, Handler> = {};
    this.impl.addToServer({
      addService: (_def, implementation) => {
        inner = implementation as unknown as Record<string, Handler>;
      },
    });
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

  /** Adds the service to a server (call once per server). */
  readonly registrar = (server: HealthServer): void => {
    server.addService(healthServiceDefinition, this.handlers);
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
    this.impl.setStatus(OVERALL, status);
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
