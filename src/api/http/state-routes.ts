/**
 * The state routes of Dapr's HTTP API (docs/dapr-api.md#save to #transaction): save, get, delete, bulk get and
 * transaction (query and list: query-routes.ts). Values arrive as JSON and are stored re-serialised the way Dapr's
 * stores write them (see json-value.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { BulkEntry, DeleteItem, SaveItem, TransactionOp } from '../../state/state-store';
import { goJsonStringify, isValidJson } from '../../state/json-value';
import type { DaprApiContext } from '../api-context';
import { sendJson } from './http-errors';
import { DaprError, stateFailure } from '../dapr-errors';
import { stateStoreOrThrow } from '../store-lookup';
import { foldKeys, parseJsonBody, pathParam, pathParams, queryMetadata, queryParam } from './request-input';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON object decoded into a Go struct: keys matched case-insensitively. */
const goStruct = <T extends z.ZodRawShape>(shape: T) =>
  z.preprocess((v) => (isObject(v) ? foldKeys(v, Object.keys(shape)) : v), z.object(shape));

const stringMap = z.record(z.string(), z.string()).nullable().optional();

/** `options` of an item: strings, validated by the store (unknown values are a 500 there, as in Dapr). */
const optionsSchema = goStruct({
  concurrency: z.string().nullable().optional(),
  consistency: z.string().nullable().optional(),
})
  .nullable()
  .optional();

/** One item of a save body (components-contrib SetRequest). Unknown fields are accepted. */
const saveItemSchema = goStruct({
  key: z.string().nullable().optional(),
  value: z.unknown().optional(),
  // Must be a JSON string: a number is a malformed request.
  etag: z.string().nullable().optional(),
  metadata: stringMap,
  options: optionsSchema,
  contentType: z.string().nullable().optional(),
});

const saveBodySchema = z.array(saveItemSchema);

/** Bulk get body. */
const bulkBodySchema = goStruct({
  keys: z.array(z.string()).nullable().optional(),
  parallelism: z.number().int().nullable().optional(),
  metadata: stringMap,
});

/** Transaction body; each `request` is decoded like a save item (mapstructure, also case-insensitive). */
const transactionBodySchema = goStruct({
  operations: z
    .array(
      goStruct({
        operation: z.string().nullable().optional(),
        request: saveItemSchema.nullable().optional(),
      }),
    )
    .nullable()
    .optional(),
  metadata: stringMap,
});

/** A zod failure as a malformed request, naming the JSON path. */
function malformed(error: z.ZodError, prefix = ''): DaprError {
  const issue = error.issues[0];
  const at = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  return new DaprError('MALFORMED_REQUEST', { error: `${prefix}json: ${issue.message}${at}` });
}

function options(o: z.infer<typeof optionsSchema>): SaveItem['options'] {
  return { concurrency: o?.concurrency ?? undefined, consistency: o?.consistency ?? undefined };
}

/** Encode a bulk-get answer with `data` as raw JSON, or undefined when a value is not JSON (see below). */
function bulkJson(items: BulkEntry[]): string | undefined {
  const parts: string[] = [];
  for (const it of items) {
    const f = [`"key":${JSON.stringify(it.key)}`];
    if (it.data && it.data.length > 0) {
      // Go writes `data` as json.RawMessage, which its encoder validates; one non-JSON value fails the encoding.
      if (!isValidJson(it.data)) return undefined;
      f.push(`"data":${it.data.toString('utf8')}`);
    }
    if (it.etag) f.push(`"etag":${JSON.stringify(it.etag)}`);
    if (Object.keys(it.metadata).length > 0) f.push(`"metadata":${JSON.stringify(it.metadata)}`);
    if (it.error) f.push(`"error":${JSON.stringify(it.error)}`);
    parts.push(`{${f.join(',')}}`);
  }
  return `[${parts.join(',')}]`;
}

