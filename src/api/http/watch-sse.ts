/**
 * `GET /v1.0-alpha1/state/{store}/watch`: a state store's changes as Server-Sent Events, for curl and browsers.
 * It is a watch on the store as the app sees it (state-watch.ts): keys as the app names them, values as GET returns
 * them, etags, a TTL expiry as a delete.
 *
 * Query: `key=<k>` watches one key, `prefix=<p>` every key starting with `p`, neither the whole store; `etag=<e>`
 * resumes after that etag (every later change, none missed). The `Last-Event-ID` header (sent by SSE clients when
 * they reconnect) resumes after the last event received and wins over `etag`.
 *
 * The stream opens with `event: watching` whose `id:` is the position the watch starts after, then one event per
 * change: `event: put` with `{key, data, etag, metadata?}` (`data` the stored JSON; a value that is not JSON comes as
 * `dataBase64`) or `event: delete` with `{key, etag}` (the revision of the delete). Each event's `id:` is its
 * revision (`<revision>:<n>` on all but the last change of a transaction), so a reconnect resumes exactly. If the
 * watch cannot go on (the client fell further behind than the store's history reaches), a last `event: error`
 * carries a Dapr error body and the response ends. A comment line every 15 s keeps idle connections open through
 * proxies. See docs/state-views.md.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidJson } from '../../state/json-value';
import type { StateError } from '../../state/state-errors';
import type { StateChange, StateWatch, StateWatchMessage, WatchPosition } from '../../state/state-watch';
import { openStateWatch } from '../../state/state-watch';
import type { DaprApiContext } from '../api-context';
import { DaprError } from '../dapr-errors';
import { stateStoreOrThrow } from '../store-lookup';
import { errorBody } from './http-errors';
import { pathParam, queryParam } from './request-input';

const HEARTBEAT_MS = 15_000;

/** JSON of one change event. */
export interface SseChange {
  key: string;
  data?: unknown;
  dataBase64?: string;
  etag: string;
  metadata?: Record<string, string>;
}

/** An SSE event id: the revision, with the change's place when more of the same revision follow. */
function eventId(c: StateChange): string {
  return c.last ? String(c.revision) : `${c.revision}:${c.index}`;
}

/** The id naming the position just before `from` (what a client that reconnects with it has seen). */
function idBefore(from: WatchPosition): string {
  return from.skip === 0 ? String(from.revision - 1) : `${from.revision}:${from.skip - 1}`;
}

/** Parse an event id back into the position after it. */
function positionAfterId(id: string): WatchPosition | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(id.trim());
  if (!m) return undefined;
  const revision = Number(m[1]);
  if (!Number.isSafeInteger(revision)) return undefined;
  if (m[2] === undefined) return { revision: revision + 1, skip: 0 };
  const index = Number(m[2]);
  return Number.isSafeInteger(index) && revision > 0 ? { revision, skip: index + 1 } : undefined;
}

function changeJson(c: StateChange): SseChange {
  if (c.type === 'DELETE') return { key: c.key, etag: c.etag };
  const value = c.value ?? Buffer.alloc(0);
  const out: SseChange = { key: c.key, etag: c.etag };
  if (isValidJson(value)) out.data = JSON.parse(value.toString('utf8'));
  else out.dataBase64 = value.toString('base64');
  if (Object.keys(c.metadata).length > 0) out.metadata = c.metadata;
  return out;
}

function malformed(message: string): DaprError {
  return new DaprError('MALFORMED_REQUEST', { error: message });
}

/** The Dapr error of a watch failure. */
function watchError(store: string, err: StateError): DaprError {
  if (err.kind === 'COMPACTED') return new DaprError('STATE_WATCH_COMPACTED', { store, error: err.message });
  if (err.kind === 'INVALID_REQUEST') return malformed(err.message);
  return new DaprError('STATE_WATCH', { store, error: err.message }, { cause: err });
}

/** Where the request asks to start: Last-Event-ID, else `etag`, else now. */
function requestedStart(req: FastifyRequest): WatchPosition | undefined {
  const last = req.headers['last-event-id'];
  const lastId = Array.isArray(last) ? last[0] : last;
  if (lastId !== undefined && lastId !== '') {
    const pos = positionAfterId(lastId);
    if (!pos) throw malformed(`Last-Event-ID ${JSON.stringify(lastId)} is not an event id of this watch`);
    return pos;
  }
  const etag = queryParam(req, 'etag');
  if (etag === undefined || etag === '') return undefined;
  const pos = /^\d+$/.test(etag) ? positionAfterId(etag) : undefined;
  if (!pos)
    throw malformed(`etag must be an etag of the store (a whole number), got ${JSON.stringify(etag)}`);
  return pos;
}

/** Register the SSE watch route. */
export function registerWatchRoute(app: FastifyInstance, ctx: DaprApiContext): void {
  app.get('/v1.0-alpha1/state/:storeName/watch', async (req: FastifyRequest, reply: FastifyReply) => {
    const storeName = pathParam(req, 2);
    const { store } = stateStoreOrThrow(ctx, storeName);
    const key = queryParam(req, 'key') || undefined;
    const prefix = queryParam(req, 'prefix') || undefined;
    if (key !== undefined && prefix !== undefined) throw malformed('give either key or prefix, not both');
    for (const k of [key, prefix]) {
      if (k?.includes('||')) throw malformed(`input key/keyPrefix '${k}' can't contain '||'`);
    }

    const raw = reply.raw;
    let watch: StateWatch | undefined;
    let ended = false;
    const timers: { heartbeat?: NodeJS.Timeout } = {};
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearInterval(timers.heartbeat);
      watch?.cancel();
      raw.end();
    };
    const sink = (m: StateWatchMessage): boolean => {
      if (ended) return false;
      if (m.type === 'ended') {
        raw.write(`event: error\ndata: ${errorBody(watchError(storeName, m.error), ctx.appId)}\n\n`);
        setImmediate(end);
        return false;
      }
      let chunk = '';
      for (const c of m.changes) {
        chunk += `id: ${eventId(c)}\nevent: ${c.type.toLowerCase()}\ndata: ${JSON.stringify(changeJson(c))}\n\n`;
      }
      return raw.write(chunk);
    };
    const from = requestedStart(req);
    try {
      watch = await openStateWatch(store, { key, prefix, from }, sink);
    } catch (err) {
      if (err instanceof DaprError) throw err;
      throw watchError(storeName, err as StateError);
    }
    // From here on the response is written by hand: fastify must not send one.
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const at = idBefore(from ?? { revision: watch.startRevision, skip: 0 });
    raw.write(`id: ${at}\nevent: watching\ndata: ${JSON.stringify({ store: storeName, after: at })}\n\n`);
    timers.heartbeat = setInterval(() => {
      if (!ended) raw.write(': keepalive\n\n');
    }, HEARTBEAT_MS);
    timers.heartbeat.unref();
    raw.on('drain', () => watch?.resume());
    // The client going away (or the socket failing) ends the watch. The response's 'close' is the signal: the
    // request's 'close' fires as soon as its (empty) body has been read.
    raw.on('close', end);
    raw.on('error', end);
    watch.resume();
    return reply;
  });
}
