/**
 * The SSE watch route (`GET /v1.0-alpha1/state/{store}/watch`) read with a plain HTTP client: events in revision
 * order, resume from `startRevision`, prefix and prevKv, clean end when the client disconnects, errors.
 */
import { EtcdGrpcClient, b } from './support/etcd-grpc-client';
import { startStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(30_000);

interface SseMessage {
  id?: string;
  event?: string;
  data: Record<string, unknown>;
}

/** Reads an SSE response incrementally. */
class SseReader {
  readonly messages: SseMessage[] = [];
  private buf = '';
  private readonly ac = new AbortController();
  status = 0;
  contentType = '';
  ended = false;

  async open(url: string): Promise<this> {
    const res = await fetch(url, { signal: this.ac.signal });
    this.status = res.status;
    this.contentType = res.headers.get('content-type') ?? '';
    if (!res.body) return this;
    const reader = res.body.getReader();
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.buf += Buffer.from(value).toString('utf8');
          this.parse();
        }
      } catch {
        // aborted
      }
      this.ended = true;
    })();
    return this;
  }

  private parse(): void {
    let i: number;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const msg: Partial<SseMessage> & { dataText?: string } = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const [field, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (field === 'id') msg.id = value;
        else if (field === 'event') msg.event = value;
        else if (field === 'data') msg.dataText = (msg.dataText ?? '') + value;
      }
      if (msg.dataText !== undefined) {
        this.messages.push({
          id: msg.id,
          event: msg.event,
          data: JSON.parse(msg.dataText) as Record<string, unknown>,
        });
      }
    }
  }

  async waitFor(n: number, timeoutMs = 5000): Promise<SseMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.messages.length} SSE messages`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.messages;
  }

  close(): void {
    this.ac.abort();
  }
}

describe('SSE watch route', () => {
  let statecar: StatecarTarget;
  let kv: EtcdGrpcClient;
  const url = (query: string) => `${statecar.httpUrl}/v1.0-alpha1/state/${statecar.store}/watch?${query}`;

  beforeAll(async () => {
    statecar = await startStatecar();
    kv = new EtcdGrpcClient(statecar.endpoint);
  });

  afterAll(async () => {
    kv?.close();
    await statecar?.stop();
  });

  const put = (k: string, v: string) => kv.ok('KV', 'Put', { key: b(k), value: b(v) });

  test('live events arrive in revision order, one JSON event per change', async () => {
    const sse = await new SseReader().open(url('key=sse/&prefix=true&prevKv=true'));
    expect(sse.status).toBe(200);
    expect(sse.contentType).toContain('text/event-stream');
    await new Promise((r) => setTimeout(r, 100));
    await put('sse/a', '1');
    await put('sse/b', '2');
    await put('sse/a', '3');
    await kv.ok('KV', 'DeleteRange', { key: b('sse/b') });
    await put('other', 'ignored');
    const msgs = await sse.waitFor(4);
    expect(msgs.map((m) => [m.event, m.data.type, m.data.key, m.data.value])).toEqual([
      ['put', 'PUT', 'sse/a', '1'],
      ['put', 'PUT', 'sse/b', '2'],
      ['put', 'PUT', 'sse/a', '3'],
      ['delete', 'DELETE', 'sse/b', ''],
    ]);
    const revs = msgs.map((m) => m.data.revision as number);
    expect(revs).toEqual([...revs].sort((x, y) => x - y));
    expect(new Set(revs).size).toBe(4);
    expect(msgs.map((m) => Number(m.id))).toEqual(revs);
    expect((msgs[2]!.data.prevKv as Record<string, unknown>).value).toBe('1');
    expect(msgs[2]!.data.version).toBe(2);
    sse.close();
  });

  test('resume from startRevision replays exactly the missed events, then continues live', async () => {
    const first = (await put('res/k', 'v1')) as { header: { revision: string } };
    await put('res/k', 'v2');
    await put('res/k', 'v3');
    const from = Number(first.header.revision) + 1;
    const sse = await new SseReader().open(url(`key=res/k&startRevision=${from}`));
    await sse.waitFor(2);
    await put('res/k', 'v4');
    const msgs = await sse.waitFor(3);
    expect(msgs.map((m) => [m.data.value, m.data.revision])).toEqual([
      ['v2', from],
      ['v3', from + 1],
      ['v4', from + 2],
    ]);
    sse.close();
  });

  test('the watcher goes away with the client; the server keeps serving', async () => {
    for (let i = 0; i < 5; i++) {
      const sse = await new SseReader().open(url('key=gone'));
      sse.close();
    }
    const sse = await new SseReader().open(url('key=gone'));
    await new Promise((r) => setTimeout(r, 100));
    await put('gone', 'x');
    await sse.waitFor(1);
    sse.close();
  });

  test('compacted startRevision ends the stream with a canceled event', async () => {
    const r = (await put('cmp', '1')) as { header: { revision: string } };
    await put('cmp', '2');
    await kv.ok('KV', 'Compact', { revision: String(Number(r.header.revision) + 1) });
    const sse = await new SseReader().open(url(`key=cmp&startRevision=${r.header.revision}`));
    const [m] = await sse.waitFor(1);
    expect(m!.event).toBe('canceled');
    expect(m!.data.compactRevision).toBe(Number(r.header.revision) + 1);
    const deadline = Date.now() + 3000;
    while (!sse.ended && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(sse.ended).toBe(true);
  });

  test('bad requests: unknown store, missing key, bad startRevision', async () => {
    const unknown = await fetch(`${statecar.httpUrl}/v1.0-alpha1/state/nope/watch?key=a`);
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { errorCode: string }).errorCode).toBe('ERR_STATE_STORE_NOT_FOUND');
    expect((await fetch(url(''))).status).toBe(400);
    expect((await fetch(url('key=a&startRevision=-4'))).status).toBe(400);
  });
});
