/**
 * Compact (docs/etcd-semantics.md#compact): boundaries, what survives, physical compaction.
 */
import type { Engine, RangeResponse } from '../../src/engine';
import { conformanceBackends } from './backends';
import { ALL, b, currentRevision, expectEngineError, kv, sleep, useBackend, WatchRecorder } from './helpers';

/**
 * History with every kind of change: overwrites, deletes, re-creations and a lease. Returns the current revision.
 * rev 2 a=1 · 3 b=1 · 4 a=2 · 5 c=1 · 6 del b · 7 a=3 · 8 b=2 (new generation) · 9 del c · 10 d=1 (lease) ·
 * 11 a=4 · 12 c=2 (new generation) · 13 txn{e=1, del d}
 */
async function history(engine: Engine): Promise<number> {
  const { id } = await engine.leaseGrant({ ttl: 60 });
  await engine.put({ key: b('a'), value: b('1') }); // 2
  await engine.put({ key: b('b'), value: b('1') }); // 3
  await engine.put({ key: b('a'), value: b('2') }); // 4
  await engine.put({ key: b('c'), value: b('1') }); // 5
  await engine.deleteRange({ key: b('b') }); // 6
  await engine.put({ key: b('a'), value: b('3') }); // 7
  await engine.put({ key: b('b'), value: b('2') }); // 8
  await engine.deleteRange({ key: b('c') }); // 9
  await engine.put({ key: b('d'), value: b('1'), lease: id }); // 10
  await engine.put({ key: b('a'), value: b('4') }); // 11
  await engine.put({ key: b('c'), value: b('2') }); // 12
  await engine.txn({ success: [{ put: { key: b('e'), value: b('1') } }, { deleteRange: { key: b('d') } }] }); // 13
  return 13;
}

/** Full-keyspace read at every revision from `from` to `to`. */
async function snapshots(engine: Engine, from: number, to: number): Promise<Map<number, RangeResponse>> {
  const out = new Map<number, RangeResponse>();
  for (let rev = from; rev <= to; rev++) out.set(rev, await engine.range({ ...ALL, revision: rev }));
  return out;
}

