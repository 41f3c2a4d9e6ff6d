/**
 * Restart of a durable backend (docs/etcd-semantics.md#ordering-and-atomicity, #leases "Leases persist across
 * restart"): closing and reopening the same storage gives back the identical history — every revision readable from
 * the compaction point on, the same current and compact revisions, the same leases — and the store continues from
 * there.
 *
 * Runs against every selected backend that has `reopen` (today: `durable`).
 */
import { EngineError, type Engine, type RangeResponse, type WatchEvent } from '../../src/engine';
import { conformanceBackends } from './backends';
import {
  ALL,
  b,
  currentRevision,
  expectEngineError,
  kv,
  sleep,
  str,
  useBackend,
  WatchRecorder,
  within,
} from './helpers';

const restartable = conformanceBackends.filter((backend) => backend.reopen !== undefined);

/** Everything observable about a store's history and leases. */
interface Observed {
  status: { revision: number; compactRevision: number; keys: number };
  reads: Array<[number, RangeResponse]>;
  leases: bigint[];
  leaseInfo: Array<[bigint, number, string[]]>;
  events: WatchEvent[];
}

async function observe(engine: Engine, from: number, leaseIds: bigint[]): Promise<Observed> {
  const s = await engine.status();
  const current = s.header.revision;
  const reads: Array<[number, RangeResponse]> = [];
  for (let rev = from; rev <= current; rev++)
    reads.push([rev, await engine.range({ ...ALL, revision: rev })]);
  const leaseInfo: Array<[bigint, number, string[]]> = [];
  for (const id of leaseIds) {
    const t = await engine.leaseTimeToLive(id, true);
    leaseInfo.push([id, t.grantedTtl, t.keys.map(str).sort()]);
  }
  const rec = WatchRecorder.start(engine, { ...ALL, startRevision: from, prevKv: true });
  const expected = reads.length === 0 ? 0 : await countEvents(engine, from, current);
  await rec.waitForEvents(expected);
  rec.cancel();
  return {
    status: { revision: current, compactRevision: s.compactRevision, keys: s.keys },
    reads,
    leases: [...(await engine.leaseLeases()).leases].sort(),
    leaseInfo,
    events: rec.events,
  };
}

/** Number of changes in revisions [from, to], derived from consecutive reads (puts and deletes). */
async function countEvents(engine: Engine, from: number, to: number): Promise<number> {
  let n = 0;
  for (let rev = from; rev <= to; rev++) {
    const at = await engine.range({ ...ALL, revision: rev });
    n += at.kvs.filter((k) => k.modRevision === rev).length;
    if (rev > from) {
      const before = await engine.range({ ...ALL, revision: rev - 1 });
      const now = new Set(at.kvs.map((k) => str(k.key)));
      n += before.kvs.filter((k) => !now.has(str(k.key))).length;
    }
  }
  return n;
}

