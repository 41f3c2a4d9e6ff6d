/**
 * The Configuration API over HTTP, under `/v1.0` and `/v1.0-alpha1` as daprd serves it:
 * `GET /configuration/{store}?key=a&key=b` (no key: every item), `GET /configuration/{store}/subscribe?key=...`
 * (updates go to the app on `--app-port`: `POST /configuration/{store}/{key}`, one per changed key, in order) and
 * `GET /configuration/{store}/{id}/unsubscribe`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConfigurationItem, ConfigurationUpdate } from '../../state/configuration-store';
import type { DaprApiContext } from '../api-context';
import type { AppChannel } from '../app-channel';
import {
  getConfiguration,
  subscribeConfiguration,
  subscribeFailure,
  unsubscribeConfiguration,
} from '../configuration-api';
import { DaprError } from '../dapr-errors';
import { sendJson } from './http-errors';
import { pathParams, queryMetadata } from './request-input';

/** Updates waiting for the app before the subscription's watch is paused. */
const DELIVERY_QUEUE = 64;

/** Repeated `key` query parameters, in order. */
function keysOf(req: FastifyRequest): string[] {
  const url = req.raw.url ?? req.url;
  const q = url.indexOf('?');
  if (q < 0) return [];
  return new URLSearchParams(url.slice(q + 1)).getAll('key').filter((k) => k !== '');
}

/** An item as Dapr's HTTP API writes it (Go `omitempty`: empty fields left out). */
function itemJson(item: ConfigurationItem): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (item.value !== '') out.value = item.value;
  if (item.version !== '') out.version = item.version;
  if (Object.keys(item.metadata).length > 0) out.metadata = item.metadata;
  return out;
}

function updateJson(u: ConfigurationUpdate): string {
  const items = Object.fromEntries(Object.entries(u.items).map(([k, v]) => [k, itemJson(v)]));
  return JSON.stringify({ id: u.id, items });
}

/**
 * Sends one subscription's updates to the app, one request at a time and in order. A failed delivery is logged and
 * dropped, as daprd does; the watch pauses while the app is behind, so a slow app never holds up writers.
 */
class AppDelivery {
  private readonly queue: ConfigurationUpdate[] = [];
  private sending = false;
  private ended = false;
  /** push() told the watch to stop. */
  private paused = false;
  resume: () => void = () => undefined;

  constructor(
    private readonly ctx: DaprApiContext,
    private readonly channel: AppChannel,
    private readonly storeName: string,
  ) {}

  push(u: ConfigurationUpdate): boolean {
    if (this.ended) return false;
    this.queue.push(u);
    void this.drain();
    if (this.queue.length < DELIVERY_QUEUE) return true;
    this.paused = true;
    return false;
  }

  end(): void {
    this.ended = true;
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    while (this.queue.length > 0 && !this.ended) {
      const u = this.queue.shift()!;
      const key = Object.keys(u.items)[0] ?? '';
      const path = `/configuration/${encodeURIComponent(this.storeName)}/${encodeURIComponent(key)}`;
      try {
        const status = await this.channel.postJson(path, updateJson(u));
        if (status !== 200) {
          this.ctx.log.warn(
            { store: this.storeName, key, status },
            'configuration update: the app answered non-200',
          );
        }
      } catch (err) {
        this.ctx.log.warn(
          { store: this.storeName, key, err },
          'configuration update: delivery to the app failed',
        );
      }
      if (this.paused && this.queue.length < DELIVERY_QUEUE / 2) {
        this.paused = false;
        this.resume();
      }
    }
    this.sending = false;
  }
}

/** Register the configuration routes. */
export function registerConfigurationRoutes(app: FastifyInstance, ctx: DaprApiContext): void {
  const get = async (req: FastifyRequest, reply: FastifyReply) => {
    const [storeName] = pathParams(req, 2);
    const items = await getConfiguration(ctx, storeName, keysOf(req));
    const keys = Object.keys(items).sort();
    if (keys.length === 0) return reply.code(204).send();
    return sendJson(reply, 200, JSON.stringify(Object.fromEntries(keys.map((k) => [k, itemJson(items[k])]))));
  };

  const subscribe = async (req: FastifyRequest, reply: FastifyReply) => {
    const [storeName] = pathParams(req, 2);
    const keys = keysOf(req);
    const channel = ctx.appChannel;
    if (!channel) throw new DaprError('APP_CHANNEL_NIL');
    try {
      await channel.check();
    } catch (err) {
      throw subscribeFailure(storeName, keys, err);
    }
    const delivery = new AppDelivery(ctx, channel, storeName);
    const sub = await subscribeConfiguration(ctx, storeName, keys, queryMetadata(req), {
      onUpdate: (u) => delivery.push(u),
      onEnd: (error) => {
        delivery.end();
        if (error) ctx.log.warn({ store: storeName, err: error }, 'configuration subscription ended');
      },
    });
    delivery.resume = () => sub.resume();
    sub.resume();
    return sendJson(reply, 200, JSON.stringify({ id: sub.id }));
  };

  const unsubscribe = async (req: FastifyRequest, reply: FastifyReply) => {
    const [storeName, id] = pathParams(req, 2, 3);
    unsubscribeConfiguration(ctx, storeName, id);
    return sendJson(reply, 200, JSON.stringify({ ok: true }));
  };

  for (const version of ['v1.0', 'v1.0-alpha1']) {
    app.get(`/${version}/configuration/:storeName`, get);
    app.get(`/${version}/configuration/:storeName/subscribe`, subscribe);
    app.get(`/${version}/configuration/:storeName/:id/unsubscribe`, unsubscribe);
  }
}
