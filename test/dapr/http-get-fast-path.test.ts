/**
 * The hand-written GET path (src/api/http/fast-state-get.ts) must be invisible: for every request it serves, the
 * bytes on the wire (status line, headers in order, body; the Date header aside) are the ones fastify's route
 * sends for the same request. A trailing `?` sends the same request through fastify (the fast path takes no
 * query), so each case is asked both ways on one sidecar and the answers compared. Requests the fast path hands on
 * (errors, tokens, no Host) are in the list too: whichever path answers, the answer is fastify's.
 */
import { rawHttp } from '../support/raw-http';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { request } from './support/http';

let open: Sidecar;
let guarded: Sidecar;
const TOKEN = 'fast-path-token';

beforeAll(async () => {
  const components = {
    'store.yaml': stateComponent('store', 'state.in-memory'),
    'other.yaml': stateComponent('other', 'state.in-memory'),
  };
  [open, guarded] = await Promise.all([
    startSidecar({ components }),
    startSidecar({ components, env: { DAPR_API_TOKEN: TOKEN } }),
  ]);
  for (const sc of [open, guarded]) {
    const headers: Record<string, string> = sc === guarded ? { 'dapr-api-token': TOKEN } : {};
    const save = await request(
      sc.httpUrl,
      'POST',
      '/v1.0/state/store',
      [
        { key: 'plain', value: { a: 1, s: 'x' } },
        { key: "a:b@c!$&'()*,=~-._", value: 'odd characters' },
        { key: 'ttl', value: 42, metadata: { ttlInSeconds: '3600' } },
        { key: 'empty', value: '' },
      ],
      headers,
    );
    expect(save.status).toBe(204);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([open, guarded].filter(Boolean).map((s) => s.stop()));
});

/** The response to one raw request, as text without the Date header (the one thing that differs in time). */
async function answer(port: number, head: string): Promise<string> {
  const res = await rawHttp(port, `${head}\r\n\r\n`);
  const raw = res.raw;
  expect(res.responses).toHaveLength(1);
  return raw.replace(/\r\nDate: [^\r]*/i, '');
}

/** Ask `path` through the fast path and through fastify (`path?`) and expect the same bytes back. */
async function sameBothWays(
  sc: Sidecar,
  path: string,
  headers: string[] = ['Host: localhost'],
): Promise<string> {
  const extra = headers.map((h) => `\r\n${h}`).join('');
  const fast = await answer(sc.httpPort, `GET ${path} HTTP/1.1${extra}`);
  const routed = await answer(sc.httpPort, `GET ${path}? HTTP/1.1${extra}`);
  expect(fast).toBe(routed);
  return fast;
}

test.each([
  ['an existing key', '/v1.0/state/store/plain', /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n\{"a":1,"s":"x"\}$/],
  ['a key of URL-safe punctuation', "/v1.0/state/store/a:b@c!$&'()*,=~-._", /200 [\s\S]*"odd characters"$/],
  [
    'a key with a TTL (metadata header)',
    '/v1.0/state/store/ttl',
    /metadata\.ttlexpiretime: [^\r]+[\s\S]*42$/i,
  ],
  ['a missing key', '/v1.0/state/store/nope', /^HTTP\/1\.1 204 /],
  ['the other store', '/v1.0/state/other/plain', /^HTTP\/1\.1 204 /],
  ['an unknown store', '/v1.0/state/missing/plain', /^HTTP\/1\.1 400 [\s\S]*ERR_STATE_STORE_NOT_FOUND/],
  ['a key with ||', '/v1.0/state/store/a||b', /^HTTP\/1\.1 [45]\d\d [\s\S]*errorCode/],
])('%s: the fast path answers as fastify does', async (_what, path, expected) => {
  expect(await sameBothWays(open, path)).toMatch(expected);
});

test('the ETag is the key’s revision and the value is the stored JSON', async () => {
  const r = await request(open.httpUrl, 'GET', '/v1.0/state/store/plain');
  expect(r.status).toBe(200);
  expect(r.json).toEqual({ a: 1, s: 'x' });
  expect(Number(r.headers.get('etag'))).toBeGreaterThan(0);
  expect(r.headers.get('content-type')).toBe('application/json');
});

test('HTTP/1.1 without Host is refused by fastify either way; HTTP/1.0 without Host is served', async () => {
  expect(await sameBothWays(open, '/v1.0/state/store/plain', [])).toMatch(/^HTTP\/1\.1 400 /);
  const fast = await answer(open.httpPort, 'GET /v1.0/state/store/plain HTTP/1.0');
  const routed = await answer(open.httpPort, 'GET /v1.0/state/store/plain? HTTP/1.0');
  expect(fast).toBe(routed);
  expect(fast).toMatch(/^HTTP\/1\.1 200 /);
});

test('with DAPR_API_TOKEN: a missing or wrong token is 401 either way, the right one is served', async () => {
  const path = '/v1.0/state/store/plain';
  expect(await sameBothWays(guarded, path)).toMatch(/^HTTP\/1\.1 401 /);
  expect(await sameBothWays(guarded, path, ['Host: localhost', 'dapr-api-token: wrong'])).toMatch(
    /^HTTP\/1\.1 401 /,
  );
  expect(await sameBothWays(guarded, path, ['Host: localhost', `dapr-api-token: ${TOKEN}`])).toMatch(
    /^HTTP\/1\.1 200 [\s\S]*\{"a":1,"s":"x"\}$/,
  );
});

test('requests served by the fast path are counted in the route’s metric series', async () => {
  const series = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${open.metricsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('statecar_http_requests_total{') &&
          l.includes('route="/v1.0/state/:storeName/:key"') &&
          l.includes('method="GET"') &&
          l.includes('status="200"'),
      );
    return line ? Number(line.split(' ').pop()) : 0;
  };
  const before = await series();
  for (let i = 0; i < 5; i++)
    expect((await request(open.httpUrl, 'GET', '/v1.0/state/store/plain')).status).toBe(200);
  expect(await series()).toBe(before + 5);
});
