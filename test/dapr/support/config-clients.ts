/**
 * Configuration API helpers for the tests: a raw gRPC subscription stream (the first message, pausing, the end
 * status) and an app that records the updates the sidecar POSTs to it over the app channel.
 */
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { daprServiceDefinition } from '../../../src/api/grpc/server';
import type {
  ConfigurationItem as WireItem,
  ConfigurationUpdate as WireUpdate,
} from '../../../src/state/configuration-store';
import { freePort } from '../../support/ports';

/** What the wire carries: the same shapes as the store's items and updates. */
export type { WireItem, WireUpdate };

/** A SubscribeConfiguration stream read with grpc-js. */
export class RawSubscription {
  readonly messages: WireUpdate[] = [];
  /** The final status (code 0 = OK), once the stream ended. */
  status?: { code: number; details: string };
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientReadableStream<WireUpdate>;

  constructor(
    port: number,
    request: { storeName: string; keys?: string[]; metadata?: Record<string, string> },
    method = 'SubscribeConfiguration',
  ) {
    const Ctor = grpc.makeGenericClientConstructor(daprServiceDefinition(), 'Dapr');
    this.client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const fn = (
      this.client as unknown as Record<string, (r: object) => grpc.ClientReadableStream<WireUpdate>>
    )[method];
    this.call = fn.call(this.client, { keys: [], metadata: {}, ...request });
    this.call.on('data', (m: WireUpdate) => this.messages.push(m));
    this.call.on('status', (s: grpc.StatusObject) => (this.status = { code: s.code, details: s.details }));
    // Errors arrive as the status too.
    this.call.on('error', () => undefined);
  }

  /** The subscription id (from the first message). */
  get id(): string | undefined {
    return this.messages[0]?.id;
  }

  /** Updates after the first message. */
  get updates(): WireUpdate[] {
    return this.messages.slice(1);
  }

  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  async until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) {
        throw new Error(
          `subscription: no ${what} after ${timeoutMs} ms (${this.messages.length} messages, status ${JSON.stringify(this.status)})`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** One update the app received. */
export interface Delivery {
  path: string;
  contentType: string;
  body: { id: string; items: Record<string, Partial<WireItem>> };
}

/** An app on a free port recording `POST /configuration/...` requests; answers 200. */
export class RecordingApp {
  readonly deliveries: Delivery[] = [];
  port = 0;
  private server?: http.Server;

  async start(port?: number): Promise<this> {
    this.port = port ?? (await freePort());
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        this.deliveries.push({
          path: req.url ?? '',
          contentType: String(req.headers['content-type'] ?? ''),
          body: JSON.parse(body) as Delivery['body'],
        });
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  async until(n: number, timeoutMs = 10_000): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.deliveries.length < n) {
      if (Date.now() > deadline) throw new Error(`app: ${this.deliveries.length} of ${n} deliveries`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.deliveries;
  }
}
