/**
 * Request decoding shared by the HTTP routes, following daprd's chi router and Go JSON decoding:
 * path parameters come from the escaped path (so `%2F` stays inside a key and `+` becomes a space, as Go's
 * QueryUnescape does), `metadata.*` query parameters become request metadata (first value wins), and bodies are
 * parsed as JSON whatever the Content-Type.
 */
import type { FastifyRequest } from 'fastify';
import { parseJson } from '../../state/json-value';
import { DaprError } from '../dapr-errors';

/** The path's segments, escaped, without empty ones (daprd cleans duplicate and trailing slashes). */
function rawSegments(req: FastifyRequest): string[] {
  const url = req.raw.url ?? req.url;
  const q = url.indexOf('?');
  const end = q < 0 ? url.length : q;
  // A scan instead of split + filter: this runs on every request, and the usual path has four segments.
  const out: string[] = [];
  let i = 0;
  while (i < end) {
    let j = url.indexOf('/', i);
    if (j < 0 || j > end) j = end;
    if (j > i) out.push(url.slice(i, j));
    i = j + 1;
  }
  return out;
}

/** Go's url.QueryUnescape: `+` is a space, `%XX` a byte. An invalid escape is a malformed request. */
export function queryUnescape(s: string): string {
  // Nothing to unescape (the usual key): skip the regex and decodeURIComponent, which would return `s` unchanged.
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new DaprError('MALFORMED_REQUEST', { error: `invalid URL escape in ${JSON.stringify(s)}` });
  }
}

/** The path segment at `index` (0-based, e.g. `/v1.0/state/{store}/{key}`: store = 2, key = 3), unescaped. */
export function pathParam(req: FastifyRequest, index: number): string {
  return queryUnescape(rawSegments(req)[index] ?? '');
}

/** The path segments at `indexes` (see {@link pathParam}), splitting the path once for all of them. */
export function pathParams(req: FastifyRequest, ...indexes: number[]): string[] {
  const segments = rawSegments(req);
  return indexes.map((i) => queryUnescape(segments[i] ?? ''));
}

/** Query parameters in order with their raw values (fastify's parsed query loses the order of repeats). */
function queryPairs(req: FastifyRequest): [string, string][] {
  const url = req.raw.url ?? req.url;
  const q = url.indexOf('?');
  if (q < 0) return [];
  return [...new URLSearchParams(url.slice(q + 1)).entries()];
}

/** `metadata.<name>=<value>` query parameters as a map, the first value of each name winning. */
export function queryMetadata(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of queryPairs(req)) {
    if (!k.startsWith('metadata.')) continue;
    const name = k.slice('metadata.'.length);
    if (!(name in out)) out[name] = v;
  }
  return out;
}

/** The first value of a query parameter. */
export function queryParam(req: FastifyRequest, name: string): string | undefined {
  return queryPairs(req).find(([k]) => k === name)?.[1];
}

/** The raw body bytes (every content type is read as a buffer). */
export function bodyBytes(req: FastifyRequest): Buffer {
  const b = req.body;
  if (Buffer.isBuffer(b)) return b;
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  return Buffer.alloc(0);
}

/**
 * Parse the body as JSON; failure is 400 ERR_MALFORMED_REQUEST with `prefix` + the parser's message, nesting deeper
 * than Go's decoder allows included (docs/dapr-api.md#errors-before-a-route).
 */
export function parseJsonBody(req: FastifyRequest, prefix = ''): unknown {
  const text = bodyBytes(req).toString('utf8');
  try {
    return parseJson(text);
  } catch (err) {
    const why = text.trim() === '' ? 'unexpected end of JSON input' : (err as Error).message;
    throw new DaprError('MALFORMED_REQUEST', { error: prefix + why });
  }
}

/**
 * Go's encoding/json matches object keys to struct fields case-insensitively when there is no exact match.
 * Returns a copy of `obj` whose keys among `fields` are spelled as declared.
 */
export function foldKeys(obj: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (fields.includes(k)) {
      out[k] = v;
      continue;
    }
    const f = fields.find((name) => name.toLowerCase() === k.toLowerCase());
    if (f !== undefined && !(f in obj)) out[f] = v;
    else out[k] = v;
  }
  return out;
}
