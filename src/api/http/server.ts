/**
 * The Dapr HTTP API server (fastify): routes, the API token check, the body limit and Dapr's error rendering.
 */
import Fastify from 'fastify';
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyServerFactory,
  FastifyServerOptions,
} from 'fastify';
import type { DaprApiContext } from '../api-context';
import { DaprError, isDaprError } from '../dapr-errors';
import { HEALTH_PATHS, registerHealthRoutes } from './health-routes';
import { sendError } from './http-errors';
import { installFastStateGet, type HttpCallAccounting } from './fast-state-get';
import { registerConfigurationRoutes } from './configuration-routes';
import {
  answerBeforeRouting,
  clientErrorHandler,
  frameworkErrorHandler,
  requireHost,
} from './protocol-errors';
import { registerLockRoutes } from './lock-routes';
import { registerMetadataRoutes } from './metadata-routes';
import { registerQueryRoutes } from './query-routes';
import { registerStateRoutes } from './state-routes';
import { registerWatchRoute } from './watch-sse';

type CompilersFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;

/** fastify's default schema compilers (ajv, fast-json-stringify), loaded the first time a schema is compiled. */
const LAZY_SCHEMA_COMPILERS = {
  buildValidator: lazyFactory('@fastify/ajv-compiler'),
  buildSerializer: lazyFactory('@fastify/fast-json-stringify-compiler'),
} as CompilersFactory;

/** A compiler factory that loads `selectorModule` (a function returning the factory) on its first call. */
function lazyFactory(selectorModule: string): (...args: unknown[]) => unknown {
  let factory: ((...args: unknown[]) => unknown) | undefined;
  return (...args) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see createHttpServer)
    factory ??= (require(selectorModule) as () => (...a: unknown[]) => unknown)();
    return factory(...args);
  };
}

/** Adds routes to the server. */
export type HttpRegistrar = (app: FastifyInstance) => void;

/**
 * Build the HTTP API (not yet listening). `registrars` add routes after Dapr's; `instrumentation` runs before any
 * route is declared (hooks such as metrics or in-flight tracking); `accounting` is the same bookkeeping for the
 * GET fast path, which serves plain state reads without fastify (fast-state-get.ts).
 *
 * With `serverFactory` the instance owns no port: it routes the requests it is handed by the factory's caller
 * (http-api-listener.ts, which then also answers what comes before routing, the fast paths and the 503s of a
 * closing server). Without it, fastify's own server listens, with all of that installed on it.
 */
export function createHttpServer(
  ctx: DaprApiContext,
  registrars: HttpRegistrar[] = [],
  instrumentation: HttpRegistrar[] = [],
  accounting?: HttpCallAccounting,
  serverFactory?: FastifyServerFactory,
): FastifyInstance {
  const app: FastifyInstance = Fastify({
    ...(serverFactory ? { serverFactory } : {}),
    // fastify logs every request at info level; only show that when debugging.
    loggerInstance: ctx.log.child(
      { api: 'http' },
      { level: ['trace', 'debug'].includes(ctx.log.level) ? ctx.log.level : 'warn' },
    ) as FastifyBaseLogger,
    // fastify would make a child logger (bound to the request id) for every request; that costs on every call for
    // lines that are only written on errors. Requests log through the server's logger instead.
    childLoggerFactory: (logger) => logger,
    bodyLimit: ctx.maxBodySize,
    // Requests the HTTP layer refuses before routing get Dapr error bodies too (protocol-errors.ts).
    http: { requireHostHeader: false },
    clientErrorHandler: clientErrorHandler(ctx.appId),
    frameworkErrors: frameworkErrorHandler(ctx.appId),
    // No route declares a fastify (JSON Schema) schema: requests are checked with zod beside the handlers. fastify
    // would load ajv and fast-json-stringify (~240 modules, ~4 MB of a sidecar's memory) when the instance is built;
    // these factories load them on first use only, so a route with a schema still works as with the defaults.
    schemaController: { compilersFactory: LAZY_SCHEMA_COMPILERS },
    routerOptions: {
      // daprd's chi router cleans duplicate slashes and tolerates one trailing slash.
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      // Keys may be long; find-my-way's default limit of 100 characters per parameter is too small.
      maxParamLength: 64 * 1024,
    },
  });

  // Dapr reads bodies as bytes whatever their Content-Type; handlers decide how to parse them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  if (!serverFactory) {
    answerBeforeRouting(app.server, ctx.appId);
    // Once a close begins fastify answers every request itself (503, `Connection: close`).
    let closing = false;
    app.addHook('preClose', (done) => {
      closing = true;
      done();
    });
    installFastStateGet(app.server, ctx, accounting, () => closing);
  }
  for (const instrument of instrumentation) instrument(app);
  app.addHook('onRequest', async (req) => requireHost(req));

  if (ctx.apiToken !== undefined) {
    const token = ctx.apiToken;
    app.addHook('onRequest', async (req, reply) => {
      const path = (req.raw.url ?? '').split('?')[0].replace(/\/+$/, '');
      if (req.method === 'GET' && HEALTH_PATHS.includes(path)) return;
      if (req.headers['dapr-api-token'] !== token) {
        // Go's http.Error: plain text with a trailing newline.
        return reply
          .code(401)
          .header('content-type', 'text/plain; charset=utf-8')
          .send('invalid api token\n');
      }
      // The token is not passed on to handlers.
      delete req.headers['dapr-api-token'];
    });
  }

  app.setErrorHandler((err: FastifyError | DaprError | Error, req, reply) => {
    if (isDaprError(err)) return sendError(reply, err, ctx.appId);
    const fe = err as FastifyError;
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // fastify would close the connection at once, while the client is still sending: it then fails with EPIPE
      // instead of reading the 400. Keeping the connection lets Node read the rest of the body and drop it, as
      // daprd lets its clients finish.
      reply.removeHeader('connection');
      // And make sure the rest is read, whatever state fastify's body reader left the request in: Node drains a
      // request by itself at the end of the answer only if nothing read from it, and a request left paused would
      // block the client in its write on a connection nobody reads.
      req.raw.resume();
      return sendError(reply, new DaprError('BODY_TOO_LARGE', { limit: ctx.maxBodySize }), ctx.appId);
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return sendError(reply, new DaprError('MALFORMED_REQUEST', { error: fe.message }), ctx.appId);
    }
    req.log.error({ err }, 'unexpected error');
    return sendError(reply, new DaprError('INTERNAL', { error: err.message }), ctx.appId);
  });

  // Unmatched paths and methods fall through to service invocation in daprd; without an app id that is a 404.
  app.setNotFoundHandler((_req, reply) => sendError(reply, new DaprError('DIRECT_INVOKE'), ctx.appId));

  registerHealthRoutes(app, ctx);
  registerMetadataRoutes(app, ctx);
  registerStateRoutes(app, ctx);
  registerQueryRoutes(app, ctx);
  registerWatchRoute(app, ctx);
  registerConfigurationRoutes(app, ctx);
  registerLockRoutes(app, ctx);
  for (const register of registrars) register(app);
  return app;
}
