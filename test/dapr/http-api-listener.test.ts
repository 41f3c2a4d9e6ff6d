/**
 * The HTTP API listener in-process (src/api/http/http-api-listener.ts), with the real fastify instance of
 * server.ts as its build, counted: one build for concurrent first requests, a failed build answered as a Dapr
 * error and tried again, the 503 of a closing server when fastify was never built, the ports' listen errors and
 * `localhost` bound as fastify binds it. (The sidecar process is tested in http-lazy-fastify.test.ts.)
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import type { FastifyServerFactory } from 'fastify';
import { HttpApiListener } from '../../src/api/http/http-api-listener';
import { createHttpServer } from '../../src/api/http/server';
import { apiContextWith } from '../support/api-context';
import { rawHttp } from '../support/raw-http';

/** A listener whose builds are counted; `fail` makes the next builds throw. */
function listener(): { api: HttpApiListener; builds: () => number; fail: (n: number) => void } {
  const ctx = apiContextWith();
  let builds = 0;
  let failures = 0;
  const api = new HttpApiListener({
    ctx,
    build: async (serverFactory: FastifyServerFactory) => {
      builds++;
      // Let concurrent requests pile up behind a build that takes a while.
      await new Promise((r) => setTimeout(r, 50));
      if (failures > 0) {
        failures--;
        throw new Error('no fastify today');
      }
      return createHttpServer(ctx, [], [], undefined, serverFactory);
    },
  });
  return { api, builds: () => builds, fail: (n) => (failures = n) };
}

/** A path only fastify serves (the plain health path takes exactly `/v1.0/healthz`). */
const ROUTED = 'GET /v1.0/healthz/ HTTP/1.1\r\nHost: x\r\n\r\n';

test('concurrent first requests share one build; probes never build', async () => {
  const { api, builds } = listener();
  try {
    const port = await api.listen('127.0.0.1', 0);
    expect((await rawHttp(port, 'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n')).responses[0]?.status).toBe(
      204,
    );
    expect(builds()).toBe(0);
    expect(api.fastifyBuilt).toBe(false);
    const answers = await Promise.all(Array.from({ length: 6 }, () => rawHttp(port, ROUTED)));
    expect(answers.map((a) => a.responses[0]?.status)).toEqual(Array(6).fill(204));
    expect(builds()).toBe(1);
    expect(api.fastifyBuilt).toBe(true);
    expect((await rawHttp(port, ROUTED)).responses[0]?.status).toBe(204);
    expect(builds()).toBe(1);
  } finally {
    await api.close();
  }
});

test('a failed build answers a Dapr error, not a hang, and the next request builds again', async () => {
  const { api, builds, fail } = listener();
  try {
    const port = await api.listen('127.0.0.1', 0);
    fail(1);
    const failed = await Promise.all([rawHttp(port, ROUTED), rawHttp(port, ROUTED)]);
    for (const f of failed) {
      expect(f.responses[0]).toMatchObject({
        status: 500,
        headers: { 'content-type': 'application/json' },
        json: { errorCode: 'ERR_INTERNAL', message: 'the HTTP API could not be started: no fastify today' },
      });
    }
    expect(builds()).toBe(1);
    expect((await rawHttp(port, ROUTED)).responses[0]?.status).toBe(204);
    expect(builds()).toBe(2);
  } finally {
    await api.close();
  }
});

test('closing before fastify was built: a request that comes in then gets the 503 fastify gives', async () => {
  const { api, builds } = listener();
  const port = await api.listen('127.0.0.1', 0);
  const sock = net.connect(port, '127.0.0.1');
  let got = '';
  sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const ended = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  // A request begun: its connection is not idle, so closing does not cut it.
  sock.write('POST /v1.0/state/store HTTP/1.1\r\nHost: x\r\n');
  // Node reads what was sent before closing begins (a round trip on another connection shows it has).
  expect((await rawHttp(port, 'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n')).responses[0]?.status).toBe(
    204,
  );
  const closed = api.close();
  sock.write('Content-Length: 2\r\n\r\n[]');
  await ended;
  await closed;
  expect(got.replace(/\r\nDate: [^\r]*/i, '')).toBe(
    'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n' +
      '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}',
  );
  expect(builds()).toBe(0);
});

test('a port in use fails the listen with its error; several addresses share one fastify', async () => {
  const { api, builds } = listener();
  const other = listener().api;
  try {
    const port = await api.listen('127.0.0.1', 0);
    await expect(other.listen('127.0.0.1', port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // localhost: every address it resolves to, on the one port (as fastify's listen).
    const local = await api.listen('localhost', 0);
    const addresses = await dns.lookup('localhost', { all: true });
    for (const { address } of addresses) {
      const res = await new Promise<string>((resolve, reject) => {
        const s = net.connect(local, address);
        let out = '';
        s.on('data', (d: Buffer) => (out += d.toString()));
        s.on('error', reject);
        s.on('close', () => resolve(out));
        s.write('GET /v1.0/healthz/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      expect(res).toMatch(/^HTTP\/1\.1 204 /);
    }
    expect((await rawHttp(port, ROUTED)).responses[0]?.status).toBe(204);
    expect(builds()).toBe(1);
  } finally {
    await Promise.all([api.close(), other.close()]);
  }
});
