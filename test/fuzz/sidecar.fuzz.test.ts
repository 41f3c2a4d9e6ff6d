/**
 * Fuzz: hostile HTTP requests (raw sockets), raw gRPC payloads and raw HTTP/2 framing on every route and method of
 * a sidecar process, seeded and bounded (set FUZZ_SEED to replay a run, FUZZ_ROUNDS to scale it). Judged by the
 * harness's oracle: no crash, no hang, health up throughout, keys saved before intact, every HTTP error in Dapr's
 * JSON form, and no 5xx (gRPC UNKNOWN / INTERNAL) for a client error except daprd's own
 * (docs/dapr-api.md#where-daprd-answers-500-for-bad-input).
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { rawHttp } from '../support/raw-http';
import { RawGrpcClient } from '../support/raw-grpc';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { lockComponent } from '../dapr/support/components';
import { request } from '../dapr/support/http';
import {
  GRPC_METHODS,
  H2_CASES,
  PROTO_MUTATIONS,
  Rng,
  hostileHttpRequest,
  judgeGrpc,
  judgeHttp,
} from './harness';

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const SCALE = Number(process.env.FUZZ_ROUNDS ?? 1);
const HTTP_CASES = 480 * SCALE;
const GRPC_CASES = 360 * SCALE;
const H2_ROUNDS = 60 * SCALE;
const CONCURRENCY = 8;
/** An answer (or the server closing) must come within this; more is a hang. */
const ANSWER_MS = 8000;

jest.setTimeout(120_000);

let sc: Sidecar;
/** What the oracle found in the current test (emptied before each). */
const failures: string[] = [];
const canary = new Map<string, { body: string; etag: string | null }>();

/** Run `n` cases `CONCURRENCY` at a time; every `checkEvery` cases, check the sidecar is alive and healthy. */
async function run(n: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await one(i);
      if (i % 60 === 59) await expectHealthy(`after case ${i}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function expectHealthy(when: string): Promise<void> {
  const exited = await Promise.race([sc.proc.exited, new Promise((r) => setTimeout(() => r(undefined), 0))]);
  if (exited !== undefined)
    throw new Error(`sidecar exited (${String(exited)}) ${when}:\n${sc.proc.output()}`);
  const h = await request(sc.httpUrl, 'GET', '/v1.0/healthz');
  if (h.status !== 204) failures.push(`healthz ${h.status} ${when}`);
}

beforeAll(async () => {
  sc = await startSidecar({
    args: ['--max-body-size', String(256 * 1024)],
    components: {
      'statestore.yaml': stateComponent('statestore', 'state.in-memory', { etcdAPI: 'true' }),
      'lockstore.yaml': lockComponent('lockstore', 'lock.in-memory', { stateStore: 'statestore' }),
      'canary.yaml': stateComponent('canary', 'state.in-memory'),
      'configstore.yaml': stateComponent('configstore', 'configuration.in-memory', {
        stateStore: 'statestore',
      }),
    },
  });
  // Keys saved before the fuzz, in a store it never names: they must come out of it unchanged.
  for (let i = 0; i < 20; i++) {
    const r = await request(sc.httpUrl, 'POST', '/v1.0/state/canary', [
      { key: `c${i}`, value: { i, s: 'é|🔑' } },
    ]);
    expect(r.status).toBe(204);
    const g = await request(sc.httpUrl, 'GET', `/v1.0/state/canary/c${i}`);
    canary.set(`c${i}`, { body: g.text, etag: g.headers.get('etag') });
  }
});

afterAll(async () => {
  await sc?.stop();
});

beforeEach(() => {
  failures.length = 0;
});

test(`hostile HTTP requests on every route (seed ${SEED})`, async () => {
  const rng = new Rng(SEED);
  const cases = Array.from({ length: HTTP_CASES }, () => hostileHttpRequest(rng));
  const statuses = new Map<number, number>();
  await run(cases.length, async (i) => {
    const c = cases[i]!;
    const r = await rawHttp(sc.httpPort, c.bytes, {
      timeoutMs: c.stream ? 1500 : ANSWER_MS,
      halfClose: true,
    });
    const first = r.responses[0];
    if (first) statuses.set(first.status, (statuses.get(first.status) ?? 0) + 1);
    const streaming = c.stream && /^HTTP\/1\.1 200/.test(r.raw);
    if (r.ended === 'timeout' && !streaming)
      failures.push(`#${i} ${c.what}: no answer within ${ANSWER_MS} ms`);
    const bad = judgeHttp(first);
    if (bad) failures.push(`#${i} ${c.what}: ${bad}`);
  });
  await expectHealthy('after the HTTP fuzz');
  expect(failures).toEqual([]);
  // The run was not vacuous: most requests were answered, many of them refused, some served.
  const count = (pred: (s: number) => boolean): number =>
    [...statuses].filter(([s]) => pred(s)).reduce((n, [, c]) => n + c, 0);
  expect(count(() => true)).toBeGreaterThan(HTTP_CASES * 0.7);
  expect(count((s) => s >= 400 && s < 500)).toBeGreaterThan(HTTP_CASES * 0.3);
  expect(count((s) => s < 300)).toBeGreaterThan(HTTP_CASES * 0.05);
});

