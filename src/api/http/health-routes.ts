/**
 * Health routes: 204 only when every component is ready (else 500 ERR_HEALTH_NOT_READY), an `appid` query that is
 * not this app's id → 500 ERR_HEALTH_APPID_NOT_MATCH. Both are exempt from the API token.
 */
import type { FastifyInstance } from 'fastify';
import type { DaprApiContext } from '../api-context';
import { DaprError } from '../dapr-errors';
import { queryParam } from './request-input';

/** Paths reachable without the API token (as daprd's `publicEndpoints` on the main port). */
export const HEALTH_PATHS = ['/v1.0/healthz', '/v1.0/healthz/outbound'];

/** Register the health routes. */
export function registerHealthRoutes(app: FastifyInstance, ctx: DaprApiContext): void {
  app.get('/v1.0/healthz', async (req, reply) => {
    const appid = queryParam(req, 'appid');
    if (appid !== undefined && appid !== '' && appid !== ctx.appId)
      throw new DaprError('HEALTH_APPID_NOT_MATCH');
    const h = ctx.health();
    if (!h.ready) throw new DaprError('HEALTH_NOT_READY', { error: h.reason ?? 'components not ready' });
    return reply.code(204).send();
  });

  app.get('/v1.0/healthz/outbound', async (_req, reply) => {
    // Outbound = the APIs apps call: ready once the components are.
    if (!ctx.health().ready) throw new DaprError('OUTBOUND_HEALTH_NOT_READY');
    return reply.code(204).send();
  });
}
