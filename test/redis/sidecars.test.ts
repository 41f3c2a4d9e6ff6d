/**
 * Two statecar sidecar processes (replicas of one app) on one Redis through `state.redis` / `lock.redis`
 * components: etag-guarded increments through both lose no update, a watch on one sees the writes made through the
 * other in order (Dapr SSE watch and the etcd API), lock exclusion holds across them, a TTL set through one expires
 * for both, and with Redis down both report not ready and recover by themselves.
 * Runs the built CLI (`npm test` builds first).
 */
import { Etcd3 } from 'etcd3';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { eventually, sleep } from './helpers';

let server: RedisServer;
let a: Sidecar;
let c: Sidecar;

function components(): Record<string, string> {
  const meta = { redisHost: server.host, redisPassword: '' };
  return {
    'statestore.yaml': stateComponent('statestore', 'state.redis', meta),
    'lockstore.yaml': stateComponent('lockstore', 'lock.redis', meta),
  };
}

/** Start a sidecar; a free port taken by someone else between probing and listening is retried. */
async function start(): Promise<Sidecar> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSidecar({ appId: 'app', components: components(), etcdPort: true });
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

beforeAll(async () => {
  server = await startRedisServer({ appendOnly: true });
  // One after the other, so the two cannot pick the same free ports.
  a = await start();
  c = await start();
}, 90_000);

afterAll(async () => {
  await Promise.all([a?.stop(), c?.stop()]);
  await server?.destroy();
});

async function getState(
  s: Sidecar,
  key: string,
): Promise<{ status: number; value?: unknown; etag?: string }> {
  const res = await fetch(`${s.httpUrl}/v1.0/state/statestore/${key}`);
  if (res.status !== 200) return { status: res.status };
  return { status: 200, value: await res.json(), etag: res.headers.get('etag') ?? undefined };
}

async function save(s: Sidecar, items: unknown[]): Promise<number> {
  const res = await fetch(`${s.httpUrl}/v1.0/state/statestore`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(items),
  });
  await res.arrayBuffer();
  return res.status;
}

async function lock(s: Sidecar, path: 'lock' | 'unlock', body: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(`${s.httpUrl}/v1.0-alpha1/${path}/lockstore`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res.json();
}

test('etag-guarded increments through both sidecars lose no update', async () => {
  expect(await save(a, [{ key: 'counter', value: 0 }])).toBe(204);
  let conflicts = 0;
  const incr = async (s: Sidecar, n: number): Promise<void> => {
    for (let done = 0; done < n;) {
      const cur = await getState(s, 'counter');
      const status = await save(s, [{ key: 'counter', value: (cur.value as number) + 1, etag: cur.etag }]);
      if (status === 204) done++;
      else if (status === 409) conflicts++;
      else throw new Error(`unexpected status ${status}`);
    }
  };
  await Promise.all([incr(a, 40), incr(c, 40)]);
  expect((await getState(c, 'counter')).value).toBe(80);
  expect((await getState(a, 'counter')).value).toBe(80);
  // Not required, but on two busy processes the guard normally had work to do.
  expect(conflicts).toBeGreaterThanOrEqual(0);
}, 60_000);

test('a watch on one sidecar sees the writes made through the other, in order', async () => {
  const ctl = new AbortController();
  const res = await fetch(`${a.httpUrl}/v1.0-alpha1/state/statestore/watch?prefix=w/`, {
    signal: ctl.signal,
  });
  expect(res.status).toBe(200);
  const events: { key: string; etag: string }[] = [];
  const reader = res.body!.getReader();
  const pump = (async () => {
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += Buffer.from(value).toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const lines = block.split('\n');
          const data = lines.find((l) => l.startsWith('data:'));
          if (data && lines.includes('event: put'))
            events.push(JSON.parse(data.slice(5)) as { key: string; etag: string });
        }
      }
    } catch {
      // aborted
    }
  })();
  await sleep(200);
  for (let i = 0; i < 20; i++) expect(await save(c, [{ key: `w/${i}`, value: i }])).toBe(204);
  await eventually(() => events.length >= 20, 10_000, '20 watch events');
  ctl.abort();
  await pump;
  // Keys as the app names them (the app id prefix stripped), etags in revision order.
  expect(events.map((e) => e.key)).toEqual(Array.from({ length: 20 }, (_, i) => `w/${i}`));
  const revs = events.map((e) => Number(e.etag));
  expect(revs).toEqual([...revs].sort((x, y) => x - y));
  expect(new Set(revs).size).toBe(revs.length);
}, 30_000);

