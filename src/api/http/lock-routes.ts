/**
 * The lock routes (docs/dapr-api.md#locks): TryLock and Unlock. Bodies are parsed like protojson: camelCase or
 * proto field names, unknown fields dropped, and the expiry may be a number or a quoted integer.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { DaprApiContext } from '../api-context';
import { sendJson } from './http-errors';
import { DaprError } from '../dapr-errors';
import { tryLock, unlock } from '../lock-api';
import { parseJsonBody, pathParam } from './request-input';

/** protojson accepts both the json_name and the proto name of a field. */
const alias = (obj: Record<string, unknown>, json: string, proto: string): unknown => obj[json] ?? obj[proto];

const int32 = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);

const tryLockSchema = z.preprocess(
  (v) =>
    typeof v === 'object' && v !== null
      ? {
          resourceId: alias(v as Record<string, unknown>, 'resourceId', 'resource_id'),
          lockOwner: alias(v as Record<string, unknown>, 'lockOwner', 'lock_owner'),
          expiryInSeconds: alias(v as Record<string, unknown>, 'expiryInSeconds', 'expiry_in_seconds'),
        }
      : v,
  z.object({
    resourceId: z.string().optional(),
    lockOwner: z.string().optional(),
    expiryInSeconds: int32.optional(),
  }),
);

const unlockSchema = z.preprocess(
  (v) =>
    typeof v === 'object' && v !== null
      ? {
          resourceId: alias(v as Record<string, unknown>, 'resourceId', 'resource_id'),
          lockOwner: alias(v as Record<string, unknown>, 'lockOwner', 'lock_owner'),
        }
      : v,
  z.object({ resourceId: z.string().optional(), lockOwner: z.string().optional() }),
);

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new DaprError('MALFORMED_REQUEST', {
      error: `proto: ${issue.path.join('.') || 'body'}: ${issue.message}`,
    });
  }
  return r.data;
}

/** Register the lock routes. */
export function registerLockRoutes(app: FastifyInstance, ctx: DaprApiContext): void {
  app.post('/v1.0-alpha1/lock/:storeName', async (req, reply) => {
    const storeName = pathParam(req, 2);
    const body = parse(tryLockSchema, parseJsonBody(req));
    const success = await tryLock(ctx, {
      storeName,
      resourceId: body.resourceId ?? '',
      lockOwner: body.lockOwner ?? '',
      expiryInSeconds: body.expiryInSeconds ?? 0,
    });
    return sendJson(reply, 200, JSON.stringify({ success }));
  });

  app.post('/v1.0-alpha1/unlock/:storeName', async (req, reply) => {
    const storeName = pathParam(req, 2);
    const body = parse(unlockSchema, parseJsonBody(req));
    const status = await unlock(ctx, {
      storeName,
      resourceId: body.resourceId ?? '',
      lockOwner: body.lockOwner ?? '',
    });
    return sendJson(reply, 200, JSON.stringify({ status }));
  });
}
