/**
 * Every HTTP error in Dapr's form (docs/dapr-api.md#errors-before-a-route), and no client error as a 500: requests
 * refused before any route runs, bodies over `--max-body-size` whose client is still sending, JSON nested at any
 * depth, `||` in a lock resource id. Raw sockets and Node's HTTP client against a sidecar process.
 */
import http from 'node:http';
import { status } from '@grpc/grpc-js';
import { rawHttp } from '../support/raw-http';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { defaultComponents } from './support/components';
import { daprGrpc, grpcFailure, type DaprGrpc } from './support/dapr-grpc-client';
import { request } from './support/http';

jest.setTimeout(60_000);

const LIMIT = 256 * 1024;
let sc: Sidecar;
let grpc: DaprGrpc;

beforeAll(async () => {
  sc = await startSidecar({ components: defaultComponents(), args: ['--max-body-size', String(LIMIT)] });
  grpc = daprGrpc(sc.grpcPort);
});

afterAll(async () => {
  grpc?.close();
  await sc?.stop();
});

/** A Dapr error body: exact content type, errorCode and message. */
function expectDaprError(
  res: { status: number; headers: Record<string, string>; json?: unknown } | undefined,
  httpStatus: number,
  errorCode: string,
  message: RegExp | string,
): void {
  expect(res?.status).toBe(httpStatus);
  expect(res?.headers['content-type']).toBe('application/json');
  expect(res?.json).toEqual({
    errorCode,
    message: typeof message === 'string' ? message : expect.stringMatching(message),
  });
}

describe('answered before any route', () => {
  test.each([
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, /^malformed HTTP request: /],
    [
      'a header without a colon',
      'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      400,
      /^malformed/,
    ],
    [
      'a broken percent-escape',
      'GET /v1.0/state/statestore/%zz HTTP/1.1\r\nHost: x\r\n\r\n',
      400,
      /^invalid URL escape/,
    ],
    ['HTTP/1.1 without Host', 'GET /v1.0/healthz HTTP/1.1\r\n\r\n', 400, 'missing required Host header'],
    [
      'headers over the limit',
      `GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      /too large/,
    ],
    [
      'a URL over the limit',
      `GET /v1.0/state/statestore/${'k'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      431,
      /too large/,
    ],
    [
      'Expect other than 100-continue',
      'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n',
      417,
      /teapot/,
    ],
  ])('%s → %i with a Dapr JSON body', async (_what, payload, httpStatus, message) => {
    const r = await rawHttp(sc.httpPort, payload);
    expect(r.ended).not.toBe('timeout');
    expectDaprError(r.responses[0], httpStatus, 'ERR_MALFORMED_REQUEST', message);
  });

  test('CONNECT is answered as an unmatched route (404 ERR_DIRECT_INVOKE), not a closed socket', async () => {
    const r = await rawHttp(sc.httpPort, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expectDaprError(
      r.responses[0],
      404,
      'ERR_DIRECT_INVOKE',
      'failed getting app id either from the URL path or the header dapr-app-id',
    );
  });

  test('HTTP/1.0 needs no Host; the sidecar stays healthy after all of the above', async () => {
    const r = await rawHttp(sc.httpPort, 'GET /v1.0/healthz HTTP/1.0\r\n\r\n');
    expect(r.responses[0]?.status).toBe(204);
  });
});

/** POST `size` bytes to the save route with Node's client, writing the whole body whatever the server answers. */
function postBig(
  size: number,
  agent: http.Agent,
  chunked: boolean,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: sc.httpPort,
      method: 'POST',
      path: '/v1.0/state/statestore',
      agent,
      headers: chunked ? { 'content-type': 'application/json' } : { 'content-length': size },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

test('a body over --max-body-size gets its 400 every time, while the client is still sending (no EPIPE)', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let round = 0; round < 6; round++) {
      const r = await postBig(LIMIT * 8, agent, round % 2 === 1);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toEqual({
        errorCode: 'ERR_MALFORMED_REQUEST',
        message: `failed to read request body: stream too large (limit ${LIMIT} bytes)`,
      });
    }
    // The connection stayed usable: the next request on it is served.
    const ok = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: sc.httpPort, path: '/v1.0/healthz', agent }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
        .on('error', reject);
    });
    expect(ok).toBe(204);
  } finally {
    agent.destroy();
  }
});

