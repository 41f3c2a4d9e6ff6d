/**
 * The HTTP port is a plain node:http server; fastify is built on the first request that needs it
 * (src/api/http/http-api-listener.ts). A sidecar that only answers probes and plain GETs never loads it, and
 * whichever path answers, the bytes are fastify's. The sidecar runs as its own process, with a preload (written by
 * the test, given through NODE_OPTIONS) that records every package the process loads: the test's window onto
 * "fastify is not loaded", outside statecar's code.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { rawHttp } from '../support/raw-http';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { request } from './support/http';

const STORE = 'store';
const TOKEN = 'lazy-token';
const components = { 'store.yaml': stateComponent(STORE, 'state.in-memory') };

let dir: string;
let preload: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-lazy-http-'));
  preload = path.join(dir, 'record-packages.js');
  // Appends each bare module name the first time the process loads it (synchronously: the file is complete as
  // soon as the request that loaded the module has been answered).
  fs.writeFileSync(
    preload,
    `const fs = require('node:fs');
const Module = require('node:module');
const out = process.env.STATECAR_TEST_PACKAGES;
const seen = new Set();
const load = Module._load;
Module._load = function (request, ...rest) {
  if (!seen.has(request) && !request.startsWith('.') && !request.startsWith('/') && !request.startsWith('node:')) {
    seen.add(request);
    fs.appendFileSync(out, request + '\\n');
  }
  return load.call(this, request, ...rest);
};
`,
  );
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A sidecar recording the packages it loads; `packages()` reads the record so far. */
async function recordingSidecar(
  name: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ sc: Sidecar; packages: () => string[] }> {
  const record = path.join(dir, `${name}.txt`);
  fs.writeFileSync(record, '');
  const sc = await startSidecar({
    components,
    args,
    env: { ...env, NODE_OPTIONS: `--require ${preload}`, STATECAR_TEST_PACKAGES: record },
  });
  return { sc, packages: () => fs.readFileSync(record, 'utf8').split('\n').filter(Boolean) };
}

/** One raw request's answer, without its Date header. */
async function answer(port: number, head: string): Promise<string> {
  const res = await rawHttp(port, `${head}\r\n\r\n`);
  expect(res.responses).toHaveLength(1);
  return res.raw.replace(/\r\nDate: [^\r]*/i, '');
}

/** Wait (bounded) until `cond` holds. */
async function eventually(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A connection that has sent `head` (an incomplete request) and collects what comes back. */
async function partialRequest(
  port: number,
  head: string,
): Promise<{ received(): string; finish(rest: string): Promise<string> }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  let got = '';
  sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const ended = new Promise<void>((resolve) => {
    sock.on('close', () => resolve());
    sock.on('error', () => resolve());
  });
  sock.write(head);
  return {
    received: () => got,
    async finish(rest) {
      sock.write(rest);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
      sock.destroy();
      return got.replace(/\r\nDate: [^\r]*/i, '');
    },
  };
}

/** fastify's answer to a request reaching a closing server. */
const CLOSING_503 =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n' +
  '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}';

