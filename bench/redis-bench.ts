import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { Engine } from '../src/engine';
import { createRedisEngine } from '../src/engine/redis';
import type { BenchResult } from './engine-bench';

/**
 * The Redis backend beside raw ioredis, from the same process against the same `redis-server`: engine Put (one Lua
 * script per write: revision, record, history, log, publish) vs raw SET, and engine point Range vs raw GET. The
 * ratio (engine / raw, ops per second) is what to watch; absolute figures depend on the machine.
 */

export interface RedisBenchOptions {
  /** `host:port` of a Redis to use; default: start a throwaway `redis-server` on a free loopback port. */
  redisHost?: string;
  /** Concurrent callers per measurement. Default 32. */
  concurrency?: number;
  /** Value size in bytes. Default 64. */
  valueBytes?: number;
  /** Distinct keys written and read. Default 1000. */
  keySpace?: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a PING on a fresh connection gets PONG (the server may accept connections before it is ready). */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d: Buffer) => done(d.toString().startsWith('+PONG')));
  });
}

/** Start a non-persistent redis-server for the run; resolves with its host and a stop function. */
async function startServer(): Promise<{ host: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-redis-bench-'));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  while (!(await pong(port))) {
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run `workers` async loops calling `op` until `ms` elapse; completed ops per second. */
async function throughput(
  workers: number,
  ms: number,
  op: (w: number, i: number) => Promise<unknown>,
): Promise<number> {
  const start = performance.now();
  const deadline = start + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await op(w, i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

/**
 * Measure engine Put / point Range on Redis beside raw ioredis SET / GET for `ms` each. Returns two results, each
 * with the raw figure as its floor and `ratio` = engine / raw.
 */
export async function benchRedis(ms: number, options: RedisBenchOptions = {}): Promise<BenchResult[]> {
  const concurrency = options.concurrency ?? 32;
  const value = Buffer.alloc(options.valueBytes ?? 64, 'v');
  const keySpace = options.keySpace ?? 1000;
  const server = options.redisHost ? undefined : await startServer();
  const host = options.redisHost ?? server!.host;
  const [h, p] = host.split(':');
  const raw = new Redis({ host: h, port: Number(p ?? 6379) });
  const prefix = `bench:{${process.pid}-${Date.now()}}:`;
  let engine: Engine | undefined;
  try {
    engine = await createRedisEngine({ redisHost: host, storePrefix: prefix });
    const rawKey = (i: number): string => `${prefix}raw:${i % keySpace}`;
    const engKey = (i: number): Buffer => Buffer.from(`key-${String(i % keySpace).padStart(8, '0')}`);
    const e = engine;
    const rawSet = await throughput(concurrency, ms, (w, i) => raw.set(rawKey(w * 7919 + i), value));
    const put = await throughput(concurrency, ms, (w, i) => e.put({ key: engKey(w * 7919 + i), value }));
    const rawGet = await throughput(concurrency, ms, (w, i) => raw.getBuffer(rawKey(w * 7919 + i)));
    const get = await throughput(concurrency, ms, (w, i) => e.range({ key: engKey(w * 7919 + i) }));
    return [
      {
        name: 'redis: engine put (ops/s)',
        value: put,
        unit: 'ops/s',
        floor: { name: 'raw ioredis SET', value: rawSet },
        ratio: put / rawSet,
      },
      {
        name: 'redis: engine point get (ops/s)',
        value: get,
        unit: 'ops/s',
        floor: { name: 'raw ioredis GET', value: rawGet },
        ratio: get / rawGet,
      },
    ];
  } finally {
    await engine?.close();
    // Leave a shared Redis as we found it.
    if (!server) {
      let cursor = '0';
      do {
        const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await raw.del(...keys);
      } while (cursor !== '0');
    }
    raw.disconnect();
    await server?.stop();
  }
}
