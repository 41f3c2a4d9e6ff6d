/**
 * The sidecar: loads the components, opens their engines, and serves the Dapr HTTP and gRPC APIs, the etcd API
 * (on the Dapr gRPC port and on `--etcd-port`) and the metrics endpoint, and calls the app on `--app-port`.
 * `start` / `stop`.
 */
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DaprApiContext } from './api/api-context';
import { AppChannel } from './api/app-channel';
import { EtcdGateway } from './api/etcd-gateway';
import { DEFAULT_ETCD_IDENTITY, etcdServiceRegistrar, type EtcdAuthOptions } from './api/grpc/etcd';
import {
  AuthOptionsError,
  ETCD_AUTH_METADATA_NAMES,
  etcdAuthOptionsFrom,
} from './api/grpc/etcd/auth-options';
import { ComponentConfigError } from './components/component-loader';
import type { ComponentDefinition } from './components/component-schema';
import { protoRoot } from './api/grpc/proto-path';
import { GrpcHealth } from './api/grpc/health-service';
import { addReflection } from './api/grpc/reflection';
import { bindGrpc, createGrpcServer, etcdGrpcServerOptions } from './api/grpc/server';
import { GrpcServer } from './api/grpc/server/grpc-server';
import { HttpApiListener } from './api/http/http-api-listener';
import { createProtocolSniffer, type ProtocolSniffer } from './api/protocol-sniffer';
import { loadComponentFiles } from './components/component-loader';
import type { ComponentPlan, ComponentSet } from './components/component-set';
import { planComponents } from './components/component-set';
import type { Engine } from './engine/contract';
import { checkPortsFree, listenError, type WantedPort } from './lifecycle/listen-ports';
import { createLogger } from './observability/logger';
import { StatecarMetrics } from './observability/metrics';
import { grpcCallAccounting, HttpCallRecorder, instrumentHttp } from './observability/call-accounting';
import { shutdownGracefully } from './lifecycle/graceful-shutdown';
import { InFlightTracker } from './lifecycle/in-flight-tracker';
import { DEFAULT_GRACEFUL_SHUTDOWN_SECONDS } from './lifecycle/shutdown-coordinator';

/** Everything the sidecar needs; the CLI builds it from daprd's flags. */
export interface SidecarConfig {
  appId: string;
  /** 0 = any free port. */
  httpPort: number;
  grpcPort: number;
  /** undefined = metrics disabled. */
  metricsPort?: number;
  /** Addresses the API ports bind to (default 127.0.0.1). */
  listenAddresses: string[];
  resourcesPaths: string[];
  logLevel: string;
  /** `--log-as-json`: JSON log lines (else readable key=value lines). */
  logAsJson?: boolean;
  /** `--dapr-graceful-shutdown-seconds`: how long {@link Sidecar.stop} may take (default 5). */
  gracefulShutdownSeconds?: number;
  /** Largest HTTP body / gRPC message, bytes. */
  maxBodySize: number;
  /** Also serve the etcd API on this port. */
  etcdPort?: number;
  /** `--app-port`: the app's HTTP port, for the app channel (configuration updates); absent = no app channel. */
  appPort?: number;
  /** Required `dapr-api-token`, if any. */
  apiToken?: string;
  /** Base directory for relative data directories (default cwd). */
  cwd?: string;
  /** Called when a client asks the sidecar to shut down (gRPC Shutdown). Default: stop(). */
  onShutdownRequest?: () => void;
  /** A logger to use instead of a new pino logger. */
  logger?: Logger;
}

/** The runtime version statecar reports: its package version. */
export function runtimeVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(protoRoot()), 'package.json'), 'utf8')) as {
      version?: string;
    };
    return `statecar-${pkg.version ?? 'dev'}`;
  } catch {
    return 'statecar-dev';
  }
}

/** A running sidecar. */
export class Sidecar {
  private stopping?: Promise<void>;
  private readinessTimer?: NodeJS.Timeout;

  private constructor(
    readonly config: SidecarConfig,
    readonly log: Logger,
    readonly components: ComponentSet,
    private readonly listeners: Listeners,
    private readonly inFlight: InFlightTracker,
    /** Bound ports (useful when 0 was asked for). */
    readonly ports: { http: number; grpc: number; etcd?: number; metrics?: number },
  ) {}