if (restartable.length === 0) {
  test.skip('no selected backend can restart', () => undefined);
} else {
  describe.each(restartable)('$name: restart', (backend) => {
    const { open, reopen } = useBackend(backend, { leaseCheckIntervalMs: 50 });

    test('an empty store reopens empty at revision 1', async () => {
      const engine = await reopen(await open());
      expect(await engine.status()).toMatchObject({ header: { revision: 1 }, compactRevision: 0, keys: 0 });
      expect((await engine.leaseLeases()).leases).toEqual([]);
      expect((await engine.put({ key: b('a'), value: b('1') })).header.revision).toBe(2);
    });

    test('reopening gives the identical history from the compaction point on, and continues from it', async () => {
      let engine = await open();
      const big = (1n << 62n) + 99n;
      const l1 = (await engine.leaseGrant({ ttl: 600, id: big })).id;
      const l2 = (await engine.leaseGrant({ ttl: 300 })).id;
      const l3 = (await engine.leaseGrant({ ttl: 100 })).id; // stays key-less
      await engine.put({ key: b('a'), value: b('1') }); // 2
      await engine.put({ key: b('b'), value: b('1'), lease: l1 }); // 3
      await engine.put({ key: b('a'), value: b('2') }); // 4
      await engine.deleteRange({ key: b('b') }); // 5
      await engine.put({ key: b('b'), value: b('2'), lease: l2 }); // 6
      await engine.txn({
        success: [
          { put: { key: b('c'), value: Buffer.from([0, 255, 128]), lease: l1 } },
          { put: { key: b('d'), value: b('') } },
          { deleteRange: { key: b('a') } },
        ],
      }); // 7
      await engine.put({ key: b('a'), value: b('3') }); // 8
      await engine.put({ key: b('e'), value: b('1'), lease: l2 }); // 9
      await engine.put({ key: b('e'), value: b('2'), lease: l2 }); // 10
      await engine.compact({ revision: 6 });
      await engine.put({ key: b('a'), value: b('4') }); // 11
      await engine.deleteRange({ key: b('d'), rangeEnd: b('e') }); // 12
      const leaseIds = [l1, l2, l3];
      const before = await observe(engine, 6, leaseIds);
      expect(before.status).toEqual({ revision: 12, compactRevision: 6, keys: 4 });

      engine = await reopen(engine);
      const after = await observe(engine, 6, leaseIds);
      expect(after).toEqual(before);
      await expectEngineError(() => engine.range({ ...ALL, revision: 5 }), 'COMPACTED');
      await expectEngineError(() => engine.compact({ revision: 6 }), 'COMPACTED');
      await expectEngineError(() => engine.range({ ...ALL, revision: 13 }), 'FUTURE_REV');

      // The store continues: next revision, versions and create revisions carry on, leases still work.
      expect((await engine.put({ key: b('a'), value: b('5'), prevKv: true })).prevKv).toEqual(
        kv('a', '4', 8, 11, 2),
      );
      expect((await engine.range({ key: b('a') })).kvs).toEqual([kv('a', '5', 8, 13, 3)]);
      await expectEngineError(() => engine.leaseGrant({ ttl: 10, id: big }), 'LEASE_EXISTS');
      expect((await engine.leaseKeepAlive(l1)).ttl).toBe(600);
      const revoke = await engine.leaseRevoke(l2);
      expect(revoke.header.revision).toBe(14);
      expect((await engine.range({ ...ALL })).kvs.map((k) => str(k.key))).toEqual(['a', 'c']);
      expect((await engine.range({ key: b('c') })).kvs).toEqual([
        { ...kv('c', '', 7, 7, 1, l1), value: Buffer.from([0, 255, 128]) },
      ]);

      // And all of that survives a second restart.
      const beforeSecond = await observe(engine, 6, leaseIds);
      engine = await reopen(engine);
      expect(await observe(engine, 6, leaseIds)).toEqual(beforeSecond);
      expect(await currentRevision(engine)).toBe(14);
    });

    test('revisions are never reused, even when compaction removed every stored version', async () => {
      let engine = await open();
      await engine.put({ key: b('a'), value: b('1') }); // 2
      await engine.deleteRange({ key: b('a') }); // 3
      await engine.compact({ revision: 3, physical: true });
      engine = await reopen(engine);
      expect(await engine.status()).toMatchObject({ header: { revision: 3 }, compactRevision: 3, keys: 0 });
      expect((await engine.put({ key: b('a'), value: b('2') })).header.revision).toBe(4);
      expect((await engine.range({ key: b('a') })).kvs).toEqual([kv('a', '2', 4, 4, 1)]);
    });

    test('closing with writes in flight: every acknowledged write survives, none hangs', async () => {
      let engine = await open();
      const writes = Array.from({ length: 50 }, (_, i) =>
        engine.put({ key: b(`k${String(i).padStart(2, '0')}`), value: b(String(i)) }),
      );
      await within(engine.close(), 10_000, 'close with writes in flight');
      const settled = await within(Promise.allSettled(writes), 10_000, 'in-flight writes after close');
      for (const s of settled) {
        if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(EngineError);
      }
      engine = await reopen(engine);
      const all = await engine.range({ ...ALL });
      settled.forEach((s, i) => {
        if (s.status !== 'fulfilled') return;
        const rev = s.value.header.revision;
        expect([i, all.kvs.find((k) => k.modRevision === rev)?.key.toString()]).toEqual([
          i,
          `k${String(i).padStart(2, '0')}`,
        ]);
      });
      // History has no holes: revisions 2..current each hold one of the puts.
      expect(all.kvs.map((k) => k.modRevision)).toEqual(Array.from({ length: all.count }, (_, i) => i + 2));
    });

    test('long and binary keys survive restart and compaction byte-exact', async () => {
      let engine = await open();
      const long = Buffer.concat([Buffer.alloc(5000, 0x6c), Buffer.from([0x00, 0xff])]);
      const longer = Buffer.concat([long, Buffer.from([0x01])]);
      const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a]);
      await engine.put({ key: long, value: b('1') }); // 2
      await engine.put({ key: longer, value: b('x') }); // 3
      await engine.put({ key: binary, value: b('bin') }); // 4
      await engine.put({ key: long, value: b('2') }); // 5
      await engine.deleteRange({ key: longer }); // 6
      await engine.compact({ revision: 5, physical: true });
      await engine.put({ key: long, value: b('3') }); // 7
      const before = await observe(engine, 5, []);
      engine = await reopen(engine);
      expect(await observe(engine, 5, [])).toEqual(before);
      const all = await engine.range({ ...ALL });
      expect(
        all.kvs.map((k) => [k.key.toString('hex'), str(k.value), k.createRevision, k.modRevision, k.version]),
      ).toEqual([
        [binary.toString('hex'), 'bin', 4, 4, 1],
        [long.toString('hex'), '3', 2, 7, 3],
      ]);
      // The compacted versions of the long key are gone for good, the newest ones are all there.
      await expectEngineError(() => engine.range({ key: long, revision: 4 }), 'COMPACTED');
      expect((await engine.range({ key: long, revision: 5 })).kvs[0].value).toEqual(b('2'));
      expect((await engine.range({ key: longer, revision: 5 })).kvs[0].value).toEqual(b('x'));
      expect((await engine.range({ key: longer, revision: 6 })).count).toBe(0);
    });

    test('a watcher started after a restart replays history recorded before it', async () => {
      let engine = await open();
      for (let i = 0; i < 10; i++) await engine.put({ key: b(`k${i % 3}`), value: b(String(i)) }); // 2..11
      engine = await reopen(engine);
      const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 5, prevKv: true });
      await rec.waitForEvents(7);
      expect(
        rec.events.map((e) => [str(e.kv.key), str(e.kv.value), e.kv.modRevision, e.prevKv?.modRevision]),
      ).toEqual([
        ['k0', '3', 5, 2],
        ['k1', '4', 6, 3],
        ['k2', '5', 7, 4],
        ['k0', '6', 8, 5],
        ['k1', '7', 9, 6],
        ['k2', '8', 10, 7],
        ['k0', '9', 11, 8],
      ]);
      await engine.put({ key: b('k1'), value: b('live') }); // 12
      await rec.waitForEvents(8);
      expect(rec.events[7].kv).toEqual(kv('k1', 'live', 3, 12, 4));
    });

    test('lease grants and revokes (also of key-less leases) survive a restart', async () => {
      let engine = await open();
      const keyless = (await engine.leaseGrant({ ttl: 60 })).id;
      const withKey = (await engine.leaseGrant({ ttl: 60 })).id;
      const stays = (await engine.leaseGrant({ ttl: 60 })).id;
      await engine.put({ key: b('k'), value: b('1'), lease: withKey }); // 2
      await engine.leaseRevoke(keyless);
      await engine.leaseRevoke(withKey); // 3
      engine = await reopen(engine);
      expect((await engine.leaseLeases()).leases).toEqual([stays]);
      expect((await engine.leaseTimeToLive(keyless)).ttl).toBe(-1);
      expect((await engine.leaseTimeToLive(withKey)).ttl).toBe(-1);
      expect(await currentRevision(engine)).toBe(3);
      expect((await engine.range({ ...ALL })).count).toBe(0);
      // A revoked ID can be granted again.
      expect((await engine.leaseGrant({ ttl: 60, id: keyless })).id).toBe(keyless);
    });

    test('leases keep expiring after a restart', async () => {
      let engine = await open();
      const { id } = await engine.leaseGrant({ ttl: 2 });
      await engine.put({ key: b('tmp'), value: b('1'), lease: id }); // 2
      await engine.put({ key: b('keep'), value: b('1') }); // 3
      engine = await reopen(engine);
      expect((await engine.leaseLeases()).leases).toEqual([id]);
      expect((await engine.leaseTimeToLive(id)).grantedTtl).toBe(2);
      // etcd resets expiry on recovery (TTL + election timeout), so allow a few seconds.
      const deadline = Date.now() + 8000;
      while ((await engine.range({ key: b('tmp') })).count > 0 && Date.now() < deadline) await sleep(50);
      expect((await engine.range({ key: b('tmp') })).count).toBe(0);
      expect((await engine.leaseTimeToLive(id)).ttl).toBe(-1);
      expect(await currentRevision(engine)).toBe(4);
      expect((await engine.range({ ...ALL })).kvs).toEqual([kv('keep', '1', 3, 3, 1)]);
    });
  });
}
