/**
 * The SSE watch route (`GET /v1.0-alpha1/state/{store}/watch`) on every backend, read over plain HTTP from a
 * sidecar process: a watch on the store as the app sees it (app keys, values as GET returns them, etags, a TTL
 * expiry as a delete; one key, a prefix or the whole store), resume from an etag and from Last-Event-ID with no gap
 * and no repeat (also in the middle of a transaction), errors from the error table, and a reader that stops reading
 * holding up neither writers nor other watchers.
 */
import { randomUUID } from 'node:crypto';
import { EtcdGrpcClient, b } from '../etcd/support/etcd-grpc-client';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { lockComponent } from './support/components';
import { freshSpace, sidecarBackends, stateStoreOn } from './support/sidecar-backends';
import { SseClient, type SseEvent } from './support/sse';
import { stateWriter } from './support/state-client';

jest.setTimeout(60_000);

describe.each(sidecarBackends)('SSE watch on state.$type', (backend) => {
  let sc: Sidecar;
  let kv: EtcdGrpcClient;
  const open: SseClient[] = [];
  const uid = () => randomUUID().slice(0, 8);

  const url = (query: string, store = 'statestore') =>
    `${sc.httpUrl}/v1.0-alpha1/state/${store}/watch${query ? `?${query}` : ''}`;
  const watch = async (query: string, headers: Record<string, string> = {}) => {
    const c = await new SseClient().open(url(query), headers);
    open.push(c);
    return c;
  };
  const { save, del, transact } = stateWriter(() => sc.httpUrl);
  const get = async (key: string) => {
    const res = await fetch(`${sc.httpUrl}/v1.0/state/statestore/${key}`);
    return { etag: res.headers.get('etag') ?? undefined, body: await res.text() };
  };
  /** Open a watch and wait for its opening event (the watch is then registered in the engine). */
  const ready = async (query: string, headers: Record<string, string> = {}) => {
    const c = await watch(query, headers);
    expect(c.status).toBe(200);
    await c.until((evs) => evs.some((e) => e.event === 'watching'), 'watching event');
    return c;
  };
  const summary = (evs: SseEvent[]) => evs.map((e) => [e.event, e.data.key, e.data.data]);

  beforeAll(async () => {
    await backend.setup();
    const space = freshSpace();
    sc = await startSidecar({
      appId: 'watchapp',
      components: {
        'statestore.yaml': stateStoreOn(backend, 'statestore', space, { etcdAPI: 'true' }),
        'lockstore.yaml': lockComponent('lockstore', `lock.${backend.type}`, { stateStore: 'statestore' }),
      },
    });
    kv = new EtcdGrpcClient(`127.0.0.1:${sc.grpcPort}`);
  });

  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });

  afterAll(async () => {
    kv?.close();
    await sc?.stop();
    await backend.teardown();
  });

  test('the whole store as the app sees it: app keys, values as GET returns them, etags; foreign keys left out', async () => {
    const p = `all-${uid()}-`;
    const sse = await ready('');
    expect(sse.contentType).toContain('text/event-stream');
    await save([{ key: `${p}a`, value: { item: 'tea', qty: 1 } }]);
    // Keys of another app, a lock and an actor-style key live in the same engine but are not this store's.
    await kv.ok('KV', 'Put', { key: b(`otherapp||${p}x`), value: b('1') });
    await kv.ok('KV', 'Put', { key: b(`watchapp||${p}actor||1`), value: b('1') });
    const lock = await fetch(`${sc.httpUrl}/v1.0-alpha1/lock/lockstore`, {
      method: 'POST',
      body: JSON.stringify({ resourceId: `${p}r`, lockOwner: 'o', expiryInSeconds: 30 }),
    });
    expect(lock.status).toBe(200);
    await save([{ key: `${p}a`, value: 'second' }]);
    await del(`${p}a`);
    const evs = await sse.waitForChanges(3);
    expect(summary(evs)).toEqual([
      ['put', `${p}a`, { item: 'tea', qty: 1 }],
      ['put', `${p}a`, 'second'],
      ['delete', `${p}a`, undefined],
    ]);
    const etags = evs.map((e) => Number(e.data.etag));
    expect(etags).toEqual([...etags].sort((x, y) => x - y));
    expect(evs.map((e) => e.id)).toEqual(etags.map(String));
    // One more write: its etag is what GET returns, and nothing foreign arrived in between.
    await save([{ key: `${p}b`, value: [1, 2] }]);
    const [last] = (await sse.waitForChanges(4)).slice(3);
    expect(last.data).toEqual({ key: `${p}b`, etag: (await get(`${p}b`)).etag, data: [1, 2] });
    expect(sse.changes).toHaveLength(4);
  });

  test('one key, or a key prefix', async () => {
    const p = `sel-${uid()}-`;
    const one = await ready(`key=${p}k`);
    const prefixed = await ready(`prefix=${p}`);
    await save([{ key: `${p}k`, value: 1 }]);
    await save([{ key: `${p}kk`, value: 2 }]);
    await save([{ key: `other-${p}`, value: 3 }]);
    await save([{ key: `${p}k`, value: 4 }]);
    expect(summary(await prefixed.waitForChanges(3))).toEqual([
      ['put', `${p}k`, 1],
      ['put', `${p}kk`, 2],
      ['put', `${p}k`, 4],
    ]);
    expect(summary(await one.waitForChanges(2))).toEqual([
      ['put', `${p}k`, 1],
      ['put', `${p}k`, 4],
    ]);
  });

  test('a TTL expiry arrives as a delete; a TTL put carries ttlExpireTime', async () => {
    const key = `ttl-${uid()}`;
    const sse = await ready(`key=${key}`);
    await save([{ key, value: 'short', metadata: { ttlInSeconds: '1' } }]);
    const evs = await sse.waitForChanges(2, 15_000);
    expect(evs[0].event).toBe('put');
    expect((evs[0].data.metadata as Record<string, string>).ttlExpireTime).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(evs[1]).toMatchObject({ event: 'delete', data: { key } });
    expect(Number(evs[1].data.etag)).toBeGreaterThan(Number(evs[0].data.etag));
    expect((await get(key)).body).toBe('');
  });

  test('resume after an etag: exactly the changes since, then live', async () => {
    const key = `res-${uid()}`;
    await save([{ key, value: 'v1' }]);
    const { etag } = await get(key);
    await save([{ key, value: 'v2' }]);
    await save([{ key, value: 'v3' }]);
    const sse = await watch(`key=${key}&etag=${etag}`);
    await sse.waitForChanges(2);
    await save([{ key, value: 'v4' }]);
    const evs = await sse.waitForChanges(3);
    expect(evs.map((e) => e.data.data)).toEqual(['v2', 'v3', 'v4']);
    expect(sse.events[0]).toMatchObject({ event: 'watching', id: etag });
  });

  test('Last-Event-ID resumes with no gap and no repeat, also inside a transaction', async () => {
    const p = `lei-${uid()}-`;
    const first = await ready(`prefix=${p}`);
    const opened = first.events[0].id!;
    first.close();
    // Changes made while no one watches are delivered on reconnect from the opening event's id.
    await transact([
      { operation: 'upsert', request: { key: `${p}a`, value: 1 } },
      { operation: 'upsert', request: { key: `${p}b`, value: 2 } },
      { operation: 'upsert', request: { key: `${p}c`, value: 3 } },
    ]);
    const again = await watch(`prefix=${p}`, { 'Last-Event-ID': opened });
    const evs = await again.waitForChanges(3);
    const rev = evs[0].data.etag as string;
    expect(evs.map((e) => [e.id, e.data.key])).toEqual([
      [`${rev}:0`, `${p}a`],
      [`${rev}:1`, `${p}b`],
      [rev, `${p}c`],
    ]);
    again.close();
    // A client that saw only the first change of the transaction gets the other two, once.
    const mid = await watch(`prefix=${p}`, { 'Last-Event-ID': `${rev}:0` });
    await save([{ key: `${p}d`, value: 4 }]);
    expect((await mid.waitForChanges(3)).map((e) => e.data.key)).toEqual([`${p}b`, `${p}c`, `${p}d`]);
    // Last-Event-ID wins over etag.
    const both = await watch(`prefix=${p}&etag=${opened}`, { 'Last-Event-ID': rev });
    expect((await both.waitForChanges(1)).map((e) => e.data.key)).toEqual([`${p}d`]);
  });

  test('a slow reader holds up neither writers nor other watchers, and still gets everything in order', async () => {
    const p = `slow-${uid()}-`;
    const slow = await ready(`prefix=${p}`);
    const fast = await ready(`prefix=${p}`);
    slow.pause();
    const big = 'x'.repeat(16 * 1024);
    const n = 300;
    for (let i = 0; i < n; i += 20) {
      await save(
        Array.from({ length: 20 }, (_, j) => ({ key: `${p}${String(i + j).padStart(4, '0')}`, value: big })),
      );
    }
    // Every write was acknowledged while the slow reader read nothing; the other watcher has them all.
    expect((await fast.waitForChanges(n, 20_000)).length).toBe(n);
    expect(slow.changes.length).toBeLessThan(n);
    slow.resume();
    const evs = await slow.waitForChanges(n, 20_000);
    const etags = evs.map((e) => Number(e.data.etag));
    expect(etags).toEqual([...etags].sort((x, y) => x - y));
    expect(new Set(evs.map((e) => e.data.key)).size).toBe(n);
  });

  test('the watcher goes away with the client; the server keeps serving', async () => {
    const key = `gone-${uid()}`;
    for (let i = 0; i < 5; i++) (await watch(`key=${key}`)).close();
    const sse = await ready(`key=${key}`);
    await save([{ key, value: 'x' }]);
    expect((await sse.waitForChanges(1))[0].data.data).toBe('x');
  });

  test('bad requests get Dapr error bodies from the error table', async () => {
    const fail = async (target: string, headers: Record<string, string> = {}) => {
      const c = await new SseClient().open(target, headers);
      await c.until(() => c.ended, 'end of the error answer');
      return { status: c.status, json: JSON.parse(c.body) as { errorCode: string; message: string } };
    };
    const unknown = await fail(url('key=a', 'nostore'));
    expect([unknown.status, unknown.json.errorCode]).toEqual([400, 'ERR_STATE_STORE_NOT_FOUND']);
    expect(unknown.json.message).toBe('state store nostore is not found');
    for (const [query, headers, message] of [
      ['key=a&prefix=b', {}, 'give either key or prefix, not both'],
      ['etag=abc', {}, 'etag must be an etag of the store'],
      ['etag=-4', {}, 'etag must be an etag of the store'],
      ['key=a||b', {}, "input key/keyPrefix 'a||b' can't contain '||'"],
      ['', { 'Last-Event-ID': 'yesterday' }, 'Last-Event-ID "yesterday" is not an event id of this watch'],
    ] as const) {
      const r = await fail(url(query), headers);
      expect([r.status, r.json.errorCode]).toEqual([400, 'ERR_MALFORMED_REQUEST']);
      expect(r.json.message).toContain(message);
    }
  });

  test('resuming from an etag older than the history is 410 ERR_STATE_WATCH_COMPACTED', async () => {
    const key = `cmp-${uid()}`;
    await save([{ key, value: 1 }]);
    const { etag } = await get(key);
    await save([{ key, value: 2 }]);
    await save([{ key, value: 3 }]);
    // History before the head is gone; the change after `etag` (value 2) with it.
    const head = (await kv.ok('KV', 'Range', { key: b('x') })) as { header: { revision: string } };
    await kv.ok('KV', 'Compact', { revision: head.header.revision });
    const c = await new SseClient().open(url(`key=${key}&etag=${etag}`));
    await c.until(() => c.ended, 'end of the error answer');
    expect(c.status).toBe(410);
    const json = JSON.parse(c.body) as { errorCode: string; message: string };
    expect(json.errorCode).toBe('ERR_STATE_WATCH_COMPACTED');
    expect(json.message).toContain('cannot resume the watch of state store statestore');
    expect(json.message).toContain('has been compacted');
  });
});