/** Register the state routes. */
export function registerStateRoutes(app: FastifyInstance, ctx: DaprApiContext): void {
  // GET /v1.0/state/{store}/{key}
  app.get('/v1.0/state/:storeName/:key', async (req, reply) => {
    const [storeName, key] = pathParams(req, 2, 3);
    const { store } = stateStoreOrThrow(ctx, storeName);
    const consistency = queryParam(req, 'consistency');
    let entry;
    try {
      entry = await store.get(key, { consistency, metadata: queryMetadata(req) });
    } catch (err) {
      throw stateFailure('get', storeName, key, err);
    }
    // Not found, and (as in Dapr) an empty stored value, is 204 without body or ETag.
    if (!entry.data || entry.data.length === 0) return reply.code(204).send();
    reply.header('content-type', 'application/json');
    if (entry.etag) reply.header('etag', entry.etag);
    for (const k in entry.metadata) reply.header(`metadata.${k}`, entry.metadata[k]);
    return reply.code(200).send(entry.data);
  });

  // POST/PUT /v1.0/state/{store}
  const save = async (req: FastifyRequest, reply: FastifyReply) => {
    const storeName = pathParam(req, 2);
    const { store } = stateStoreOrThrow(ctx, storeName);
    const parsed = saveBodySchema.safeParse(parseJsonBody(req));
    if (!parsed.success) throw malformed(parsed.error);
    if (parsed.data.length === 0) return reply.code(204).send();
    const urlMeta = queryMetadata(req);
    const items: SaveItem[] = parsed.data.map((it) => {
      if (!it.key) throw new DaprError('MALFORMED_REQUEST', { error: '"key" is a required field' });
      return {
        key: it.key,
        value: Buffer.from(goJsonStringify(it.value), 'utf8'),
        etag: it.etag ?? undefined,
        metadata: { ...(it.metadata ?? {}), ...urlMeta },
        options: options(it.options),
      };
    });
    try {
      await store.save(items);
    } catch (err) {
      throw stateFailure('save', storeName, items.length === 1 ? items[0].key : '', err);
    }
    return reply.code(204).send();
  };
  app.post('/v1.0/state/:storeName', save);
  app.put('/v1.0/state/:storeName', save);

  // DELETE /v1.0/state/{store}/{key}
  app.delete('/v1.0/state/:storeName/:key', async (req, reply) => {
    const storeName = pathParam(req, 2);
    const key = pathParam(req, 3);
    const { store } = stateStoreOrThrow(ctx, storeName);
    const ifMatch = req.headers['if-match'];
    const item: DeleteItem = {
      key,
      etag: Array.isArray(ifMatch) ? ifMatch[0] : ifMatch,
      metadata: queryMetadata(req),
      options: { concurrency: queryParam(req, 'concurrency'), consistency: queryParam(req, 'consistency') },
    };
    try {
      await store.delete([item]);
    } catch (err) {
      throw stateFailure('delete', storeName, key, err);
    }
    return reply.code(204).send();
  });

  // POST/PUT /v1.0/state/{store}/bulk
  const bulk = async (req: FastifyRequest, reply: FastifyReply) => {
    const storeName = pathParam(req, 2);
    const { store } = stateStoreOrThrow(ctx, storeName);
    const prefix = 'failed deserializing HTTP body: ';
    const parsed = bulkBodySchema.safeParse(parseJsonBody(req, prefix));
    if (!parsed.success) throw malformed(parsed.error, prefix);
    const keys = parsed.data.keys ?? [];
    const metadata = { ...(parsed.data.metadata ?? {}), ...queryMetadata(req) };
    let items: BulkEntry[];
    try {
      items = await store.bulkGet(keys, parsed.data.parallelism ?? 0, { metadata });
    } catch (err) {
      // Only request-wide failures land here (an illegal key); per-key failures are in the items.
      throw stateFailure('bulkGet', storeName, '', err);
    }
    const body = bulkJson(items);
    if (body === undefined) {
      req.log.warn(
        { store: storeName },
        'bulk get: a stored value is not JSON; answering with an empty body as daprd',
      );
      return sendJson(reply, 200, '');
    }
    return sendJson(reply, 200, body);
  };
  app.post('/v1.0/state/:storeName/bulk', bulk);
  app.put('/v1.0/state/:storeName/bulk', bulk);

  // POST/PUT /v1.0/state/{store}/transaction
  const transaction = async (req: FastifyRequest, reply: FastifyReply) => {
    const storeName = pathParam(req, 2);
    const { store } = stateStoreOrThrow(ctx, storeName);
    const parsed = transactionBodySchema.safeParse(parseJsonBody(req));
    if (!parsed.success) throw malformed(parsed.error);
    const rawOps = parsed.data.operations ?? [];
    if (rawOps.length === 0) return reply.code(204).send();
    const urlMeta = queryMetadata(req);
    const ops: TransactionOp[] = rawOps.map((op) => {
      const r = op.request ?? {};
      const request: SaveItem = {
        key: r.key ?? '',
        value: Buffer.from(goJsonStringify(r.value), 'utf8'),
        etag: r.etag ?? undefined,
        metadata: { ...(r.metadata ?? {}), ...urlMeta },
        options: options(r.options),
      };
      return { operation: op.operation ?? '', request };
    });
    try {
      await store.transact(ops);
    } catch (err) {
      throw stateFailure('transaction', storeName, '', err);
    }
    return reply.code(204).send();
  };
  app.post('/v1.0/state/:storeName/transaction', transaction);
  app.put('/v1.0/state/:storeName/transaction', transaction);
}
