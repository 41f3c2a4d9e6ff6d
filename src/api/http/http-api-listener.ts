/**
 * The Dapr HTTP API's ports: plain `node:http` servers from the start, with fastify (server.ts) built the first
 * time a request needs it, once, and shared by every port.
 *
 * Why: a sidecar runs beside every pod's app, so what it holds is paid once per pod. fastify and its instance
 * (router, hooks, reply machinery, the routes' modules) cost ~5.5–6 MB of RSS (docs/performance.md, issue 17),
 * also in pods whose app only talks gRPC, as most Dapr SDKs do by default. There, all that reaches the HTTP port
 * is Kubernetes' probes (`GET /v1.0/healthz`) and the SDKs' wait for `/v1.0/healthz/outbound`; those, like the
 * plain state GET, are answered here without fastify (health-routes.ts servePlainHealth, fast-state-get.ts), in
 * the same bytes and counted the same way. Every other request is handed to fastify untouched.
 *
 * What fastify did on its own server is done here, the same way, for every port: its server settings, the answers
 * before routing (protocol-errors.ts), and the 503 of a closing server.
 */
import dns from 'node:dns/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import type { DaprApiContext } from '../api-context';
import { DaprError } from '../dapr-errors';
import { fastStateGet, type HttpCallAccounting, type RequestListener } from './fast-state-get';
import { servePlainHealth } from './health-routes';
import { writeError } from './http-errors';
import { answerBeforeRouting, clientErrorHandler } from './protocol-errors';

/** fastify's default `keepAliveTimeout`, kept so answers still say `Keep-Alive: timeout=72`. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/** fastify's answer to a request reaching a closing server (its `return503OnClosing`), byte for byte. */
const CLOSING_BODY = '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}';
const CLOSING_BODY_BYTES = String(Buffer.byteLength(CLOSING_BODY));

/**
 * Builds the fastify instance that routes the requests handed to it; `serverFactory` is to be passed to fastify
 * as its option of that name (the port's own servers stay outside fastify).
 */
export type FastifyBuilder = (
  serverFactory: FastifyServerFactory,
) => FastifyInstance | Promise<FastifyInstance>;

/** Options of {@link HttpApiListener}. */
export interface HttpApiListenerOptions {
  ctx: DaprApiContext;
  /** The bookkeeping of the requests answered without fastify (the one fastify's hooks do). */
  accounting?: HttpCallAccounting;
  /** Called at most once at a time, on the first request fastify must serve (again after a failed build). */
  build: FastifyBuilder;
}

/** Answer as fastify does once it is closing: 503, `Connection: close`, its JSON. */
function refuseClosing(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.httpVersionMajor !== 2) res.setHeader('Connection', 'close');
  res.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': CLOSING_BODY_BYTES });
  res.end(CLOSING_BODY);
}

/** Listen on `host:port`; rejects with the server's `error` (EADDRINUSE, ...), as fastify's `listen` does. */
function bind(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}

/** The HTTP API on one or more addresses; fastify is built on first need. */
export class HttpApiListener {
  private readonly servers: http.Server[] = [];
  private readonly handle: RequestListener;
  /** fastify's request handler, once its instance is ready. */
  private route?: RequestListener;
  private building?: Promise<RequestListener>;
  private app?: FastifyInstance;
  private closing = false;
  private closed?: Promise<void>;

  constructor(private readonly opts: HttpApiListenerOptions) {
    const { ctx, accounting } = opts;
    const fast = fastStateGet(ctx, accounting, (req, res) => this.toFastify(req, res));
    this.handle = (req, res) => {
      if (this.closing) return refuseClosing(req, res);
      if (servePlainHealth(req, res, ctx, accounting)) return;
      fast(req, res);
    };
  }

  /** Whether fastify has been built (for tests and diagnostics). */
  get fastifyBuilt(): boolean {
    return this.route !== undefined;
  }