test('lock exclusion holds across the sidecars', async () => {
  const r = { resourceId: 'order-1', expiryInSeconds: 30 };
  expect(await lock(a, 'lock', { ...r, lockOwner: 'owner-a' })).toEqual({ success: true });
  expect(await lock(c, 'lock', { ...r, lockOwner: 'owner-c' })).toEqual({ success: false });
  expect(await lock(c, 'unlock', { resourceId: r.resourceId, lockOwner: 'owner-c' })).toEqual({
    status: 2, // LOCK_BELONGS_TO_OTHERS
  });
  expect(await lock(a, 'unlock', { resourceId: r.resourceId, lockOwner: 'owner-a' })).toEqual({ status: 0 });
  expect(await lock(c, 'lock', { ...r, lockOwner: 'owner-c' })).toEqual({ success: true });
});

test('a TTL set through one sidecar expires for both', async () => {
  expect(await save(a, [{ key: 'ttl', value: 'soon gone', metadata: { ttlInSeconds: '1' } }])).toBe(204);
  expect((await getState(c, 'ttl')).value).toBe('soon gone');
  await eventually(
    async () => (await getState(c, 'ttl')).status === 204 && (await getState(a, 'ttl')).status === 204,
    10_000,
    'ttl key gone on both sidecars',
  );
}, 20_000);

test('the etcd API of one sidecar watches the writes made through the etcd API of the other', async () => {
  const ea = new Etcd3({ hosts: `127.0.0.1:${a.etcdPort}` });
  const ec = new Etcd3({ hosts: `127.0.0.1:${c.etcdPort}` });
  try {
    const seen: string[] = [];
    const watcher = await ea.watch().prefix('etcd/').create();
    watcher.on('put', (kv) => seen.push(`${kv.key.toString()}=${kv.value.toString()}@${kv.mod_revision}`));
    const revs: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await ec.put(`etcd/${i}`).value(String(i)).exec();
      revs.push(res.header.revision);
    }
    await eventually(() => seen.length >= 10, 10_000, '10 etcd watch events');
    expect(seen).toEqual(revs.map((r, i) => `etcd/${i}=${i}@${r}`));
    expect(await ea.get('etcd/9').string()).toBe('9');
    await watcher.cancel();
  } finally {
    ea.close();
    ec.close();
  }
}, 30_000);

test('Redis crash in the middle of load (AOF, fsync always): not ready meanwhile, then both recover, no acknowledged save lost', async () => {
  const acked: { key: string; value: number }[] = [];
  let failed = 0;
  let stop = false;
  const writer = async (s: Sidecar, name: string): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const key = `load-${name}-${i}`;
      const status = await save(s, [{ key, value: i }]).catch(() => 0);
      if (status === 204) acked.push({ key, value: i });
      else {
        failed++;
        await sleep(20);
      }
    }
  };
  const writers = [writer(a, 'a'), writer(c, 'c')];
  await eventually(() => acked.length >= 30, 10_000, 'load running');
  await server.kill();
  for (const s of [a, c]) {
    await eventually(
      async () => (await fetch(`${s.httpUrl}/v1.0/healthz`)).status === 500,
      10_000,
      'not ready',
    );
    const started = Date.now();
    const res = await fetch(`${s.httpUrl}/v1.0/state/statestore/counter`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { errorCode: string }).errorCode).toBe('ERR_STATE_GET');
    expect(Date.now() - started).toBeLessThan(1000);
  }
  await server.restart();
  for (const s of [a, c]) {
    await eventually(
      async () => (await fetch(`${s.httpUrl}/v1.0/healthz`)).status === 204,
      15_000,
      'ready again',
    );
  }
  const afterRestart = acked.length;
  await eventually(() => acked.length >= afterRestart + 30, 15_000, 'saves flowing again');
  stop = true;
  await Promise.all(writers);
  expect(failed).toBeGreaterThan(0);
  // Every acknowledged save (before, across and after the crash) is readable through the other sidecar too.
  for (const w of acked) {
    const other = w.key.startsWith('load-a') ? c : a;
    expect((await getState(other, w.key)).value).toBe(w.value);
  }
}, 90_000);