  /** The state store served on the etcd API (`etcdAPI: "true"`, else the first state store). */
  get etcdStoreName(): string | undefined {
    return this.components.etcdStoreName;
  }

  /** The engine served on the etcd API. */
  get etcdEngine(): Engine | undefined {
    return this.components.etcdEngine;
  }

  /** Load components and start every listener. Rejects (after cleaning up) if anything fails. */
  static async start(config: SidecarConfig): Promise<Sidecar> {
    const version = runtimeVersion();
    const log =
      config.logger ??
      createLogger({ level: config.logLevel, json: config.logAsJson, appId: config.appId, version });
    const metrics =
      config.metricsPort === undefined ? undefined : new StatecarMetrics({ appId: config.appId });
    const componentLog = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m) };
    const defs = loadComponentFiles(config.resourcesPaths, { appId: config.appId, warn: componentLog.warn });
    const plan = planComponents(defs, {
      appId: config.appId,
      cwd: config.cwd,
      log: componentLog,
      stateMetadataNames: ETCD_AUTH_METADATA_NAMES,
      // Every store operation is timed under the name of the component that opened the engine.
      wrapEngine: metrics ? (engine, name) => metrics.instrumentEngine(engine, name) : undefined,
    });
    // The order matters: a second process on a held dataDir stops at the reservation, before it binds any port;
    // a port in use stops start-up before any store is opened (and restored from disk) for nothing.
    const reserved = plan.reserve();
    let components: ComponentSet;
    try {
      await checkPortsFree(wantedPorts(config));
      components = await plan.open();
    } finally {
      reserved.release();
    }
    // grpc.health.v1.Health on every gRPC port: SERVING while every component is ready.
    const grpcHealth = new GrpcHealth(() => components.health());
    const listeners: Listeners = { http: [], grpc: [], sniffers: [], gateways: [], grpcHealth };
    const inFlight = new InFlightTracker();
    metrics?.readInFlight(inFlight);
    let sidecar: Sidecar | undefined;
    try {
      const ctx: DaprApiContext = {
        appId: config.appId,
        runtimeVersion: version,
        components,
        extendedMetadata: new Map(),
        apiToken: config.apiToken,
        maxBodySize: config.maxBodySize,
        appChannel: config.appPort === undefined ? undefined : new AppChannel(config.appPort),
        health: () => components.health(),
        requestShutdown: () => (config.onShutdownRequest ? config.onShutdownRequest() : void sidecar?.stop()),
        log,
      };

      const etcdEngine = components.etcdEngine;
      const etcdRegistrar = etcdEngine
        ? etcdServiceRegistrar(etcdEngine, { auth: etcdAuthOptionsOf(plan, defs, components.etcdStoreName) })
        : undefined;
      const ports: { http: number; grpc: number; etcd?: number; metrics?: number } = { http: 0, grpc: 0 };
      // One bookkeeping layer for in-flight tracking and metrics: each layer or hook costs on every call.
      const layers = [grpcCallAccounting({ inFlight, metrics })];
      // A port serving the etcd API also speaks etcd's JSON gateway (HTTP/1.1), told from gRPC per connection; the
      // gateway runs the port's own gRPC methods.
      const gatewayFor = (server: GrpcServer, maxRequestMessageBytes: number): EtcdGateway => {
        const gateway = new EtcdGateway({
          server,
          maxRequestMessageBytes,
          version: DEFAULT_ETCD_IDENTITY.version,
          healthy: () => etcdEngine?.health().ready ?? false,
        });
        listeners.gateways.push(gateway);
        return gateway;
      };
      const listenEtcdPort = (server: GrpcServer, gateway: EtcdGateway, host: string, port: number) => {
        const sniffer = createProtocolSniffer({ http2: server, http1: gateway });
        listeners.sniffers.push(sniffer);
        return sniffer.listen(host, port);
      };

      // HTTP: a plain server per listen address; fastify, shared by them, is built on the first request that
      // needs it (not for probes and plain GETs: see http-api-listener.ts, memory per pod).
      const recorder = new HttpCallRecorder({ inFlight, metrics });
      const httpApi = new HttpApiListener({
        ctx,
        accounting: recorder,
        build: async (serverFactory) => {
          const { createHttpServer } = await import('./api/http/server');
          return createHttpServer(ctx, [], [(a) => instrumentHttp(a, recorder)], recorder, serverFactory);
        },
      });
      listeners.http.push(httpApi);
      for (const host of config.listenAddresses) {
        const port = ports.http || config.httpPort;
        ports.http = await httpApi.listen(host, port).catch((err: unknown) => {
          throw listenError({ flag: '--dapr-http-port', host, port }, err);
        });
      }

      // gRPC: the Dapr service, plus the etcd API on the same port.
      const grpcServer = createGrpcServer(
        ctx,
        [grpcHealth.registrar, ...(etcdRegistrar ? [etcdRegistrar] : [])],
        layers,
      );
      listeners.grpc.push(grpcServer);
      const daprGateway = etcdRegistrar ? gatewayFor(grpcServer, config.maxBodySize) : undefined;
      for (const host of config.listenAddresses) {
        const port = ports.grpc || config.grpcPort;
        const listening = daprGateway
          ? listenEtcdPort(grpcServer, daprGateway, host, port)
          : bindGrpc(grpcServer, host, port);
        ports.grpc = await listening.catch((err: unknown) => {
          throw listenError({ flag: '--dapr-grpc-port', host, port }, err);
        });
      }

      // The etcd API on a port of its own (etcd's limits; no Dapr API token there).
      if (config.etcdPort !== undefined && etcdRegistrar) {
        const etcdOptions = etcdGrpcServerOptions(layers);
        const etcdServer = new GrpcServer(etcdOptions);
        etcdRegistrar(etcdServer);
        grpcHealth.registrar(etcdServer);
        addReflection(etcdServer);
        listeners.grpc.push(etcdServer);
        const etcdGateway = gatewayFor(etcdServer, etcdOptions.maxReceiveMessageLength!);
        for (const host of config.listenAddresses) {
          const port = ports.etcd || config.etcdPort;
          ports.etcd = await listenEtcdPort(etcdServer, etcdGateway, host, port).catch((err: unknown) => {
            throw listenError({ flag: '--etcd-port', host, port }, err);
          });
        }
      } else if (config.etcdPort !== undefined) {
        log.warn('--etcd-port given but no state store is configured: the etcd API is not served');
      }

      if (metrics && config.metricsPort !== undefined) {
        const host = config.listenAddresses[0] ?? '127.0.0.1';
        const port = config.metricsPort;
        listeners.metrics = await metrics.listen(port, host).catch((err: unknown) => {
          throw listenError({ flag: '--metrics-port', host, port }, err);
        });
        const addr = listeners.metrics.address();
        if (addr && typeof addr === 'object') ports.metrics = addr.port;
      }

      sidecar = new Sidecar(config, log, components, listeners, inFlight, ports);
      sidecar.announceReadiness({
        httpPort: ports.http,
        grpcPort: ports.grpc,
        etcdPort: ports.etcd,
        metricsPort: ports.metrics,
        components: components.components.map((c) => `${c.name} (${c.type})`),
        leftOut: plan.leftOut.size > 0 ? [...plan.leftOut.keys()] : undefined,
        etcdStore: components.etcdStoreName,
      });
      return sidecar;
    } catch (err) {
      forceClose(listeners);
      await Promise.race([closeListeners(listeners), new Promise((r) => setTimeout(r, 1000))]);
      await components.close();
      throw err;
    }
  }

  /**
   * Log "statecar is ready" once every component is: at once when they all are, else a warning per component that
   * is not (with its backend's reason, e.g. Redis unreachable) and the ready line when the last one comes up.
   */
  private announceReadiness(fields: Record<string, unknown>): void {
    const unready = this.components.unready();
    if (unready.length === 0) {
      this.log.info(fields, 'statecar is ready');
      return;
    }
    this.log.info(fields, 'statecar is listening; waiting for its components');
    for (const u of unready) this.log.warn(`component ${u.name} (${u.type}) is not ready: ${u.reason}`);
    this.readinessTimer = setInterval(() => {
      if (this.components.unready().length > 0) return;
      clearInterval(this.readinessTimer);
      this.readinessTimer = undefined;
      this.log.info('statecar is ready');
    }, READINESS_POLL_MS);
    this.readinessTimer.unref();
  }

  /**
   * Graceful stop, as daprd on SIGTERM: stop accepting, let in-flight requests finish, close the engines (watchers
   * get their cancel, durable stores flush), then wait for the listeners, all within
   * `--dapr-graceful-shutdown-seconds`; connections still open at the deadline are cut. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.readinessTimer);
      const seconds = this.config.gracefulShutdownSeconds ?? DEFAULT_GRACEFUL_SHUTDOWN_SECONDS;
      this.log.info('statecar is shutting down');
      const clean = await shutdownGracefully(
        {
          stopAccepting: () => closeListeners(this.listeners),
          inFlight: this.inFlight,
          closeEngines: () => this.components.close(),
          // Streams whose clients keep them open after their cancel (etcd Watch) are cut shortly after, not at
          // the deadline.
          forceClose: () => forceClose(this.listeners),
        },
        // Leave a little of the period for cutting what is left.
        Math.max(0, seconds * 1000 - 250),
        this.log,
      );
      if (!clean) forceClose(this.listeners);
    })();
    return this.stopping;
  }
}

/** How often readiness is looked at while a component is not ready (for the "ready" line). */
const READINESS_POLL_MS = 250;