test('probes and plain GETs are served without fastify; concurrent first requests that need it all succeed', async () => {
  const { sc, packages } = await recordingSidecar('probes');
  try {
    expect((await fetch(`${sc.httpUrl}/v1.0/healthz`)).status).toBe(204);
    expect((await fetch(`${sc.httpUrl}/v1.0/healthz/outbound`)).status).toBe(204);
    expect((await fetch(`${sc.httpUrl}/v1.0/state/${STORE}/missing`)).status).toBe(204);
    expect(packages()).toContain('pino');
    expect(packages()).not.toContain('fastify');
    // Counted as fastify's hooks count them.
    const metrics = await (await fetch(`http://127.0.0.1:${sc.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/statecar_http_requests_total\{[^}]*route="\/v1\.0\/healthz\/outbound"[^}]*\} 1/);
    expect(metrics).toMatch(/statecar_http_requests_total\{[^}]*route="\/v1\.0\/state\/:storeName\/:key"/);

    // The first requests fastify must serve arrive together: all wait for the one build and are answered.
    const writes = Array.from({ length: 8 }, (_, i) =>
      request(sc.httpUrl, 'POST', `/v1.0/state/${STORE}`, [{ key: `k${i}`, value: { i } }]),
    );
    const routed = request(sc.httpUrl, 'GET', `/v1.0/state/${STORE}/missing?metadata.x=y`);
    const unknown = request(sc.httpUrl, 'GET', '/v1.0/nothing-here');
    const results = await Promise.all(writes);
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(204));
    expect((await routed).status).toBe(204);
    expect(await unknown).toMatchObject({ status: 404, json: { errorCode: 'ERR_DIRECT_INVOKE' } });
    expect(packages()).toContain('fastify');
    for (let i = 0; i < 8; i++) {
      expect((await request(sc.httpUrl, 'GET', `/v1.0/state/${STORE}/k${i}`)).json).toEqual({ i });
    }
  } finally {
    await sc.stop();
  }
}, 60_000);

test('a probe answered without fastify is byte for byte the answer fastify gives', async () => {
  const [open, guarded] = await Promise.all([
    recordingSidecar('open'),
    recordingSidecar('guarded', { DAPR_API_TOKEN: TOKEN }),
  ]);
  try {
    for (const { sc, packages } of [open, guarded]) {
      const cases: [string, string][] = [];
      for (const p of ['/v1.0/healthz', '/v1.0/healthz/outbound']) {
        for (const headers of [
          ' HTTP/1.1\r\nHost: x',
          ' HTTP/1.1\r\nHost: x\r\nConnection: close',
          ' HTTP/1.0',
        ]) {
          cases.push([`GET ${p}`, headers]);
        }
      }
      const plain: string[] = [];
      for (const [line, rest] of cases) plain.push(await answer(sc.httpPort, line + rest));
      for (const a of plain) expect(a).toMatch(/^HTTP\/1\.1 204 /);
      expect(packages()).not.toContain('fastify');
      // A trailing `?` sends the same request through fastify (the plain path takes no query).
      for (const [i, [line, rest]] of cases.entries()) {
        expect(await answer(sc.httpPort, `${line}?${rest}`)).toBe(plain[i]);
      }
      expect(packages()).toContain('fastify');
    }
  } finally {
    await Promise.all([open.sc.stop(), guarded.sc.stop()]);
  }
}, 60_000);

/** `statecar_inflight_requests{protocol="http"}` as the metrics endpoint shows it now. */
async function httpInFlight(sc: Sidecar): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${sc.metricsPort}/metrics`)).text();
  const m = /^statecar_inflight_requests\{protocol="http"[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

test('SIGTERM before fastify was ever built: exits 0, still without fastify', async () => {
  const { sc, packages } = await recordingSidecar('stop-unbuilt');
  // A keep-alive connection left open after its answer does not hold the exit.
  const idle = await partialRequest(sc.httpPort, 'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n');
  const signalled = Date.now();
  const [answered, code] = await Promise.all([
    idle.finish('\r\n'),
    (async () => {
      // The probe is answered before the signal, so its connection is idle by then.
      await eventually(() => idle.received().includes('\r\n\r\n'), 'the probe answer');
      return sc.stop();
    })(),
  ]);
  expect(answered).toMatch(/^HTTP\/1\.1 204 /);
  expect(code).toBe(0);
  expect(Date.now() - signalled).toBeLessThan(5000);
  expect(packages()).not.toContain('fastify');
}, 30_000);

test('SIGTERM after the build: the request in flight is drained, a new one gets the 503 of a closing server', async () => {
  const { sc, packages } = await recordingSidecar('stop-built', {}, [
    '--dapr-graceful-shutdown-seconds',
    '10',
  ]);
  try {
    const first = await request(sc.httpUrl, 'POST', `/v1.0/state/${STORE}`, [{ key: 'a', value: 1 }]);
    expect(first.status).toBe(204);
    expect(packages()).toContain('fastify');
    // A request begun (its connection is then not idle) and finished once the sidecar is closing.
    const probe = await partialRequest(sc.httpPort, 'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n');
    // In flight: headers sent, the body still coming.
    const body = JSON.stringify([{ key: 'b', value: 2 }]);
    const write = await partialRequest(
      sc.httpPort,
      `POST /v1.0/state/${STORE} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    const deadline = Date.now() + 15_000;
    while ((await httpInFlight(sc)) !== 1) {
      if (Date.now() > deadline) throw new Error('the write never got in flight');
      await new Promise((r) => setTimeout(r, 20));
    }
    sc.proc.child.kill('SIGTERM');
    await eventually(() => sc.proc.output().includes('statecar is shutting down'), 'the shutdown to begin');
    expect(await probe.finish('\r\n')).toBe(CLOSING_503);
    expect(await write.finish(body.slice(5))).toMatch(/^HTTP\/1\.1 204 /);
    expect(await sc.proc.exited).toBe(0);
  } finally {
    await sc.proc.stop(1000);
  }
}, 60_000);
