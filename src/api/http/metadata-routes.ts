/**
 * Metadata routes: GET /v1.0/metadata (the JSON the SDKs probe for readiness) and PUT /v1.0/metadata/{key}, which
 * stores the raw body text as an extended attribute.
 */
import type { FastifyInstance } from 'fastify';
import type { DaprApiContext } from '../api-context';
import { sendJson } from './http-errors';
import { metadataSnapshot } from '../metadata-api';
import { bodyBytes, pathParam } from './request-input';

/** Register the metadata routes. */
export function registerMetadataRoutes(app: FastifyInstance, ctx: DaprApiContext): void {
  app.get('/v1.0/metadata', async (_req, reply) => {
    const m = metadataSnapshot(ctx);
    // Field order and omissions as daprd: empty lists are left out.
    const body: Record<string, unknown> = { id: m.id, runtimeVersion: m.runtimeVersion };
    if (m.enabledFeatures.length > 0) body.enabledFeatures = m.enabledFeatures;
    if (m.components.length > 0) {
      body.components = m.components.map((c) => ({
        name: c.name,
        type: c.type,
        version: c.version,
        ...(c.capabilities.length > 0 ? { capabilities: c.capabilities } : {}),
      }));
    }
    // Go writes map keys sorted.
    body.extended = Object.fromEntries(
      Object.entries(m.extended).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    // Go's encoding/json does not omit empty structs, so these two are always present.
    body.appConnectionProperties = {};
    body.actorRuntime = { runtimeStatus: 'DISABLED', hostReady: false };
    return sendJson(reply, 200, JSON.stringify(body));
  });

  app.put('/v1.0/metadata/:key', async (req, reply) => {
    ctx.extendedMetadata.set(pathParam(req, 2), bodyBytes(req).toString('utf8'));
    return reply.code(204).send();
  });
}
