/**
 * A Server-Sent Events client for the tests: reads an SSE response incrementally over a plain HTTP socket (so a
 * test can also stop reading it, to play a slow consumer), parsing `id`, `event` and `data` per event.
 */
import http from 'node:http';

export interface SseEvent {
  id?: string;
  event?: string;
  data: Record<string, unknown>;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  contentType = '';
  /** The body of a non-200 answer. */
  body = '';
  ended = false;
  private buf = '';
  private req?: http.ClientRequest;
  private res?: http.IncomingMessage;

  /** Open `url` (with extra request headers) and resolve once the response headers are in. */
  open(url: string, headers: Record<string, string> = {}): Promise<this> {
    return new Promise((resolve, reject) => {
      this.req = http.get(url, { headers }, (res) => {
        this.res = res;
        this.status = res.statusCode ?? 0;
        this.contentType = String(res.headers['content-type'] ?? '');
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (this.status !== 200) {
            this.body += chunk;
            return;
          }
          this.buf += chunk;
          this.parse();
        });
        res.on('end', () => (this.ended = true));
        res.on('close', () => (this.ended = true));
        resolve(this);
      });
      this.req.on('error', (err) => (this.res ? (this.ended = true) : reject(err)));
    });
  }

  /** Stop reading (the socket fills and the server sees back-pressure). */
  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  /** The change events (everything but the opening `watching` event). */
  get changes(): SseEvent[] {
    return this.events.filter((e) => e.event === 'put' || e.event === 'delete');
  }

  private parse(): void {
    let i: number;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const ev: { id?: string; event?: string; data?: string } = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const at = line.indexOf(':');
        const field = at < 0 ? line : line.slice(0, at);
        const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
        if (field === 'id') ev.id = value;
        else if (field === 'event') ev.event = value;
        else if (field === 'data') ev.data = (ev.data ?? '') + value;
      }
      if (ev.data !== undefined) {
        this.events.push({
          id: ev.id,
          event: ev.event,
          data: JSON.parse(ev.data) as Record<string, unknown>,
        });
      }
    }
  }

  /** Wait until `pred` holds for the events so far. */
  async until(pred: (events: SseEvent[]) => boolean, what: string, timeoutMs = 10_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.events)) {
      if (Date.now() > deadline) {
        throw new Error(`SSE: no ${what} after ${timeoutMs} ms; got ${JSON.stringify(this.events)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.events;
  }

  /** Wait for at least `n` change events. */
  waitForChanges(n: number, timeoutMs = 10_000): Promise<SseEvent[]> {
    return this.until(
      (evs) => evs.filter((e) => e.event === 'put' || e.event === 'delete').length >= n,
      `${n} changes`,
      timeoutMs,
    ).then(() => this.changes);
  }

  close(): void {
    this.req?.destroy();
  }
}