/** Every port the configuration binds (checked before the stores are opened). */
function wantedPorts(config: SidecarConfig): WantedPort[] {
  const out: WantedPort[] = [];
  for (const host of config.listenAddresses) {
    out.push({ flag: '--dapr-http-port', host, port: config.httpPort });
    out.push({ flag: '--dapr-grpc-port', host, port: config.grpcPort });
    if (config.etcdPort !== undefined) out.push({ flag: '--etcd-port', host, port: config.etcdPort });
  }
  if (config.metricsPort !== undefined) {
    out.push({
      flag: '--metrics-port',
      host: config.listenAddresses[0] ?? '127.0.0.1',
      port: config.metricsPort,
    });
  }
  return out;
}

/** The etcd auth settings from the etcd-API store's metadata; a bad field fails the start like any component error. */
function etcdAuthOptionsOf(
  plan: ComponentPlan,
  defs: ComponentDefinition[],
  store: string | undefined,
): EtcdAuthOptions {
  const def = defs.find((d) => d.name === store);
  if (!def) return {};
  try {
    // Under canonical names: metadata names are matched case-insensitively, as Dapr does.
    return etcdAuthOptionsFrom(plan.metadataOf(def.name) ?? {});
  } catch (err) {
    if (err instanceof AuthOptionsError) {
      throw new ComponentConfigError(def.file, `spec.metadata.${err.field}`, err.message);
    }
    throw err;
  }
}