test(`raw gRPC payloads on every method (seed ${SEED})`, async () => {
  const rng = new Rng(SEED + 1);
  const client = new RawGrpcClient(`127.0.0.1:${sc.grpcPort}`);
  const outcomes = { ok: 0, error: 0 };
  try {
    await run(GRPC_CASES, async (i) => {
      const m = rng.pick(GRPC_METHODS);
      const name = rng.pick(Object.keys(PROTO_MUTATIONS));
      const body = PROTO_MUTATIONS[name]!(rng, m.request(rng));
      const r = await client.unary(m.path, body, new grpc.Metadata(), ANSWER_MS);
      outcomes[r.ok ? 'ok' : 'error']++;
      if (r.ok) return;
      if (r.code === grpc.status.DEADLINE_EXCEEDED) failures.push(`#${i} ${name} ${m.path}: no answer`);
      const bad = judgeGrpc(m.path, r);
      if (bad) failures.push(`#${i} ${name} ${m.path} ${body.toString('hex').slice(0, 80)}: ${bad}`);
    });
  } finally {
    client.close();
  }
  await expectHealthy('after the gRPC fuzz');
  expect(failures).toEqual([]);
  expect(outcomes.ok).toBeGreaterThan(GRPC_CASES * 0.1);
  expect(outcomes.error).toBeGreaterThan(GRPC_CASES * 0.2);
});

/** One raw HTTP/2 stream on a fresh session; resolves with the grpc-status (or HTTP status) once it closes. */
function h2Stream(
  headers: Record<string, string>,
  data: Buffer,
): Promise<{ status: string; message: string }> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${sc.grpcPort}`);
    let status = '';
    let message = '';
    const timer = setTimeout(() => {
      session.destroy();
      resolve({ status: 'hang', message: '' });
    }, ANSWER_MS);
    const done = (): void => {
      clearTimeout(timer);
      session.close();
      resolve({ status, message });
    };
    session.on('error', done);
    const stream = session.request(headers);
    stream.on('response', (h) => {
      status = String(h['grpc-status'] ?? h[':status'] ?? '');
      message = decodeURIComponent(String(h['grpc-message'] ?? ''));
    });
    stream.on('trailers', (t) => {
      status = String(t['grpc-status'] ?? status);
      message = decodeURIComponent(String(t['grpc-message'] ?? message));
    });
    stream.on('data', () => undefined);
    stream.on('close', done);
    stream.on('error', () => undefined);
    stream.end(data);
  });
}

test(`raw HTTP/2 framing (seed ${SEED})`, async () => {
  const rng = new Rng(SEED + 2);
  await run(H2_ROUNDS, async (i) => {
    const c = rng.pick(H2_CASES);
    const m = rng.pick(GRPC_METHODS);
    const r = await h2Stream(c.headers(m.path), c.data(rng, m.request(rng)));
    if (r.status === 'hang') failures.push(`#${i} ${c.name} ${m.path}: no answer`);
    const code = Number(r.status);
    if (r.status !== '' && Number.isInteger(code) && code < 100) {
      const bad = judgeGrpc(m.path, { code, details: r.message });
      if (bad) failures.push(`#${i} ${c.name} ${m.path}: ${bad}`);
    }
  });
  await expectHealthy('after the HTTP/2 fuzz');
  expect(failures).toEqual([]);
});

test('afterwards: alive, healthy on both protocols, the keys saved before intact', async () => {
  await expectHealthy('at the end');
  for (const [key, before] of canary) {
    const g = await request(sc.httpUrl, 'GET', `/v1.0/state/canary/${key}`);
    expect([key, g.status, g.text, g.headers.get('etag')]).toEqual([key, 200, before.body, before.etag]);
  }
  const client = new RawGrpcClient(`127.0.0.1:${sc.grpcPort}`);
  try {
    const r = await client.unary('/grpc.health.v1.Health/Check', Buffer.alloc(0));
    // HealthCheckResponse { status: SERVING (1) }
    expect(r).toEqual({ ok: true, bytes: Buffer.from([0x08, 0x01]) });
  } finally {
    client.close();
  }
  expect(failures).toEqual([]);
});
