/**
 * The observability modules on their own (in-process, no sidecar): log formats, the metrics of an instrumented
 * engine and HTTP server, the in-flight tracker and the order and deadline of a graceful shutdown.
 */
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import Fastify from 'fastify';
import { createEmbeddedEngine } from '../../src/engine';
import type { WatchMessage } from '../../src/engine/contract';
import { createLogger, formatLogLine } from '../../src/observability/logger';
import {
  grpcCallAccounting,
  HttpCallRecorder,
  instrumentHttp,
} from '../../src/observability/call-accounting';
import { GrpcServer } from '../../src/api/grpc/server/grpc-server';
import { StatecarMetrics } from '../../src/observability/metrics';
import { boundPort, startMetricsServer } from '../../src/observability/metrics-server';
import { httpApiOf } from '../../src/observability/route-classifier';
import { shutdownGracefully } from '../../src/lifecycle/graceful-shutdown';
import { InFlightTracker } from '../../src/lifecycle/in-flight-tracker';
import { ShutdownCoordinator } from '../../src/lifecycle/shutdown-coordinator';
import { find, parsePrometheusText } from './prom-text';

const b = (s: string) => Buffer.from(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

describe('logger', () => {
  test('--log-as-json writes daprd-style JSON records', () => {
    const out = capture();
    const log = createLogger({
      level: 'info',
      json: true,
      appId: 'myapp',
      version: 'statecar-1',
      destination: out.stream,
    });
    log.debug('hidden');
    log.info({ port: 3500 }, 'statecar is ready');
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(rec).toMatchObject({
      level: 'info',
      msg: 'statecar is ready',
      app_id: 'myapp',
      scope: 'statecar',
      ver: 'statecar-1',
      type: 'log',
      port: 3500,
    });
    expect(new Date(String(rec.time)).toISOString()).toBe(rec.time);
  });

  test('without --log-as-json writes readable key=value lines', () => {
    const out = capture();
    const log = createLogger({ level: 'debug', appId: 'myapp', destination: out.stream });
    log.debug({ store: 'statestore', n: 2 }, 'opened "store"');
    const [line] = out.lines();
    expect(line).toMatch(/^time="[^"]+" level=debug msg="opened \\"store\\"" /);
    expect(line).toContain(' app_id=myapp');
    expect(line).toContain(' store=statestore n=2');
    expect(line).not.toContain('{');
  });

  test('rejects an unknown level and leaves non-JSON lines alone', () => {
    expect(() => createLogger({ level: 'verbose' })).toThrow(/--log-level/);
    expect(formatLogLine('plain text')).toBe('plain text');
    expect(formatLogLine('{"level":"warn","msg":"x","err":{"message":"boom"}}')).toBe(
      'level=warn msg="x" err="{\\"message\\":\\"boom\\"}"',
    );
  });
});

describe('metrics', () => {
  test('an instrumented engine records operation latencies and its gauges', async () => {
    const metrics = new StatecarMetrics({ appId: 'a' });
    const engine = metrics.instrumentEngine(await createEmbeddedEngine(), 'orders');
    await engine.put({ key: b('k1'), value: b('v') });
    await engine.put({ key: b('k2'), value: b('v') });
    await engine.range({ key: b('k1') });
    await expect(engine.range({ key: b('') })).rejects.toThrow();
    await engine.leaseGrant({ ttl: 60 });
    await engine.compact({ revision: 2 });
    const messages: WatchMessage[] = [];
    const w1 = engine.watch({ key: b('k1') }, (m) => (messages.push(m), true));
    engine.watch({ key: b('k2') }, (m) => (messages.push(m), true));

    let m = parsePrometheusText(await metrics.text());
    const count = (op: string, outcome = 'ok') =>
      find(m, 'statecar_store_operation_duration_seconds_count', { store: 'orders', op, outcome })[0]?.value;
    expect(count('put')).toBe(2);
    expect(count('range')).toBe(1);
    expect(count('range', 'error')).toBe(1);
    expect(count('lease_grant')).toBe(1);
    expect(count('compact')).toBe(1);
    const gauge = (name: string) => find(m, name, { store: 'orders', backend: 'memory' })[0]?.value;
    expect(gauge('statecar_store_watchers')).toBe(2);
    expect(gauge('statecar_store_leases')).toBe(1);
    expect(gauge('statecar_store_revision')).toBe(3);
    expect(gauge('statecar_store_compact_revision')).toBe(2);
    expect(gauge('statecar_store_keys')).toBe(2);
    expect(gauge('statecar_store_up')).toBe(1);
    // Scrapes read the inner engine: they are not store operations.
    expect(count('lease_leases')).toBeUndefined();
    expect(find(m, 'process_cpu_user_seconds_total').length).toBe(1);

    w1.cancel();
    m = parsePrometheusText(await metrics.text());
    expect(gauge('statecar_store_watchers')).toBe(1);
    // Closing the engine cancels the other watcher; a closed engine's status is left out, not an error.
    await engine.close();
    expect(messages.filter((x) => x.type === 'canceled')).toHaveLength(1);
    m = parsePrometheusText(await metrics.text());
    expect(gauge('statecar_store_watchers')).toBe(0);
    expect(gauge('statecar_store_up')).toBe(0);
    expect(gauge('statecar_store_revision')).toBeUndefined();
  });

  test('HTTP hooks label requests by API and route pattern, never by raw URL', async () => {
    const metrics = new StatecarMetrics();
    const app = Fastify();
    app.get('/v1.0/state/:storeName/:key', async () => 'v');
    const t = new InFlightTracker();
    metrics.readInFlight(t);
    instrumentHttp(app, new HttpCallRecorder({ inFlight: t, metrics }));
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const server = await startMetricsServer(metrics.registry, 0, '127.0.0.1');
    try {
      await fetch(`${url}/v1.0/state/s/secret-key-1`);
      await fetch(`${url}/v1.0/state/s/secret-key-2`);
      await fetch(`${url}/nothing-here`);
      const text = await (await fetch(`http://127.0.0.1:${boundPort(server)}/metrics`)).text();
      expect(text).not.toContain('secret-key');
      const m = parsePrometheusText(text);
      expect(
        find(m, 'statecar_http_requests_total', {
          api: 'state',
          route: '/v1.0/state/:storeName/:key',
          status: '200',
        })[0]?.value,
      ).toBe(2);
      expect(
        find(m, 'statecar_http_requests_total', { api: 'unknown', route: 'unmatched', status: '404' })[0]
          ?.value,
      ).toBe(1);
      expect(find(m, 'statecar_inflight_requests', { protocol: 'http' })[0]?.value).toBe(0);
    } finally {
      server.close();
      await app.close();
    }
  });

  test('coarse API names', () => {
    expect(httpApiOf('/v1.0/state/:storeName')).toBe('state');
    expect(httpApiOf('/v1.0-alpha1/state/:store/watch')).toBe('watch');
    expect(httpApiOf('/v1.0-alpha1/lock/:storeName')).toBe('lock');
    expect(httpApiOf('/v1.0/healthz/outbound')).toBe('health');
    expect(httpApiOf('/v1.0/metadata')).toBe('metadata');
    expect(httpApiOf(undefined)).toBe('unknown');
  });
});

describe('in-flight tracking', () => {
  test('idle() waits for every request, or gives up at its timeout', async () => {
    const t = new InFlightTracker();
    expect(await t.idle(0)).toBe(true);
    const end1 = t.begin('http');
    const end2 = t.begin('http');
    expect(await t.idle(20)).toBe(false);
    const idle = t.idle(1000);
    end1();
    end1(); // twice is harmless
    expect(t.size).toBe(1);
    setTimeout(end2, 20);
    expect(await idle).toBe(true);
    expect(t.size).toBe(0);
  });

  test('streams are not in flight, but can all be ended from the server side', () => {
    const t = new InFlightTracker();
    const ended: string[] = [];
    const doneA = t.stream(() => ended.push('a'));
    t.stream(() => ended.push('b'));
    expect(t.size).toBe(0);
    expect(t.openStreams).toBe(2);
    doneA(); // a ended by itself
    expect(t.endStreams()).toBe(1);
    expect(ended).toEqual(['b']);
    expect(t.openStreams).toBe(0);
  });

  test('fastify requests are tracked until answered; the SSE watch route is not', async () => {
    const t = new InFlightTracker();
    const app = Fastify();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    app.get('/slow', async () => {
      await released;
      return 'done';
    });
    app.get('/v1.0-alpha1/state/:store/watch', async () => 'stream');
    instrumentHttp(app, new HttpCallRecorder({ inFlight: t }));
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      await fetch(`${url}/v1.0-alpha1/state/s/watch`);
      expect(t.size).toBe(0);
      const slow = fetch(`${url}/slow`);
      while (t.size === 0) await sleep(5);
      expect(t.size).toBe(1);
      release();
      expect(await (await slow).text()).toBe('done');
      expect(await t.idle(1000)).toBe(true);
    } finally {
      await app.close();
    }
  });

  test('gRPC unary calls are tracked until their status is sent', async () => {
    const t = new InFlightTracker();
    const metrics = new StatecarMetrics();
    const service: grpc.ServiceDefinition = {
      Echo: {
        path: '/test.Echo/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Buffer) => v,
        requestDeserialize: (v: Buffer) => v,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (v: Buffer) => v,
      },
    };
    let seenInFlight = -1;
    const server = new GrpcServer({ layers: [grpcCallAccounting({ inFlight: t, metrics })] });
    server.addService(service, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        seenInFlight = t.size;
        cb(null, call.request);
      },
    });
    const port = await server.listen('127.0.0.1', 0);
    const Client = grpc.makeGenericClientConstructor(service, 'Echo');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const reply = await new Promise<Buffer>((resolve, reject) =>
        (client as unknown as { Echo: (r: Buffer, cb: (e: Error | null, v: Buffer) => void) => void }).Echo(
          b('hi'),
          (e, v) => (e ? reject(e) : resolve(v)),
        ),
      );
      expect(reply.toString()).toBe('hi');
      expect(seenInFlight).toBe(1);
      expect(await t.idle(1000)).toBe(true);
      const m = parsePrometheusText(await metrics.text());
      expect(
        find(m, 'statecar_grpc_requests_total', { api: 'other', method: 'test.Echo/Echo', code: 'OK' })[0]
          ?.value,
      ).toBe(1);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe('graceful shutdown', () => {
  test('stops accepting, drains requests, then closes the engines, then waits for the listeners', async () => {
    const events: string[] = [];
    const t = new InFlightTracker();
    const end = t.begin('http');
    let listenersClosed!: () => void;
    setTimeout(() => {
      events.push('request done');
      end();
    }, 30);
    const ok = await shutdownGracefully(
      {
        stopAccepting: () => {
          events.push('stop accepting');
          return new Promise<void>((r) => (listenersClosed = r));
        },
        inFlight: t,
        closeEngines: async () => {
          events.push('close engines');
          // Engines canceling the watchers is what lets the listeners finish closing.
          setTimeout(() => {
            events.push('listeners closed');
            listenersClosed();
          }, 10);
        },
      },
      2000,
    );
    expect(ok).toBe(true);
    expect(events).toEqual(['stop accepting', 'request done', 'close engines', 'listeners closed']);
  });

  test('streams still open after the engines closed are cut after lingerMs, not at the deadline', async () => {
    const events: string[] = [];
    let listenersClosed!: () => void;
    const started = Date.now();
    const ok = await shutdownGracefully(
      {
        stopAccepting: () => new Promise<void>((r) => (listenersClosed = r)),
        closeEngines: async () => {
          events.push('close engines');
        },
        forceClose: () => {
          events.push('force');
          listenersClosed();
        },
        lingerMs: 50,
      },
      5000,
    );
    expect(ok).toBe(true);
    expect(events).toEqual(['close engines', 'force']);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a stuck request does not keep the engines open past the deadline', async () => {
    const t = new InFlightTracker();
    t.begin('http');
    let closed = false;
    const warnings: string[] = [];
    const started = Date.now();
    const ok = await shutdownGracefully(
      {
        stopAccepting: () => new Promise(() => undefined),
        inFlight: t,
        closeEngines: async () => {
          closed = true;
        },
      },
      100,
      { info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined },
    );
    expect(ok).toBe(false);
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(warnings.join('\n')).toMatch(/1 request\(s\) still in flight/);
  });

  test('the coordinator exits 0 after a clean stop, once, however often triggered', async () => {
    const exits: number[] = [];
    let stops = 0;
    const c = new ShutdownCoordinator({
      gracefulSeconds: 1,
      stop: async () => {
        stops++;
      },
      exit: (code) => exits.push(code),
    });
    await Promise.all([c.trigger('SIGTERM'), c.trigger('SIGINT')]);
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  test('the coordinator hard-exits 1 at --dapr-graceful-shutdown-seconds', async () => {
    const exits: number[] = [];
    const c = new ShutdownCoordinator({
      gracefulSeconds: 0.1,
      stop: () => new Promise(() => undefined),
      exit: (code) => exits.push(code),
    });
    const started = Date.now();
    await c.trigger('SIGTERM');
    expect(exits).toEqual([1]);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('the coordinator exits 1 when the stop fails', async () => {
    const exits: number[] = [];
    const c = new ShutdownCoordinator({
      stop: () => Promise.reject(new Error('flush failed')),
      exit: (code) => exits.push(code),
    });
    await c.trigger('SIGTERM');
    expect(exits).toEqual([1]);
  });
});