/** Everything that listens. */
interface Listeners {
  http: HttpApiListener[];
  grpc: GrpcServer[];
  /** Ports that tell gRPC from HTTP/1.1 per connection, and the etcd JSON gateways behind them. */
  sniffers: ProtocolSniffer[];
  gateways: EtcdGateway[];
  metrics?: http.Server;
  /** The gRPC ports' health service: NOT_SERVING from the moment they stop accepting. */
  grpcHealth?: GrpcHealth;
}

/** Stop accepting and resolve once every listener has closed (streams end when the engines close). */
async function closeListeners(l: Listeners): Promise<void> {
  l.grpcHealth?.stop();
  await Promise.allSettled([
    ...l.http.map((a) => a.close()),
    ...l.grpc.map((s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve()))),
    ...l.gateways.map((g) => g.close()),
    ...l.sniffers.map((s) => s.close()),
    l.metrics ? new Promise<void>((resolve) => l.metrics?.close(() => resolve())) : undefined,
  ]);
}

/** Cut whatever is still open. */
function forceClose(l: Listeners): void {
  for (const a of l.http) a.closeAllConnections();
  for (const s of l.grpc) s.forceShutdown();
  for (const g of l.gateways) g.destroyConnections();
  for (const s of l.sniffers) s.destroyConnections();
  l.metrics?.closeAllConnections();
}
