import Redis from 'ioredis';
import type { Engine } from '../src/engine';
import { createRedisEngine } from '../src/engine/redis';
import { LeaseClock } from '../src/state/lease-clock';
import { DaprStateStore } from '../src/state/state-store';
import { startRedisServer, type RedisServer } from '../test/support/redis-server';
import { throughput, type BenchResult } from './engine-bench';

/**
 * Dapr SaveState / GetState on the Redis backend beside raw ioredis SET / GET, from the same process against the
 * same `redis-server`. SaveState and GetState run through {@link DaprStateStore}, the code path of the Dapr API
 * minus the wire (etag handling, key prefix, one Lua script per write: revision, record, history, log, publish).
 * The ratio (statecar / raw, ops per second) is what to watch; absolute figures depend on the machine.
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

/**
 * Measure SaveState / GetState on Redis beside raw SET / GET for `ms` each. Returns two results, each with the raw
 * figure as its floor and `ratio` = statecar / raw.
 */
export async function benchRedis(ms: number, options: RedisBenchOptions = {}): Promise<BenchResult[]> {
  const concurrency = options.concurrency ?? 32;
  const value = Buffer.alloc(options.valueBytes ?? 64, 'v');
  const keySpace = options.keySpace ?? 1000;
  const server: RedisServer | undefined = options.redisHost ? undefined : await startRedisServer();
  const host = options.redisHost ?? server!.host;
  const [h, p] = host.split(':');
  const raw = new Redis({ host: h, port: Number(p ?? 6379) });
  const prefix = `bench:{${process.pid}-${Date.now()}}:`;
  let engine: Engine | undefined;
  let clock: LeaseClock | undefined;
  try {
    engine = await createRedisEngine({ redisHost: host, storePrefix: prefix });
    clock = new LeaseClock(engine);
    const store = new DaprStateStore({ name: 'statestore', engine, clock, prefix: 'bench', maxTxnOps: 128 });
    const rawKey = (i: number): string => `${prefix}raw:${i % keySpace}`;
    const stateKey = (i: number): string => `key-${i % keySpace}`;
    const rawSet = await throughput(concurrency, ms, (w, i) => raw.set(rawKey(w * 7919 + i), value));
    const save = await throughput(concurrency, ms, (w, i) =>
      store.save([{ key: stateKey(w * 7919 + i), value }]),
    );
    const rawGet = await throughput(concurrency, ms, (w, i) => raw.getBuffer(rawKey(w * 7919 + i)));
    const get = await throughput(concurrency, ms, (w, i) => store.get(stateKey(w * 7919 + i)));
    return [
      {
        name: `redis: SaveState, ${concurrency} callers`,
        value: save,
        unit: 'ops/s',
        floor: { name: 'raw ioredis SET', value: rawSet },
        ratio: save / rawSet,
      },
      {
        name: `redis: GetState, ${concurrency} callers`,
        value: get,
        unit: 'ops/s',
        floor: { name: 'raw ioredis GET', value: rawGet },
        ratio: get / rawGet,
      },
    ];
  } finally {
    clock?.close();
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
    await server?.destroy();
  }
}
