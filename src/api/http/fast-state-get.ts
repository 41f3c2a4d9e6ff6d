/**
 * A hand-written path for the one request a sidecar serves most: `GET /v1.0/state/{store}/{key}` with a plain key
 * and no query. fastify's routing, hooks and reply machinery cost more per request than the store read itself (the
 * bench's HTTP GET row measured 0.6× a do-nothing fastify route through fastify, ~0.85× through this path), so the
 * common shape is answered straight from Node's `request` event and everything else goes to fastify unchanged.
 *
 * The path never answers an error: whatever is unusual (an escape, a query, a missing Host, a wrong API token, an
 * unknown store, a rejected read, a closing server) is handed to fastify, which answers it as it always did. A
 * read that failed is repeated there; reads have no effect, so the client sees exactly one answer, fastify's.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { DaprApiContext } from '../api-context';

/** The bookkeeping the fast path does per request (call-accounting.ts's HttpCallRecorder implements it). */
export interface HttpCallAccounting {
  /** A request starts being served (in flight until {@link finished}). */
  enter(): void;
  /** A request entered with {@link enter} is handed on without an answer (the next path counts it). */
  leave(): void;
  /** A request entered with {@link enter} was answered: leave the in-flight count and record it. */
  finished(route: string, method: string, status: number, startMs: number): void;
}

/** The route pattern fastify declares for the same request, so both paths count into one metric series. */
export const GET_STATE_ROUTE = '/v1.0/state/:storeName/:key';

const PREFIX = '/v1.0/state/';

/**
 * Characters a store name or key may hold on the fast path: unreserved and sub-delimiters, without what a decoder
 * would change (`%` escapes, `+` is a space to Go's QueryUnescape), without `;` (a parameter delimiter to some
 * routers) and `?`/`#`. A segment of anything else, or `.`/`..`, goes through fastify.
 */
const PLAIN_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*,=:@|]+$/;

/** Longest URL the fast path reads; longer ones (long keys) are rare and go through fastify's limits. */
const MAX_URL = 1024;

/** The store name and key of a fast-path request, or undefined when fastify must serve it. */
function plainGet(req: IncomingMessage, apiToken: string | undefined): [string, string] | undefined {
  if (req.method !== 'GET') return undefined;
  const url = req.url;
  if (url === undefined || url.length > MAX_URL || !url.startsWith(PREFIX)) return undefined;
  const slash = url.indexOf('/', PREFIX.length);
  if (slash < 0 || url.indexOf('/', slash + 1) >= 0) return undefined;
  const store = url.slice(PREFIX.length, slash);
  const key = url.slice(slash + 1);
  if (!PLAIN_SEGMENT.test(store) || !PLAIN_SEGMENT.test(key)) return undefined;
  if (key === '.' || key === '..' || store === '.' || store === '..') return undefined;
  const h = req.headers;
  // fastify answers these: HTTP/1.1 without Host, a request body, a token that does not match.
  if (h.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) return undefined;
  if (h['content-length'] !== undefined || h['transfer-encoding'] !== undefined) return undefined;
  if (apiToken !== undefined && h['dapr-api-token'] !== apiToken) return undefined;
  return [store, key];
}

/** A Node `request` listener. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The fast path as a `request` listener in front of `next` (fastify's request handler, or whatever routes the
 * requests the fast path leaves): plain GETs are answered here, everything else, and every read that failed, is
 * handed to `next` untouched.
 */
export function fastStateGet(
  ctx: DaprApiContext,
  accounting: HttpCallAccounting | undefined,
  next: RequestListener,
): RequestListener {
  return (req, res) => {
    const target = plainGet(req, ctx.apiToken);
    const entry = target && ctx.components.stateStores.get(target[0]);
    if (!target || !entry) return next(req, res);
    const startMs = accounting ? performance.now() : 0;
    accounting?.enter();
    entry.store.get(target[1]).then(
      (got) => {
        const data = got.data;
        let status = 204;
        if (!data || data.length === 0) {
          // As the fastify route: not found, or an empty stored value, is 204 without body or ETag.
          res.writeHead(204);
          res.end();
        } else {
          status = 200;
          // fastify's order: the route's headers as set, then the length it computes.
          const headers: Record<string, string | number> = { 'content-type': 'application/json' };
          if (got.etag) headers.etag = got.etag;
          for (const k in got.metadata) headers[`metadata.${k.toLowerCase()}`] = got.metadata[k];
          headers['content-length'] = data.length;
          res.writeHead(200, headers);
          res.end(data);
        }
        accounting?.finished(GET_STATE_ROUTE, 'GET', status, startMs);
      },
      () => {
        // fastify repeats the read and renders its failure in Dapr's form, counting the request itself.
        accounting?.leave();
        next(req, res);
      },
    );
  };
}

/**
 * Put the fast path in front of fastify's request handler on `server` (fastify's own `http.Server`, before it
 * listens). `closing()` true means fastify is shutting down: it then answers every request (503 and
 * `Connection: close`), so the fast path steps aside.
 */
export function installFastStateGet(
  server: Server,
  ctx: DaprApiContext,
  accounting: HttpCallAccounting | undefined,
  closing: () => boolean,
): void {
  const handlers = server.listeners('request') as RequestListener[];
  if (handlers.length !== 1)
    throw new Error(`expected fastify's one request handler, found ${handlers.length}`);
  const fastify = handlers[0];
  const fast = fastStateGet(ctx, accounting, fastify);
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) =>
    closing() ? fastify(req, res) : fast(req, res),
  );
}
