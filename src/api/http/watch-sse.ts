import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Engine, KeyValue, WatchEvent, WatchMessage, Watcher } from '../../engine/contract';
import { prefixEnd } from '../../engine/key-range';
import { DaprError, stateFailure } from '../dapr-errors';

/**
 * `GET /v1.0-alpha1/state/{store}/watch` — the engine's watch as Server-Sent Events, for curl and browsers.
 *
 * Query: `key` (raw stored key, e.g. `myapp||order-1`), `prefix=true` to watch every key starting with `key`
 * (an empty key with `prefix=true` watches everything), `startRevision` (replay history from that revision, to
 * resume after a disconnect: last seen revision + 1), `prevKv=true` to include the previous value.
 *
 * Each change is one `event: put|delete` message whose `id:` is its revision and whose `data:` is one JSON
 * object `{type, key, value, revision, createRevision, modRevision, version, lease, prevKv?}` (keys and values as
 * UTF-8 text, lease as a decimal string). Events arrive in revision order. If the watch is canceled by the server
 * (e.g. `startRevision` was compacted) a final `event: canceled` carries `{reason, compactRevision}` and the
 * response ends. A comment line every 15 s keeps idle connections open through proxies. The watcher is stopped
 * when the client goes away.
 */

const HEARTBEAT_MS = 15_000;

interface WatchQuery {
  key?: string;
  prefix?: string;
  startRevision?: string;
  prevKv?: string;
}

/** JSON shape of a key-value in an SSE event. */
export interface SseKeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

/** JSON shape of one SSE change event. */
export interface SseWatchEvent extends SseKeyValue {
  type: 'PUT' | 'DELETE';
  revision: number;
  prevKv?: SseKeyValue;
}

function kvJson(kv: KeyValue): SseKeyValue {
  return {
    key: kv.key.toString('utf8'),
    value: (kv.value ?? Buffer.alloc(0)).toString('utf8'),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: String(kv.lease ?? 0n),
  };
}

function eventJson(e: WatchEvent): SseWatchEvent {
  return {
    type: e.type,
    ...kvJson(e.kv),
    revision: e.kv.modRevision,
    ...(e.prevKv ? { prevKv: kvJson(e.prevKv) } : {}),
  };
}

function flag(v: string | undefined): boolean {
  return v === 'true' || v === '1' || v === '';
}

function badRequest(message: string): DaprError {
  return new DaprError('MALFORMED_REQUEST', { error: message });
}

/**
 * Register the SSE watch route on `app`. `stores` resolves a state store name to its engine (undefined: no such
 * store → 400 ERR_STATE_STORE_NOT_FOUND, as Dapr answers for unknown stores).
 */
export function registerWatchRoute(app: FastifyInstance, stores: (name: string) => Engine | undefined): void {
  app.get(
    '/v1.0-alpha1/state/:store/watch',
    async (request: FastifyRequest<{ Params: { store: string }; Querystring: WatchQuery }>, reply) => {
      const storeName = request.params.store;
      const engine = stores(storeName);
      // Thrown errors are rendered from the Dapr error table by the server's error handler.
      if (!engine) throw new DaprError('STATE_STORE_NOT_FOUND', { store: storeName });
      const q = request.query;
      const prefix = flag(q.prefix);
      const keyText = q.key ?? '';
      if (!prefix && keyText === '') throw badRequest('key is required unless prefix=true');
      let startRevision = 0;
      if (q.startRevision !== undefined && q.startRevision !== '') {
        startRevision = Number(q.startRevision);
        if (!Number.isSafeInteger(startRevision) || startRevision < 0) {
          throw badRequest('startRevision must be a non-negative integer');
        }
      }
      const key = Buffer.from(keyText, 'utf8');
      const watchReq = {
        key: prefix && key.length === 0 ? Buffer.from([0]) : key,
        rangeEnd: prefix ? prefixEnd(key) : undefined,
        startRevision,
        prevKv: flag(q.prevKv),
      };

      const raw = reply.raw;
      let watcher: Watcher | undefined;
      let paused = false;
      let ended = false;
      const pending: WatchMessage[] = [];
      const timers: { heartbeat?: NodeJS.Timeout } = {};
      const end = (): void => {
        if (ended) return;
        ended = true;
        clearInterval(timers.heartbeat);
        watcher?.cancel();
        raw.end();
      };
      const write = (m: WatchMessage): boolean => {
        let chunk = '';
        if (m.type === 'events') {
          for (const e of m.events) {
            chunk += `id: ${e.kv.modRevision}\nevent: ${e.type.toLowerCase()}\ndata: ${JSON.stringify(eventJson(e))}\n\n`;
          }
        } else if (m.type === 'canceled') {
          chunk = `event: canceled\ndata: ${JSON.stringify({ reason: m.reason, compactRevision: m.compactRevision })}\n\n`;
          raw.write(chunk);
          setImmediate(end);
          return false;
        } else {
          return true;
        }
        return raw.write(chunk);
      };
      const sink = (m: WatchMessage): boolean => {
        if (ended) return false;
        // Before the headers are out (the sink is never called before watch() returns, but be safe) buffer.
        if (!raw.headersSent) {
          pending.push(m);
          return true;
        }
        if (write(m)) return true;
        paused = true;
        return false;
      };

      try {
        watcher = engine.watch(watchReq, sink);
      } catch (err) {
        throw stateFailure('watch', storeName, keyText, err);
      }
      // From here on the response is written by hand: fastify must not send one.
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': watching\n\n');
      timers.heartbeat = setInterval(() => {
        if (!ended) raw.write(': keepalive\n\n');
      }, HEARTBEAT_MS);
      timers.heartbeat.unref();
      for (const m of pending.splice(0)) sink(m);
      raw.on('drain', () => {
        if (paused && !ended) {
          paused = false;
          watcher?.resume();
        }
      });
      // The client going away (or the socket failing) ends the watch. The response's 'close' is the signal: the
      // request's 'close' fires as soon as its (empty) body has been read.
      raw.on('close', end);
      raw.on('error', end);
      return reply;
    },
  );
}
