import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { daprServiceDefinition } from '../src/api/grpc/server';
import { createEmbeddedEngine, type Engine, type WatchMessage } from '../src/engine';
import { ConfigurationStore } from '../src/state/configuration-store';
import { LeaseClock } from '../src/state/lease-clock';
import { queryState } from '../src/state/state-query';
import { DaprStateStore } from '../src/state/state-store';
import { startStatecar } from './bench-servers';
import type { BenchResult } from './engine-bench';

/**
 * `npm run bench` rows for the state views (docs/state-views.md): the Query API over 100,000 keys, by a scan and by
 * an index, and one change delivered to 1,000 configuration subscribers, each beside the floor it stands on,
 * measured in the same run: the raw engine range the scan reads, the scan the index replaces, the raw engine watch
 * fan-out the subscriptions ride on.
 */

/** How many times `op` completes per second over `ms` (at least three runs). */
async function rate(ms: number, op: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (n < 3 || performance.now() - start < ms) {
    await op();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p99 = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

/** A Dapr state store on its own in-memory engine. */
async function memoryStore(
  name: string,
  queryIndexes: string[] = [],
): Promise<{ store: DaprStateStore; engine: Engine }> {
  const engine = await createEmbeddedEngine({});
  const store = new DaprStateStore({
    name,
    engine,
    clock: new LeaseClock(engine),
    prefix: 'benchapp',
    maxTxnOps: 128,
    queryIndexes,
  });
  await store.prepare();
  return { store, engine };
}

/** Save `keys` JSON documents (100 groups, so an equality on `group` matches 1%); returns saves per second. */
async function load(store: DaprStateStore, keys: number): Promise<number> {
  const t0 = performance.now();
  const batch = 64;
  for (let i = 0; i < keys; i += batch) {
    const items = [];
    for (let j = i; j < Math.min(keys, i + batch); j++) {
      const doc = { group: j % 100, n: j, name: `item-${j}`, tags: ['a', 'b'] };
      items.push({ key: `k${String(j).padStart(7, '0')}`, value: Buffer.from(JSON.stringify(doc)) });
    }
    await store.save(items);
  }
  return keys / ((performance.now() - t0) / 1000);
}

/**
 * A query over `keys` keys: an equality matching 1% of them answered by a scan (beside a raw engine range of the
 * same keys) and by an index (beside the scan), plus what the index costs a save.
 */
export async function benchQuery(ms: number, keys = 100_000): Promise<BenchResult[]> {
  const plain = await memoryStore('plain');
  const indexed = await memoryStore('indexed', ['group']);
  const saveRate = await load(plain.store, keys);
  const indexedSaveRate = await load(indexed.store, keys);
  const q = JSON.stringify({ filter: { EQ: { group: 7 } } });
  const check = await queryState(indexed.store, q);
  if (check.results.length !== keys / 100 || !check.indexed)
    throw new Error('bench: the indexed query is wrong');
  const range = plain.store.keys.range();
  const rawRate = await rate(ms, () => plain.engine.range({ ...range }));
  const scanRate = await rate(ms, () => queryState(plain.store, q));
  const indexRate = await rate(ms, () => queryState(indexed.store, q));
  await Promise.all([plain.engine.close(), indexed.engine.close()]);
  plain.store.clock.close();
  indexed.store.clock.close();
  const n = keys.toLocaleString('en-US');
  const matches = (keys / 100).toLocaleString('en-US');
  return [
    {
      name: `query over ${n} keys, EQ matching ${matches} (scan)`,
      value: scanRate,
      unit: 'queries/s',
      floor: { name: `raw engine range of the ${n} keys`, value: rawRate },
      ratio: scanRate / rawRate,
      target: { description: '>= 0.1x the raw range', met: scanRate / rawRate >= 0.1 },
    },
    {
      name: `query over ${n} keys, EQ matching ${matches} (indexed)`,
      value: indexRate,
      unit: 'queries/s',
      floor: { name: 'the same query by a scan', value: scanRate },
      ratio: indexRate / scanRate,
      target: { description: '>= 10x the scan', met: indexRate / scanRate >= 10 },
    },
    {
      name: 'save with one query index (value and entries in one txn)',
      value: indexedSaveRate,
      unit: 'ops/s',
      floor: { name: 'save without an index', value: saveRate },
      ratio: indexedSaveRate / saveRate,
      // Two engine txns instead of one: the key is read before value and entries are written.
      target: { description: '>= 0.3x without', met: indexedSaveRate / saveRate >= 0.3 },
    },
  ];
}

/**
 * One change delivered to `subscribers` configuration subscriptions (state-view store, one key), in process:
 * milliseconds from the save to the last delivery, median of `rounds`, beside the raw engine watch fan-out to as
 * many watchers.
 */
export async function benchConfigFanout(subscribers = 1000, rounds = 30): Promise<BenchResult> {
  const raw = await createEmbeddedEngine({});
  let got = 0;
  let done: () => void = () => undefined;
  const sink = (m: WatchMessage): boolean => {
    if (m.type === 'events' && ++got === subscribers) done();
    return true;
  };
  for (let i = 0; i < subscribers; i++) raw.watch({ key: Buffer.from('benchapp||cfg') }, sink);
  const round = async (write: () => Promise<unknown>): Promise<number> => {
    got = 0;
    const all = new Promise<void>((r) => (done = r));
    const t0 = performance.now();
    await write();
    await all;
    return performance.now() - t0;
  };
  const rawTimes: number[] = [];
  for (let r = 0; r < rounds; r++)
    rawTimes.push(
      await round(() => raw.put({ key: Buffer.from('benchapp||cfg'), value: Buffer.from(String(r)) })),
    );
  await raw.close();

  const { store, engine } = await memoryStore('statestore');
  const config = new ConfigurationStore('config', store);
  for (let i = 0; i < subscribers; i++) {
    const sub = await config.subscribe(
      ['cfg'],
      {},
      {
        onUpdate: () => {
          if (++got === subscribers) done();
          return true;
        },
        onEnd: () => undefined,
      },
    );
    sub.resume();
  }
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    times.push(await round(() => store.save([{ key: 'cfg', value: Buffer.from(String(r)) }])));
  }
  config.close();
  store.clock.close();
  await engine.close();
  const ms = median(times);
  const floor = median(rawTimes);
  return {
    name: `a change delivered to ${subscribers.toLocaleString('en-US')} configuration subscribers (in process, median of ${rounds}; p99 ${p99(times).toFixed(1)} ms)`,
    value: ms,
    unit: 'ms',
    floor: { name: `raw engine watch fan-out, ${subscribers} watchers (ms)`, value: floor },
    ratio: ms / floor,
    target: { description: '<= 50 ms', met: ms <= 50 },
  };
}

interface ConfigStream {
  on(event: 'data', cb: (m: { items: Record<string, unknown> }) => void): void;
  on(event: 'error', cb: () => void): void;
  cancel(): void;
}

/**
 * The same over the wire: a statecar process with a configuration store on its state store, `subscribers` gRPC
 * SubscribeConfiguration streams (grpc-js, one channel), each change saved over HTTP; milliseconds from the save's
 * request to the last stream's message, median of `rounds`.
 */
export async function benchConfigFanoutGrpc(subscribers = 1000, rounds = 20): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-bench-config-'));
  fs.writeFileSync(
    path.join(dir, 'config.yaml'),
    'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: config\nspec:\n  type: configuration.embedded\n' +
      '  version: v1\n  metadata:\n    - name: stateStore\n      value: statestore\n',
  );
  const server = await startStatecar(
    'benchconfig',
    undefined,
    ['--resources-path', dir],
    'statecar (configuration)',
  );
  const Ctor = grpc.makeGenericClientConstructor(daprServiceDefinition(), 'Dapr');
  const client = new Ctor(server.grpc!, grpc.credentials.createInsecure());
  const streams: ConfigStream[] = [];
  let ready = 0;
  let got = 0;
  let done: () => void = () => undefined;
  try {
    const allReady = new Promise<void>((resolve) => {
      for (let i = 0; i < subscribers; i++) {
        const s = (
          client as unknown as Record<string, (r: object) => ConfigStream>
        ).SubscribeConfiguration.call(client, { storeName: 'config', keys: ['cfg'], metadata: {} });
        s.on('data', (m) => {
          if (Object.keys(m.items).length === 0) {
            if (++ready === subscribers) resolve();
          } else if (++got === subscribers) done();
        });
        s.on('error', () => undefined);
        streams.push(s);
      }
    });
    await allReady;
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      got = 0;
      const all = new Promise<void>((resolve) => (done = resolve));
      const t0 = performance.now();
      const res = await fetch(`${server.http}/v1.0/state/statestore`, {
        method: 'POST',
        body: JSON.stringify([{ key: 'cfg', value: r }]),
      });
      if (res.status !== 204) throw new Error(`bench: save answered ${res.status}`);
      await all;
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    return {
      name: `a change delivered to ${subscribers.toLocaleString('en-US')} configuration subscribers over gRPC (statecar process, median of ${rounds}; p99 ${p99(times).toFixed(1)} ms)`,
      value: ms,
      unit: 'ms',
      target: { description: '<= 250 ms', met: ms <= 250 },
    };
  } finally {
    for (const s of streams) s.cancel();
    client.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
