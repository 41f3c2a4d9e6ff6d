/**
 * The state Query API (`POST|PUT /v1.0-alpha1/state/{store}/query`, Dapr's route and response shape) and List keys
 * (`GET /v1.0-alpha1/state/{store}`, and `GET /v1.0/state/{store}/` as the List API proposal names it).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidJson } from '../../state/json-value';
import type { QueryResult } from '../../state/state-query';
import { queryMetadata } from '../../state/state-query';
import type { DaprApiContext } from '../api-context';
import { DaprError } from '../dapr-errors';
import { listStateKeys, queryStateStore } from '../query-api';
import { sendJson } from './http-errors';
import { bodyBytes, pathParam, queryParam } from './request-input';

/**
 * Dapr's query answer: `data` is the stored JSON inserted as it is; a value that is not JSON (saved as raw bytes
 * over gRPC) cannot be, so its item carries an `error` instead. Go's encoder ends the text with a newline.
 */
function queryJson(r: QueryResult): string {
  const items = r.results.map((it) => {
    const f = [`"key":${JSON.stringify(it.key)}`];
    if (isValidJson(it.data)) f.push(`"data":${it.data.toString('utf8')}`);
    else f.push(`"error":${JSON.stringify('the value is not JSON: read it with GET')}`);
    if (it.etag) f.push(`"etag":${JSON.stringify(it.etag)}`);
    return `{${f.join(',')}}`;
  });
  const token = r.token ? `,"token":${JSON.stringify(r.token)}` : '';
  return `{"results":[${items.join(',')}]${token},"metadata":${JSON.stringify(queryMetadata(r))}}\n`;
}

/** A whole-number query parameter, or the malformed-request error. */
function intParam(req: FastifyRequest, name: string): number | undefined {
  const v = queryParam(req, name);
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) {
    throw new DaprError('MALFORMED_REQUEST', {
      error: `${name} must be a whole number, got ${JSON.stringify(v)}`,
    });
  }
  return Number(v);
}

/** Register the query and list routes. */
export function registerQueryRoutes(app: FastifyInstance, ctx: DaprApiContext): void {
  const query = async (req: FastifyRequest, reply: FastifyReply) => {
    const result = await queryStateStore(ctx, pathParam(req, 2), bodyBytes(req).toString('utf8'));
    // No results: 204 without a body (and without the token), as daprd.
    if (result.results.length === 0) return reply.code(204).send();
    return sendJson(reply, 200, queryJson(result));
  };
  app.post('/v1.0-alpha1/state/:storeName/query', query);
  app.put('/v1.0-alpha1/state/:storeName/query', query);

  const list = async (req: FastifyRequest, reply: FastifyReply) => {
    const result = await listStateKeys(ctx, pathParam(req, 2), {
      prefix: queryParam(req, 'prefix'),
      limit: intParam(req, 'page_limit'),
      token: queryParam(req, 'page_token') || undefined,
    });
    const body: Record<string, unknown> = { keys: result.keys };
    if (result.token) body.next_page_token = result.token;
    return sendJson(reply, 200, JSON.stringify(body));
  };
  app.get('/v1.0-alpha1/state/:storeName', list);
  app.get('/v1.0/state/:storeName', list);
}
