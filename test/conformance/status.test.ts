/**
 * Status, health and the engine lifecycle (docs/etcd-semantics.md#response-headers-and-status; contract
 * `Engine.status`, `health`, `close`).
 */
import { conformanceBackends } from './backends';
import { ALL, b, expectEngineError, sleep, useBackend, WAIT_MS, WatchRecorder } from './helpers';

describe.each(conformanceBackends)('$name: status and lifecycle', (backend) => {
  const { open } = useBackend(backend);

  test('a fresh store: revision 1, no compaction, no keys', async () => {
    const engine = await open();
    const s = await engine.status();
    expect(s.header.revision).toBe(1);
    expect(s.compactRevision).toBe(0);
    expect(s.keys).toBe(0);
    expect(Number.isInteger(s.dbSize) && s.dbSize >= 0).toBe(true);
    expect(Number.isInteger(s.dbSizeInUse) && s.dbSizeInUse >= 0).toBe(true);
    expect(s.dbSizeInUse).toBeLessThanOrEqual(s.dbSize);
  });

  test('revision, compact revision and live key count track writes', async () => {
    const engine = await open();
    for (let i = 0; i < 5; i++) await engine.put({ key: b(`k${i}`), value: b('v') }); // 2..6
    await engine.put({ key: b('k0'), value: b('w') }); // 7: overwrite, still 5 keys
    expect(await engine.status()).toMatchObject({ header: { revision: 7 }, compactRevision: 0, keys: 5 });
    await engine.deleteRange({ key: b('k3'), rangeEnd: b('k5') }); // 8
    await engine.compact({ revision: 6 });
    expect(await engine.status()).toMatchObject({ header: { revision: 8 }, compactRevision: 6, keys: 3 });
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('l'), value: b('v'), lease: id }); // 9
    expect((await engine.status()).keys).toBe(4);
    await engine.leaseRevoke(id); // 10
    expect(await engine.status()).toMatchObject({ header: { revision: 10 }, compactRevision: 6, keys: 3 });
  });

  test('currentRevision: the revision a read would carry, without a write', async () => {
    const engine = await open();
    expect(await engine.currentRevision()).toBe(1);
    await engine.put({ key: b('a'), value: b('1') }); // 2
    await engine.txn({ compare: [{ key: b('a'), target: 'VERSION', result: 'EQUAL', version: 9 }] }); // no write
    expect(await engine.currentRevision()).toBe(2);
    expect(await engine.currentRevision()).toBe((await engine.range({ key: b('a') })).header.revision);
    expect(await engine.currentRevision()).toBe((await engine.status()).header.revision);
  });

  test('database size grows with data', async () => {
    const engine = await open();
    const before = (await engine.status()).dbSize;
    const value = Buffer.alloc(64 * 1024, 0x5a);
    for (let i = 0; i < 16; i++) await engine.put({ key: b(`big${i}`), value });
    // A backend may count the bytes only once its write batch commits, after the puts were answered (etcd commits
    // its backend every 100 ms): poll for the growth, within the suite's bound for a wedged engine.
    let after = await engine.status();
    for (const deadline = Date.now() + WAIT_MS; after.dbSize <= before && Date.now() < deadline;) {
      await sleep(20);
      after = await engine.status();
    }
    expect(after.dbSize).toBeGreaterThan(before);
    expect(after.dbSizeInUse).toBeGreaterThan(0);
  });

  test('health: ready while open; backend is named', async () => {
    const engine = await open();
    expect(engine.health()).toMatchObject({ ready: true });
    expect(typeof engine.backend).toBe('string');
    expect(engine.backend.length).toBeGreaterThan(0);
  });

  test('close: cancels watchers with a reason, is idempotent, later calls fail with STOPPED', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const rec = WatchRecorder.start(engine, { ...ALL });
    await engine.close();
    await engine.close();
    const canceled = rec.canceled;
    expect(canceled?.type).toBe('canceled');
    expect(canceled?.reason.length).toBeGreaterThan(0);
    // The cancel is the last message.
    expect(rec.messages[rec.messages.length - 1].type).toBe('canceled');
    expect(engine.health().ready).toBe(false);
    await expectEngineError(() => engine.put({ key: b('a'), value: b('2') }), 'STOPPED');
    await expectEngineError(() => engine.range({ key: b('a') }), 'STOPPED');
    await expectEngineError(() => engine.leaseGrant({ ttl: 10 }), 'STOPPED');
    await expectEngineError(() => engine.status(), 'STOPPED');
    await expectEngineError(() => engine.currentRevision(), 'STOPPED');
    await sleep(50);
    expect(rec.messages.filter((m) => m.type === 'events')).toEqual([]);
  });
});
