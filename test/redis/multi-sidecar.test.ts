/**
 * Several engine instances ("sidecars") on one Redis and one store: one revision space, one history, one set of
 * leases. One of them runs in its own Node process (test/redis/engine-worker.ts), the others in this one with
 * their own connections.
 */
import type { Engine } from '../../src/engine';
import { eventually, freshPrefix, Recorder, runEngineWorker, sleep, useRedisServer } from './helpers';

const b = (s: string): Buffer => Buffer.from(s);

const { server: redis, open } = useRedisServer();

/** Read-modify-write increments guarded by the key's mod revision (what a Dapr etag does). */
async function casIncrements(engine: Engine, key: Buffer, count: number): Promise<number[]> {
  const revisions: number[] = [];
  while (revisions.length < count) {
    const kv = (await engine.range({ key })).kvs[0];
    const n = kv ? Number(kv.value.toString()) : 0;
    const res = await engine.txn({
      compare: [{ key, target: 'MOD', result: 'EQUAL', modRevision: kv ? kv.modRevision : 0 }],
      success: [{ put: { key, value: b(String(n + 1)) } }],
    });
    if (res.succeeded) revisions.push(res.header.revision);
  }
  return revisions;
}

test('concurrent CAS increments through two processes and two in-process engines lose no update', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  const key = b('counter');
  const perEngine = 60;
  const [worker, revA, revC] = await Promise.all([
    runEngineWorker({
      REDIS_HOST: redis().host,
      STORE_PREFIX: prefix,
      WORKER_MODE: 'cas',
      WORKER_COUNT: String(perEngine),
      WORKER_KEY: 'counter',
    }),
    casIncrements(a, key, perEngine),
    casIncrements(c, key, perEngine),
  ]);
  expect(worker.done).toBe(perEngine);
  const total = perEngine * 3;
  const final = (await a.range({ key })).kvs[0]!;
  expect(final.value.toString()).toBe(String(total));
  expect(final.version).toBe(total);
  // Every successful increment got its own revision, and together they are exactly revisions 2..total+1.
  const all = [...worker.revisions, ...revA, ...revC].sort((x, y) => x - y);
  expect(all).toEqual(Array.from({ length: total }, (_, i) => i + 2));
}, 60_000);

test('a watch on one sidecar sees the writes made through another process, in order, no gaps or duplicates', async () => {
  const prefix = freshPrefix();
  const a = await open(prefix);
  const rec = Recorder.start(a, { key: b('w/'), rangeEnd: b('w0') });
  const n = 80;
  const worker = await runEngineWorker({
    REDIS_HOST: redis().host,
    STORE_PREFIX: prefix,
    WORKER_MODE: 'puts',
    WORKER_COUNT: String(n),
    WORKER_KEY: 'w',
  });
  await rec.waitForEvents(n);
  await sleep(100);
  const events = rec.events;
  expect(events.map((e) => e.kv.key.toString())).toEqual(Array.from({ length: n }, (_, i) => `w/${i}`));
  expect(events.map((e) => e.kv.modRevision)).toEqual(worker.revisions);
  // Live delivery: one message per revision, carrying that revision.
  expect(rec.messages.every((m) => m.type === 'events' && m.revision === m.events[0]!.kv.modRevision)).toBe(
    true,
  );
}, 60_000);

test('a watch started on one sidecar replays history written through another', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  await c.put({ key: b('h/1'), value: b('1') }); // 2
  await c.put({ key: b('h/2'), value: b('2') }); // 3
  await c.deleteRange({ key: b('h/1') }); // 4
  const rec = Recorder.start(a, { key: b('h/'), rangeEnd: b('h0'), startRevision: 2, prevKv: true });
  await rec.waitForEvents(3);
  expect(rec.events.map((e) => `${e.type} ${e.kv.key.toString()}@${e.kv.modRevision}`)).toEqual([
    'PUT h/1@2',
    'PUT h/2@3',
    'DELETE h/1@4',
  ]);
  expect(rec.events[2]!.prevKv?.value.toString()).toBe('1');
  await c.put({ key: b('h/3'), value: b('3') }); // 5, live
  await rec.waitForEvents(4);
  expect(rec.events[3]!.kv.modRevision).toBe(5);
});

test('racing lease expiry on three sidecars deletes each key exactly once, one revision per lease', async () => {
  const prefix = freshPrefix();
  const fast = { leaseCheckIntervalMs: 10, minLeaseTtl: 1 };
  const sidecars = [await open(prefix, fast), await open(prefix, fast), await open(prefix, fast)];
  const [a] = sidecars;
  const leases = 12;
  const keysPerLease = 3;
  const rec = Recorder.start(a!, { key: b('l/'), rangeEnd: b('l0'), noPut: true });
  for (let i = 0; i < leases; i++) {
    const owner = sidecars[i % sidecars.length]!;
    const { id } = await owner.leaseGrant({ ttl: 1 });
    for (let k = 0; k < keysPerLease; k++) {
      await owner.put({ key: b(`l/${i}/${k}`), value: b('v'), lease: id });
    }
  }
  await rec.waitForEvents(leases * keysPerLease, 15_000);
  await sleep(500);
  const deletes = rec.events;
  expect(deletes).toHaveLength(leases * keysPerLease);
  const keys = deletes.map((e) => e.kv.key.toString());
  expect(new Set(keys).size).toBe(keys.length);
  // All keys of one lease go at one revision, and each lease's expiry has its own revision.
  const revOfLease = new Map<string, Set<number>>();
  for (const e of deletes) {
    const lease = e.kv.key.toString().split('/')[1]!;
    if (!revOfLease.has(lease)) revOfLease.set(lease, new Set());
    revOfLease.get(lease)!.add(e.kv.modRevision);
  }
  expect([...revOfLease.values()].every((s) => s.size === 1)).toBe(true);
  expect(new Set([...revOfLease.values()].map((s) => [...s][0])).size).toBe(leases);
  for (const s of sidecars) {
    expect((await s.range({ key: b('l/'), rangeEnd: b('l0'), countOnly: true })).count).toBe(0);
    expect((await s.leaseLeases()).leases).toHaveLength(0);
  }
}, 30_000);

test('a lease granted and kept alive through one sidecar is shared by the others', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix, { minLeaseTtl: 1 }), await open(prefix, { minLeaseTtl: 1 })];
  const { id } = await a.leaseGrant({ ttl: 2 });
  await c.put({ key: b('s'), value: b('1'), lease: id });
  const ttl = await c.leaseTimeToLive(id, true);
  expect(ttl.grantedTtl).toBe(2);
  expect(ttl.keys.map((k) => k.toString())).toEqual(['s']);
  expect((await c.leaseKeepAlive(id)).ttl).toBe(2);
  await c.leaseRevoke(id);
  expect((await a.range({ key: b('s') })).kvs).toHaveLength(0);
  expect((await a.leaseTimeToLive(id)).ttl).toBe(-1);
});

test('the revision space is shared: writes through either sidecar interleave into one sequence', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  const revs = await Promise.all(
    Array.from({ length: 40 }, (_, i) => (i % 2 ? a : c).put({ key: b(`r/${i}`), value: b('x') })),
  );
  const sorted = revs.map((r) => r.header.revision).sort((x, y) => x - y);
  expect(sorted).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
  await eventually(async () => (await c.status()).header.revision === 41);
  expect((await a.range({ key: b('r/'), rangeEnd: b('r0'), revision: 20, countOnly: true })).count).toBe(19);
});