describe('JSON nesting', () => {
  const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
  const tooDeep = 10_001;

  test('deeper than Go accepts is 400 "exceeded max depth" on every JSON route', async () => {
    const cases: [string, string, string][] = [
      ['/v1.0/state/statestore', `[{"key":"k","value":${nested(tooDeep)}}]`, 'exceeded max depth'],
      ['/v1.0/state/statestore', nested(50_000), 'exceeded max depth'],
      [
        '/v1.0/state/statestore/bulk',
        `{"keys":${nested(tooDeep, '"k"')}}`,
        'failed deserializing HTTP body: exceeded max depth',
      ],
      [
        '/v1.0/state/statestore/transaction',
        `{"operations":[{"operation":"upsert","request":{"key":"t","value":${nested(tooDeep)}}}]}`,
        'exceeded max depth',
      ],
      ['/v1.0-alpha1/lock/lockstore', `{"resourceId":${nested(tooDeep)}}`, 'exceeded max depth'],
    ];
    for (const [path, body, message] of cases) {
      const r = await request(sc.httpUrl, 'POST', path, body);
      expect([path, r.status, r.json]).toEqual([path, 400, { errorCode: 'ERR_MALFORMED_REQUEST', message }]);
    }
  });

  test('up to the limit a value is stored and read back, over HTTP and through a transaction', async () => {
    // The value sits 4 levels down in the transaction body: the whole body stays within Go's 10,000.
    const value = nested(9_990);
    expect(
      (await request(sc.httpUrl, 'POST', '/v1.0/state/statestore', `[{"key":"deep","value":${value}}]`))
        .status,
    ).toBe(204);
    const got = await request(sc.httpUrl, 'GET', '/v1.0/state/statestore/deep');
    expect([got.status, got.text === value]).toEqual([200, true]);
    const tx = `{"operations":[{"operation":"upsert","request":{"key":"deep2","value":${value}}}]}`;
    expect((await request(sc.httpUrl, 'POST', '/v1.0/state/statestore/transaction', tx)).status).toBe(204);
    expect((await request(sc.httpUrl, 'GET', '/v1.0/state/statestore/deep2')).text).toBe(value);
  });

  test('gRPC SaveState with contentType application/json: too deep is the invalid-JSON error, never Internal', async () => {
    const f = await grpcFailure(
      grpc.call('SaveState', {
        storeName: 'statestore',
        states: [
          { key: 'g', value: Buffer.from(nested(tooDeep)), metadata: { contentType: 'application/json' } },
        ],
      }),
    );
    expect([f.code, f.details]).toEqual([status.UNKNOWN, 'exceeded max depth']);
    await grpc.call('SaveState', {
      storeName: 'statestore',
      states: [
        { key: 'g', value: Buffer.from(nested(9_999)), metadata: { contentType: 'application/json' } },
      ],
    });
  });
});

test('`||` in a lock resource id is the client’s error: HTTP 400, gRPC INVALID_ARGUMENT', async () => {
  const http400 = await request(sc.httpUrl, 'POST', '/v1.0-alpha1/lock/lockstore', {
    resourceId: 'a||b',
    lockOwner: 'o',
    expiryInSeconds: 5,
  });
  expect([http400.status, http400.json]).toEqual([
    400,
    { errorCode: 'ERR_MALFORMED_REQUEST', message: "input key/keyPrefix 'a||b' can't contain '||'" },
  ]);
  for (const [method, req] of [
    ['TryLockAlpha1', { storeName: 'lockstore', resourceId: 'a||b', lockOwner: 'o', expiryInSeconds: 5 }],
    ['UnlockAlpha1', { storeName: 'lockstore', resourceId: 'a||b', lockOwner: 'o' }],
  ] as const) {
    const f = await grpcFailure(grpc.call(method, req));
    expect([method, f.code, f.details]).toEqual([
      method,
      status.INVALID_ARGUMENT,
      "input key/keyPrefix 'a||b' can't contain '||'",
    ]);
  }
});
