/**
 * Two statecar sidecar processes (replicas of one app) on one Redis through `state.redis` / `lock.redis`
 * components: etag-guarded increments through both lose no update, a watch on one sees the writes made through the
 * other in order, lock exclusion holds across them, and a TTL set through one expires for both.
 * Runs the built CLI (`npm test` builds first).
 */
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

beforeAll(async () => {
  server = await startRedisServer();
  [a, c] = await Promise.all([
    startSidecar({ appId: 'app', components: components() }),
    startSidecar({ appId: 'app', components: components() }),
  ]);
}, 60_000);

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
  const res = await fetch(`${a.httpUrl}/v1.0-alpha1/state/statestore/watch?key=app||w/&prefix=true`, {
    signal: ctl.signal,
  });
  expect(res.status).toBe(200);
  const events: { type: string; key: string; revision: number }[] = [];
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
          const data = block.split('\n').find((l) => l.startsWith('data:'));
          if (data) events.push(JSON.parse(data.slice(5)) as { type: string; key: string; revision: number });
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
  expect(events.map((e) => e.key)).toEqual(Array.from({ length: 20 }, (_, i) => `app||w/${i}`));
  const revs = events.map((e) => e.revision);
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