  /**
   * Serve on `host:port` (0: a free port); resolves with the bound port. `localhost` is bound as fastify binds it:
   * also on the other addresses it resolves to (127.0.0.1 and ::1), where those can be bound.
   */
  async listen(host: string, port: number): Promise<number> {
    const server = this.newServer();
    await bind(server, host, port);
    const bound = (server.address() as AddressInfo).port;
    if (host === 'localhost') await this.bindOtherLocalhosts(server, bound);
    return bound;
  }

  /** Stop accepting (every port) and resolve once every connection has ended; idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      const servers = this.servers.map(
        // Node's close() also ends the idle keep-alive connections; a port that never listened closes at once.
        (s) => new Promise<void>((resolve) => s.close(() => resolve())),
      );
      // fastify's own close (its onClose and preClose hooks), also if it is being built right now.
      const app = this.building?.then(
        () => this.app?.close(),
        () => undefined,
      );
      await Promise.allSettled([...servers, app]);
    })();
    return this.closed;
  }

  /** Cut every connection still open (the end of a shutdown's grace period). */
  closeAllConnections(): void {
    for (const s of this.servers) s.closeAllConnections();
  }

  /** A port's server, with the settings and the answers fastify gave its own. */
  private newServer(): http.Server {
    const appId = this.opts.ctx.appId;
    // Requests without Host are answered in Dapr's form (protocol-errors.ts requireHost), not by Node.
    const server = http.createServer({ requireHostHeader: false }, this.handle);
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.requestTimeout = 0;
    server.setTimeout(0);
    server.on('clientError', clientErrorHandler(appId));
    answerBeforeRouting(server, appId);
    this.servers.push(server);
    return server;
  }

  /** fastify's `localhost` rule: bind the same port on localhost's other addresses; one that fails is left out. */
  private async bindOtherLocalhosts(main: http.Server, port: number): Promise<void> {
    const primary = (main.address() as AddressInfo).address;
    const addresses = await dns.lookup('localhost', { all: true }).catch(() => []);
    for (const { address } of addresses) {
      if (address === primary) continue;
      const server = this.newServer();
      await bind(server, address, port).catch(() => {
        this.servers.splice(this.servers.indexOf(server), 1);
      });
    }
  }

  /** Hand a request to fastify, building it first if needed. */
  private toFastify(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.closing) return refuseClosing(req, res);
    if (this.route) return this.route(req, res);
    this.fastify().then(
      (route) => {
        // A client gone while fastify was built has nobody to answer (and fastify would count a request in flight
        // whose end it never sees).
        if (req.socket.destroyed || res.destroyed) return;
        if (this.closing) return refuseClosing(req, res);
        route(req, res);
      },
      (err: unknown) => {
        if (req.socket.destroyed || res.destroyed) return;
        const e = new DaprError('INTERNAL', {
          error: `the HTTP API could not be started: ${err instanceof Error ? err.message : String(err)}`,
        });
        writeError(res, e, this.opts.ctx.appId);
      },
    );
  }

  /** The one build of fastify that concurrent first requests wait for; a failed build is tried again later. */
  private fastify(): Promise<RequestListener> {
    this.building ??= this.buildFastify().then(
      (route) => (this.route = route),
      (err: unknown) => {
        this.building = undefined;
        this.opts.ctx.log.error({ err }, 'the HTTP API (fastify) could not be built');
        throw err;
      },
    );
    return this.building;
  }

  private async buildFastify(): Promise<RequestListener> {
    let handler: RequestListener | undefined;
    // fastify gets a server of its own that never listens: it only routes what the ports hand it.
    const app = await this.opts.build((h) => {
      handler = h;
      return http.createServer();
    });
    this.app = app;
    try {
      await app.ready();
    } catch (err) {
      this.app = undefined;
      await app.close().catch(() => undefined);
      throw err;
    }
    if (!handler) throw new Error('fastify did not pass its request handler to the server factory');
    return handler;
  }
}
