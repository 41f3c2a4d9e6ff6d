/**
 * Requests in flight at the same time (docs/etcd-semantics.md#revisions, #ordering-and-atomicity): writes are
 * serialised into one revision each, a write request is atomic for every reader, a resolved write is visible to the
 * next read, and every response is a consistent snapshot. Backends with asynchronous commit paths (disk, network)
 * are where these break.
 */
import { EngineError, type PutResponse } from '../../src/engine';
import { conformanceBackends } from './backends';
import { ALL, b, kv, str, useBackend } from './helpers';

describe.each(conformanceBackends)('$name: concurrency', (backend) => {
  const { open } = useBackend(backend);

  test('concurrent puts get distinct consecutive revisions and the last one wins per key', async () => {
    const engine = await open();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => engine.put({ key: b(`k${i % 5}`), value: b(String(i)) })),
    );
    const revs = results.map((r) => r.header.revision).sort((x, y) => x - y);
    expect(revs).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    const all = await engine.range({ ...ALL });
    expect(all.header.revision).toBe(51);
    for (let k = 0; k < 5; k++) {
      const mine = results.map((r, i) => ({ rev: r.header.revision, i })).filter(({ i }) => i % 5 === k);
      const last = mine.reduce((x, y) => (y.rev > x.rev ? y : x));
      const first = mine.reduce((x, y) => (y.rev < x.rev ? y : x));
      expect(all.kvs[k]).toEqual(kv(`k${k}`, String(last.i), first.rev, last.rev, 10));
    }
  });

  test('overlapping writes of every kind each report their own revision', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 60 });
    await engine.put({ key: b('leased'), value: b('v'), lease: id }); // 2
    await engine.put({ key: b('old'), value: b('v') }); // 3
    // Concurrent requests may be applied in any order, but each one is one revision of 4..8 and reports it.
    const [put1, revoke, del, txn, put2] = await Promise.all([
      engine.put({ key: b('p1'), value: b('v') }),
      engine.leaseRevoke(id),
      engine.deleteRange({ key: b('old') }),
      engine.txn({ success: [{ put: { key: b('t'), value: b('v') } }] }),
      engine.put({ key: b('p2'), value: b('v') }),
    ]);
    const revs = [put1, revoke, del, txn, put2].map((r) => r.header.revision);
    expect([...revs].sort((x, y) => x - y)).toEqual([4, 5, 6, 7, 8]);
    // Each header is the revision at which that request's change happened.
    const present = async (key: string, rev: number): Promise<boolean> =>
      (await engine.range({ key: b(key), revision: rev })).count === 1;
    const changedAt = async (key: string, rev: number): Promise<[boolean, boolean]> => [
      await present(key, rev - 1),
      await present(key, rev),
    ];
    expect(await changedAt('p1', put1.header.revision)).toEqual([false, true]);
    expect(await changedAt('leased', revoke.header.revision)).toEqual([true, false]);
    expect(await changedAt('old', del.header.revision)).toEqual([true, false]);
    expect(await changedAt('t', txn.header.revision)).toEqual([false, true]);
    expect(await changedAt('p2', put2.header.revision)).toEqual([false, true]);
  });

  test('compare-and-swap increments from concurrent clients lose no update', async () => {
    const engine = await open();
    await engine.put({ key: b('counter'), value: b('0') }); // 2
    let attempts = 0;
    const client = async (): Promise<void> => {
      for (let done = 0; done < 5;) {
        attempts++;
        const cur = (await engine.range({ key: b('counter') })).kvs[0];
        const next = String(Number(str(cur.value)) + 1);
        const res = await engine.txn({
          compare: [{ key: b('counter'), target: 'MOD', result: 'EQUAL', modRevision: cur.modRevision }],
          success: [{ put: { key: b('counter'), value: b(next) } }],
        });
        if (res.succeeded) done++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    const final = (await engine.range({ key: b('counter') })).kvs[0];
    expect(str(final.value)).toBe('40');
    expect(final.version).toBe(41);
    // Failed CAS attempts never consumed a revision.
    expect(final.modRevision).toBe(42);
    expect(attempts).toBeGreaterThanOrEqual(40);
  });

  test('a resolved write is visible to every later read', async () => {
    const engine = await open();
    const checks = Array.from({ length: 30 }, async (_, i) => {
      const put = await engine.put({ key: b(`r${i}`), value: b(String(i)) });
      const read = await engine.range({ key: b(`r${i}`) });
      expect(read.header.revision).toBeGreaterThanOrEqual(put.header.revision);
      expect(read.kvs.map((k) => str(k.value))).toEqual([String(i)]);
      const status = await engine.status();
      expect(status.header.revision).toBeGreaterThanOrEqual(put.header.revision);
    });
    await Promise.all(checks);
  });

  test('a txn is atomic for concurrent readers', async () => {
    const engine = await open();
    const writes: Array<Promise<unknown>> = [];
    const reads: Array<Promise<string[]>> = [];
    for (let i = 0; i < 30; i++) {
      const v = b(String(i));
      writes.push(
        engine.txn({
          success: [
            { put: { key: b('x'), value: v } },
            { put: { key: b('y'), value: v } },
            { put: { key: b('z'), value: v } },
          ],
        }),
      );
      reads.push(engine.range({ key: b('x'), rangeEnd: b('{') }).then((r) => r.kvs.map((k) => str(k.value))));
      reads.push(
        engine
          .txn({
            success: [{ range: { key: b('x') } }, { range: { key: b('y') } }, { range: { key: b('z') } }],
          })
          .then((r) => r.responses.map((o) => str(o.range?.kvs[0]?.value ?? b('-')))),
      );
    }
    await Promise.all(writes);
    for (const seen of await Promise.all(reads)) {
      expect(seen.length === 0 || seen.every((v) => v === seen[0])).toBe(true);
    }
  });

  test('every response is a consistent snapshot while writes are in flight', async () => {
    const engine = await open();
    const writes: Array<Promise<PutResponse>> = [];
    const ranges = [];
    const statuses = [];
    for (let i = 0; i < 40; i++) {
      writes.push(engine.put({ key: b(`s${String(i).padStart(2, '0')}`), value: b('v') }));
      ranges.push(engine.range({ ...ALL }));
      statuses.push(engine.status());
    }
    await Promise.all(writes);
    for (const r of await Promise.all(ranges)) {
      // Keys s00.. are created in order, one per revision: the snapshot at revision R holds exactly R-1 keys.
      expect(r.kvs.every((k) => k.modRevision <= r.header.revision)).toBe(true);
      expect([r.header.revision, r.count, r.kvs.length]).toEqual([
        r.header.revision,
        r.header.revision - 1,
        r.header.revision - 1,
      ]);
    }
    for (const s of await Promise.all(statuses)) {
      expect([s.header.revision, s.keys]).toEqual([s.header.revision, s.header.revision - 1]);
    }
  });

  test('a put racing a revoke of its lease never leaves a key on a dead lease', async () => {
    const engine = await open();
    for (let round = 0; round < 5; round++) {
      const { id } = await engine.leaseGrant({ ttl: 60 });
      await engine.put({ key: b(`pre${round}`), value: b('v'), lease: id });
      const settled = await Promise.allSettled([
        engine.put({ key: b(`a${round}`), value: b('v'), lease: id }),
        engine.leaseRevoke(id),
        engine.put({ key: b(`b${round}`), value: b('v'), lease: id }),
      ]);
      for (const s of settled) {
        if (s.status === 'rejected') {
          expect(s.reason).toBeInstanceOf(EngineError);
          expect((s.reason as EngineError).code).toBe('LEASE_NOT_FOUND');
        }
      }
      expect(settled[1].status).toBe('fulfilled');
      const leased = (await engine.range({ ...ALL })).kvs.filter((k) => k.lease === id);
      expect(leased).toEqual([]);
      expect((await engine.leaseTimeToLive(id)).ttl).toBe(-1);
    }
  });
});
