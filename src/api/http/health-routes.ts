/**
 * Health routes: 204 only when every component is ready (else 500 ERR_HEALTH_NOT_READY), an `appid` query that is
 * not this app's id → 500 ERR_HEALTH_APPID_NOT_MATCH. Both are exempt from the API token.
 *
 * The probes' usual shape (a plain GET of either path, no query, no body) is also answered without fastify by
 * {@link servePlainHealth}: they are all that reaches the HTTP port of a pod whose app talks gRPC, and that port's
 * fastify is only built when a request needs it (http-api-listener.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { DaprApiContext } from '../api-context';
import { DaprError } from '../dapr-errors';
import type { HttpCallAccounting } from './fast-state-get';
import { writeError } from './http-errors';
import { queryParam } from './request-input';

/** Paths reachable without the API token (as daprd's `publicEndpoints` on the main port). */
export const HEALTH_PATHS = ['/v1.0/healthz', '/v1.0/healthz/outbound'];

/** The error a health path answers with when the sidecar is not ready, or undefined when it is. */
function unhealthy(ctx: DaprApiContext, outbound: boolean): DaprError | undefined {
  const h = ctx.health();
  if (h.ready) return undefined;
  // Outbound = the APIs apps call: ready once the components are.
  return outbound
    ? new DaprError('OUTBOUND_HEALTH_NOT_READY')
    : new DaprError('HEALTH_NOT_READY', { error: h.reason ?? 'components not ready' });
}

/** Register the health routes. */
export function registerHealthRoutes(app: FastifyInstance, ctx: DaprApiContext): void {
  app.get('/v1.0/healthz', async (req, reply) => {
    const appid = queryParam(req, 'appid');
    if (appid !== undefined && appid !== '' && appid !== ctx.appId)
      throw new DaprError('HEALTH_APPID_NOT_MATCH');
    const err = unhealthy(ctx, false);
    if (err) throw err;
    return reply.code(204).send();
  });

  app.get('/v1.0/healthz/outbound', async (_req, reply) => {
    const err = unhealthy(ctx, true);
    if (err) throw err;
    return reply.code(204).send();
  });
}

/**
 * Answer a health probe of the plain shape (GET of exactly one of {@link HEALTH_PATHS}, no query, no body, a Host
 * when HTTP/1.1 needs one) with the bytes fastify's route sends, counted as fastify counts it; false (nothing
 * done) for any other request, which fastify then serves. The probes need no API token, so none is looked at.
 */
export function servePlainHealth(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: DaprApiContext,
  accounting: HttpCallAccounting | undefined,
): boolean {
  const url = req.url;
  if (req.method !== 'GET' || (url !== HEALTH_PATHS[0] && url !== HEALTH_PATHS[1])) return false;
  const h = req.headers;
  // fastify answers these: HTTP/1.1 without Host (400), a request body (read and dropped).
  if (h.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) return false;
  if (h['content-length'] !== undefined || h['transfer-encoding'] !== undefined) return false;
  const startMs = accounting ? performance.now() : 0;
  accounting?.enter();
  const err = unhealthy(ctx, url === HEALTH_PATHS[1]);
  if (err) {
    writeError(res, err, ctx.appId);
  } else {
    res.writeHead(204);
    res.end();
  }
  accounting?.finished(url, 'GET', err ? err.httpStatus : 204, startMs);
  return true;
}