describe.each(conformanceBackends)('$name: compaction', (backend) => {
  const { open } = useBackend(backend);

  test('compact at the current revision is allowed; header = current; no revision bump', async () => {
    const engine = await open();
    const current = await history(engine);
    const res = await engine.compact({ revision: current });
    expect(res.header.revision).toBe(current);
    expect(await currentRevision(engine)).toBe(current);
    expect((await engine.status()).compactRevision).toBe(current);
    expect((await engine.put({ key: b('z'), value: b('1') })).header.revision).toBe(current + 1);
  });

  test('compacting a fresh store at revision 1 is allowed', async () => {
    const engine = await open();
    expect((await engine.compact({ revision: 1 })).header.revision).toBe(1);
    expect((await engine.status()).compactRevision).toBe(1);
    expect((await engine.range({ ...ALL, revision: 1 })).count).toBe(0);
  });

  test('compact above current → future revision; at or below the compact revision → compacted', async () => {
    const engine = await open();
    const current = await history(engine);
    await expectEngineError(() => engine.compact({ revision: current + 1 }), 'FUTURE_REV');
    await expectEngineError(() => engine.compact({ revision: 1000 }), 'FUTURE_REV');
    await engine.compact({ revision: 5 });
    await expectEngineError(() => engine.compact({ revision: 5 }), 'COMPACTED');
    await expectEngineError(() => engine.compact({ revision: 4 }), 'COMPACTED');
    await expectEngineError(() => engine.compact({ revision: 1 }), 'COMPACTED');
    // Failed compactions leave the compact revision alone.
    expect((await engine.status()).compactRevision).toBe(5);
    await engine.compact({ revision: 8 });
    expect((await engine.status()).compactRevision).toBe(8);
    await expectEngineError(() => engine.compact({ revision: 7 }), 'COMPACTED');
    expect(await currentRevision(engine)).toBe(current);
  });

  test('reads at >= R stay exact after compaction at R; reads below R are compacted', async () => {
    const engine = await open();
    const current = await history(engine);
    const before = await snapshots(engine, 1, current);
    for (const R of [3, 7, 9, 12]) {
      await engine.compact({ revision: R });
      for (let rev = 1; rev < R; rev++) {
        await expectEngineError(() => engine.range({ ...ALL, revision: rev }), 'COMPACTED');
      }
      const after = await snapshots(engine, R, current);
      for (let rev = R; rev <= current; rev++) {
        expect([`compact ${R}, read at ${rev}`, after.get(rev)]).toEqual([
          `compact ${R}, read at ${rev}`,
          before.get(rev),
        ]);
      }
    }
  });

  test('versions and create revisions survive compaction of the puts that made them', async () => {
    const engine = await open();
    await history(engine);
    await engine.compact({ revision: 13 });
    // a was put 4 times in one generation; only the newest put is kept, its version must still be 4.
    expect((await engine.range({ ...ALL })).kvs).toEqual([
      kv('a', '4', 2, 11, 4),
      kv('b', '2', 8, 8, 1),
      kv('c', '2', 12, 12, 1),
      kv('e', '1', 13, 13, 1),
    ]);
    await engine.put({ key: b('a'), value: b('5') }); // 14
    await engine.put({ key: b('b'), value: b('3') }); // 15
    // d was deleted at 13 (its tombstone is gone): a new put starts a new generation.
    await engine.put({ key: b('d'), value: b('2') }); // 16
    expect((await engine.range({ ...ALL })).kvs).toEqual([
      kv('a', '5', 2, 14, 5),
      kv('b', '3', 8, 15, 2),
      kv('c', '2', 12, 12, 1),
      kv('d', '2', 16, 16, 1),
      kv('e', '1', 13, 13, 1),
    ]);
  });

  test('prev_kv of a key whose previous version is before the compact revision is kept', async () => {
    const engine = await open();
    await history(engine);
    await engine.compact({ revision: 12 });
    // b's newest version <= 12 is the put at 8: it must survive as b's prev_kv.
    const res = await engine.put({ key: b('b'), value: b('3'), prevKv: true });
    expect(res.prevKv).toEqual(kv('b', '2', 8, 8, 1));
    const del = await engine.deleteRange({ key: b('a'), prevKv: true });
    expect(del.prevKvs).toEqual([kv('a', '4', 2, 11, 4)]);
    // A watcher replaying from the compact revision sees every event from there on, with prev_kvs.
    const rec = WatchRecorder.start(engine, {
      key: b('a'),
      rangeEnd: b('z'),
      startRevision: 12,
      prevKv: true,
    });
    await rec.waitForEvents(5);
    expect(
      rec.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, e.prevKv?.modRevision]),
    ).toEqual([
      ['PUT', 'c', 12, undefined],
      ['PUT', 'e', 13, undefined],
      ['DELETE', 'd', 13, 10],
      ['PUT', 'b', 14, 8],
      ['DELETE', 'a', 15, 11],
    ]);
    expect(rec.events[3].prevKv).toEqual(kv('b', '2', 8, 8, 1));
    expect(rec.events[4].prevKv).toEqual(kv('a', '4', 2, 11, 4));
    rec.cancel();
  });

  test('a tombstone at the compact revision is dropped: replay from R shows its puts, not that delete', async () => {
    const engine = await open();
    await engine.put({ key: b('gone'), value: b('1') }); // 2
    await engine.put({ key: b('kept'), value: b('1') }); // 3
    await engine.txn({
      success: [{ deleteRange: { key: b('gone') } }, { put: { key: b('kept'), value: b('2') } }],
    }); // 4
    await engine.put({ key: b('after'), value: b('1') }); // 5
    await engine.compact({ revision: 4 });
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 4 });
    await rec.waitForEvents(2);
    await sleep(100);
    // etcd keeps, per key, the newest version <= R unless it is a tombstone.
    expect(rec.events.map((e) => `${e.type} ${e.kv.key.toString()}@${e.kv.modRevision}`)).toEqual([
      'PUT kept@4',
      'PUT after@5',
    ]);
    // The key is simply absent at R and after; a new put starts a new generation.
    expect((await engine.range({ key: b('gone'), revision: 4 })).kvs).toEqual([]);
    await engine.put({ key: b('gone'), value: b('2') }); // 6
    expect((await engine.range({ key: b('gone') })).kvs).toEqual([kv('gone', '2', 6, 6, 1)]);
  });

  test('no auto-compaction unless configured; retentionRevisions keeps at least that many revisions', async () => {
    const plain = await open({ compactionIntervalMs: 20 });
    const auto = await open({ retentionRevisions: 5, compactionIntervalMs: 20 });
    for (let i = 0; i < 20; i++) {
      await plain.put({ key: b('k'), value: b(String(i)) });
      await auto.put({ key: b('k'), value: b(String(i)) });
    }
    const current = await currentRevision(auto);
    const deadline = Date.now() + 3000;
    while ((await auto.status()).compactRevision === 0 && Date.now() < deadline) {
      await sleep(20);
    }
    const compacted = (await auto.status()).compactRevision;
    expect(compacted).toBeGreaterThan(0);
    expect(compacted).toBeLessThanOrEqual(current - 5);
    // The retained window is readable, history below the compact revision is not.
    expect((await auto.range({ key: b('k'), revision: current - 5 })).kvs[0].modRevision).toBe(current - 5);
    await expectEngineError(() => auto.range({ key: b('k'), revision: compacted - 1 }), 'COMPACTED');
    expect((await plain.status()).compactRevision).toBe(0);
    expect((await plain.range({ key: b('k'), revision: 2 })).kvs).toEqual([kv('k', '0', 2, 2, 1)]);
  });

  test('physical compaction resolves after the history is gone; reads stay exact', async () => {
    const engine = await open();
    const current = await history(engine);
    const latest = await engine.range({ ...ALL });
    const res = await engine.compact({ revision: current, physical: true });
    expect(res.header.revision).toBe(current);
    await expectEngineError(() => engine.range({ ...ALL, revision: current - 1 }), 'COMPACTED');
    expect(await engine.range({ ...ALL })).toEqual(latest);
    const status = await engine.status();
    expect(status.compactRevision).toBe(current);
    expect(status.keys).toBe(4);
  });

  test('synced watchers keep receiving across a compaction', async () => {
    const engine = await open();
    const rec = WatchRecorder.start(engine, { ...ALL });
    await engine.put({ key: b('a'), value: b('1') }); // 2
    await engine.put({ key: b('a'), value: b('2') }); // 3
    await rec.waitForEvents(2);
    await engine.compact({ revision: 3 });
    await engine.put({ key: b('a'), value: b('3') }); // 4
    await rec.waitForEvents(3);
    await sleep(50);
    expect(rec.canceled).toBeUndefined();
    expect(rec.events.map((e) => e.kv.modRevision)).toEqual([2, 3, 4]);
  });

  test('compaction does not change the live keys or leases', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 60 });
    await engine.put({ key: b('l'), value: b('1'), lease: id }); // 2
    await engine.put({ key: b('l'), value: b('2'), lease: id }); // 3
    await engine.compact({ revision: 3, physical: true });
    expect((await engine.leaseTimeToLive(id, true)).keys.map((k) => k.toString())).toEqual(['l']);
    // Revoking still deletes the key, in one new revision.
    expect((await engine.leaseRevoke(id)).header.revision).toBe(4);
    expect((await engine.range({ ...ALL })).count).toBe(0);
  });
});
