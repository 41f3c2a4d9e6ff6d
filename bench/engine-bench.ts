import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import BTree from 'sorted-btree';
import { createEmbeddedEngine, type Engine, type WatchMessage } from '../src/engine';
import { prefixEnd } from '../src/engine/key-range';

/** One benchmark figure, optionally beside the floor it is compared with. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** The raw dependency floor measured in the same run. */
  floor?: { name: string; value: number };
  /** value / floor.value (or as the target defines it). */
  ratio?: number;
  target?: { description: string; met: boolean };
  /** What was measured, when not the engine in the bench's own process (e.g. a sidecar process). */
  server?: string;
}

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-bench-'));
const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(8, '0')}`);

/** Run `workers` async loops calling `op` until `ms` elapse; returns completed ops per second. */
export async function throughput(
  workers: number,
  ms: number,
  op: (worker: number, i: number) => Promise<unknown>,
): Promise<number> {
  const deadline = performance.now() + ms;
  let done = 0;
  const start = performance.now();
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

/** Durable put with 64 concurrent writers, beside raw lmdb puts (same sync options) with 64 writers. */
export async function benchDurablePut(ms: number): Promise<BenchResult> {
  const value = Buffer.alloc(64, 'v');
  const rawDir = tmp();
  const raw = open({ path: path.join(rawDir, 'raw.mdb'), overlappingSync: true, separateFlushed: true });
  const rawRate = await throughput(64, ms, async (w, i) => {
    const p = raw.put(`w${w}-${i % 1000}`, value) as Promise<boolean> & { flushed?: Promise<void> };
    await p;
    await p.flushed;
  });
  await raw.close();
  const engine = await createEmbeddedEngine({ dataDir: tmp() });
  const rate = await throughput(64, ms, (w, i) =>
    engine.put({ key: Buffer.from(`w${w}-${i % 1000}`), value }),
  );
  await engine.close();
  const ratio = rate / rawRate;
  return {
    name: 'durable put, 64 writers',
    value: rate,
    unit: 'ops/s',
    floor: { name: 'raw lmdb put (fsync), 64 writers', value: rawRate },
    ratio,
    target: { description: '>= 0.3x raw lmdb', met: ratio >= 0.3 },
  };
}

/** Wait `n` turns of the event loop. */
async function turns(n: number): Promise<void> {
  for (let t = 0; t < n; t++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Durable put with 128 writers that each wait 0–2 event-loop turns before every put, so writes keep arriving
 * while earlier transactions sync (what a server sees: requests come in over many turns), beside raw lmdb puts
 * written the same way. This is the shape where the engine's group commit gathers writes across turns.
 */
export async function benchDurablePutSpread(ms: number): Promise<BenchResult> {
  const value = Buffer.alloc(64, 'v');
  const rawDir = tmp();
  const raw = open({ path: path.join(rawDir, 'raw.mdb'), overlappingSync: true, separateFlushed: true });
  const rawRate = await throughput(128, ms, async (w, i) => {
    await turns((w + i) % 3);
    const p = raw.put(`w${w}-${i % 1000}`, value) as Promise<boolean> & { flushed?: Promise<void> };
    await p;
    await p.flushed;
  });
  await raw.close();
  const engine = await createEmbeddedEngine({ dataDir: tmp() });
  const rate = await throughput(128, ms, async (w, i) => {
    await turns((w + i) % 3);
    await engine.put({ key: Buffer.from(`w${w}-${i % 1000}`), value });
  });
  await engine.close();
  return {
    name: 'durable put, 128 writers spread over turns',
    value: rate,
    unit: 'ops/s',
    floor: { name: 'raw lmdb put (fsync), same writers', value: rawRate },
    ratio: rate / rawRate,
  };
}

/** In-memory point get and prefix range, beside raw index lookups on the same keys. */
export async function benchReads(ms: number, keys = 100_000): Promise<BenchResult[]> {
  const engine = await createEmbeddedEngine({});
  const value = Buffer.alloc(64, 'v');
  for (let i = 0; i < keys; i++) await engine.put({ key: key(i), value });
  const probes = Array.from({ length: 4096 }, (_, i) => key((i * 7919) % keys));

  // Floor: the raw structures a point read stands on (hash lookup of the binary-string key) and a B-tree.
  const map = new Map<string, number>();
  const tree = new BTree<string, number>(undefined, (a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 0; i < keys; i++) {
    map.set(key(i).toString('latin1'), i);
    tree.set(key(i).toString('latin1'), i);
  }
  let sink = 0;
  const rawGet = await throughput(1, ms, async (_w, i) => {
    // Batches of synchronous lookups, so the loop's own await does not dominate the floor.
    for (let j = 0; j < 256; j++) sink += map.get(probes[(i * 256 + j) & 4095].toString('latin1')) ?? 0;
  });

  const getRate = await throughput(1, ms, async (_w, i) => {
    for (let j = 0; j < 256; j++) await engine.range({ key: probes[(i * 256 + j) & 4095] });
  });

  // Range: 100 consecutive keys by prefix ("key-00001" covers key-0000100..199 style blocks of 100).
  const prefixes = Array.from({ length: 64 }, (_, i) =>
    Buffer.from(`key-${String(i * 10).padStart(6, '0')}`),
  );
  const rawRange = await throughput(1, ms, async (_w, i) => {
    const p = prefixes[i & 63];
    const lo = p.toString('latin1');
    const hi = prefixEnd(p).toString('latin1');
    tree.forRange(lo, hi, false, (_k, v) => {
      sink += v;
    });
  });
  const rangeRate = await throughput(1, ms, async (_w, i) => {
    const p = prefixes[i & 63];
    await engine.range({ key: p, rangeEnd: prefixEnd(p) });
  });
  await engine.close();
  void sink;
  const durableGet = await benchDurableGet(ms);
  const getOps = getRate * 256;
  const rawGetOps = rawGet * 256;
  return [
    {
      name: 'in-memory point get',
      value: getOps,
      unit: 'ops/s',
      floor: { name: 'raw index lookup (Map.get)', value: rawGetOps },
      ratio: getOps / rawGetOps,
      target: { description: '>= 1,000,000 ops/s', met: getOps >= 1_000_000 },
    },
    {
      name: 'in-memory range, 100 keys',
      value: rangeRate,
      unit: 'ops/s',
      floor: { name: 'raw B-tree range scan, 100 keys', value: rawRange },
      ratio: rangeRate / rawRange,
    },
    durableGet,
  ];
}

/**
 * Durable point get of 1,024 hot keys (of 20,000) with the default value cache, beside the same reads with the
 * cache off (every read an LMDB get + unpack).
 */
async function benchDurableGet(ms: number): Promise<BenchResult> {
  const value = Buffer.alloc(64, 'v');
  const hot = Array.from({ length: 1024 }, (_, i) => key((i * 7919) % 20_000));
  const rates: number[] = [];
  for (const valueCacheBytes of [0, undefined]) {
    const engine = await createEmbeddedEngine({ dataDir: tmp(), valueCacheBytes });
    for (let i = 0; i < 20_000; i += 1000) {
      await Promise.all(Array.from({ length: 1000 }, (_, j) => engine.put({ key: key(i + j), value })));
    }
    const n = hot.length;
    const rate = await throughput(1, ms, async (_w, i) => {
      for (let j = 0; j < 256; j++) await engine.range({ key: hot[(i * 256 + j) % n] });
    });
    rates.push(rate * 256);
    await engine.close();
  }
  const [uncached, cached] = rates;
  return {
    name: 'durable point get, 1,024 hot keys',
    value: cached,
    unit: 'ops/s',
    floor: { name: 'durable point get, value cache off', value: uncached },
    ratio: cached / uncached,
  };
}

/** Txn (compare mod revision + put), in memory and durable with 64 writers. */
export async function benchTxn(ms: number): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const durable of [false, true]) {
    const engine = await createEmbeddedEngine(durable ? { dataDir: tmp() } : {});
    const value = Buffer.alloc(64, 't');
    const rate = await throughput(durable ? 64 : 1, ms, async (w, i) => {
      const k = Buffer.from(`txn-${w}-${i % 100}`);
      await engine.txn({
        compare: [{ key: k, target: 'VERSION', result: 'GREATER', version: -1 }],
        success: [{ put: { key: k, value } }],
      });
    });
    await engine.close();
    out.push({
      name: `txn compare+put, ${durable ? 'durable, 64 writers' : 'in-memory, 1 writer'}`,
      value: rate,
      unit: 'ops/s',
    });
  }
  return out;
}

/** One put delivered to 10,000 watchers on overlapping ranges: time until every watcher has it. */
export async function benchWatchFanout(watchers = 10_000): Promise<BenchResult> {
  const engine: Engine = await createEmbeddedEngine({});
  let received = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const sink = (m: WatchMessage): boolean => {
    if (m.type === 'events' && ++received === watchers) resolveAll();
    return true;
  };
  // A mix of exact-key, prefix and open-ended watchers that all cover the written key.
  for (let i = 0; i < watchers; i++) {
    const kind = i % 3;
    if (kind === 0) engine.watch({ key: Buffer.from('fan/key') }, sink);
    else if (kind === 1)
      engine.watch({ key: Buffer.from('fan/'), rangeEnd: prefixEnd(Buffer.from('fan/')) }, sink);
    else engine.watch({ key: Buffer.from(`fan/${'a'.repeat(i % 5)}`), rangeEnd: Buffer.from([0]) }, sink);
  }
  const t0 = performance.now();
  await engine.put({ key: Buffer.from('fan/key'), value: Buffer.from('v') });
  await all;
  const ms = performance.now() - t0;
  await engine.close();
  return {
    name: `put delivered to ${watchers} watchers`,
    value: ms,
    unit: 'ms',
    target: { description: '<= 50 ms', met: ms <= 50 },
  };
}
