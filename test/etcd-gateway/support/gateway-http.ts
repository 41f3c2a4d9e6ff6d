import http from 'node:http';

/**
 * HTTP/1.1 helpers for talking to an etcd JSON gateway (a real etcd's client port or statecar's): plain requests
 * with the raw body as given, and streaming responses read as they arrive, one JSON object per message.
 */

/** A complete answer. */
export interface GatewayReply {
  status: number;
  /** `json`, `text` or the raw content type. */
  type: string;
  body: string;
  /** The body parsed, when it is JSON. */
  json?: unknown;
}

function typeOf(contentType: string | undefined): string {
  if (!contentType) return '';
  if (contentType.startsWith('application/json')) return 'json';
  if (contentType.startsWith('text/plain')) return 'text';
  return contentType;
}

/** Send one request and read the whole answer (rejects after `timeoutMs`, so a hang fails the test). */
export function request(
  base: string,
  path: string,
  body: string | Buffer = '',
  opts: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<GatewayReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method: opts.method ?? 'POST', headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          const type = typeOf(res.headers['content-type']);
          let json: unknown;
          if (type === 'json' && text) json = JSON.parse(text);
          resolve({ status: res.statusCode ?? 0, type, body: text, json });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to POST ${path} within ${opts.timeoutMs ?? 15_000} ms`));
    }, opts.timeoutMs ?? 15_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

/** A streaming call (watch, keep-alive, observe): messages as they arrive, the request body optionally kept open. */
export class GatewayStream {
  readonly messages: unknown[] = [];
  status = 0;
  type = '';
  ended = false;
  private text = '';
  private readonly req: http.ClientRequest;
  private res?: http.IncomingMessage;
  readonly done: Promise<void>;

  /** With `keepOpen`, the request body stays open for {@link send}; else `body` is the whole body. */
  constructor(base: string, path: string, body: string, keepOpen = false) {
    let finish!: () => void;
    this.done = new Promise((r) => (finish = r));
    this.req = http.request(`${base}${path}`, { method: 'POST', agent: false }, (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      this.type = typeOf(res.headers['content-type']);
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        this.text += c;
        this.split(false);
      });
      res.on('end', () => {
        this.split(true);
        this.ended = true;
        finish();
      });
      res.on('error', () => finish());
    });
    this.req.on('error', () => finish());
    if (keepOpen) this.req.write(body);
    else this.req.end(body);
  }

  /** Complete lines are messages; at the end, what is left (an error chunk has no newline) is one too. */
  private split(final: boolean): void {
    for (;;) {
      const nl = this.text.indexOf('\n');
      if (nl < 0) break;
      const line = this.text.slice(0, nl);
      this.text = this.text.slice(nl + 1);
      if (line.trim()) this.messages.push(JSON.parse(line));
    }
    if (final && this.text.trim()) {
      this.messages.push(JSON.parse(this.text));
      this.text = '';
    }
  }

  /** Write one more request into the open body. */
  send(message: unknown): void {
    this.req.write(JSON.stringify(message));
  }

  /** Half-close the request body. */
  endBody(): void {
    this.req.end();
  }

  /** Stop reading (the server's writes back up) / read again. */
  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  /** Wait until `n` messages arrived (or the stream ended); false on timeout. */
  async waitFor(n: number, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n && !this.ended) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.messages.length >= n;
  }

  /** Go away without a word, as a client that crashed or timed out. */
  close(): void {
    this.req.destroy();
    this.res?.destroy();
  }
}
