/**
 * One key changed twice in one revision. etcd's duplicate-key check builds the literal interval `[key, "\0")` for a
 * from-key delete, which is empty, so a txn may put a key and also delete it through a from-key delete
 * (docs/etcd-semantics.md#txn; real etcd 3.4 accepts it). Everything keyed by (revision, key) must cope: history,
 * watch `prev_kv` (the key at mod_revision - 1, docs/etcd-semantics.md#what-events-look-like), compaction and a
 * durable restart.
 */
import { conformanceBackends } from './backends';
import { ALL, NUL, b, currentRevision, kv, str, useBackend, WatchRecorder } from './helpers';

describe.each(conformanceBackends)('$name: one key changed twice in one revision', (backend) => {
  const { open, reopen } = useBackend(backend);

  /** rev 2: put x/a=old; rev 3: txn [put x/a=new, put x/b=b1, delete from x/ with \0 end, put y=1]. */
  async function putThenFromKeyDelete(engine: Awaited<ReturnType<typeof open>>): Promise<number> {
    await engine.put({ key: b('x/a'), value: b('old') });
    const res = await engine.txn({
      success: [
        { put: { key: b('x/a'), value: b('new') } },
        { put: { key: b('x/b'), value: b('b1') } },
        { deleteRange: { key: b('x/'), rangeEnd: NUL, prevKv: true } },
        { put: { key: b('y'), value: b('1') } },
      ],
    });
    expect(res.succeeded).toBe(true);
    expect(res.header.revision).toBe(3);
    // The delete saw the txn's own puts (later ops see earlier writes).
    expect(res.responses[2].deleteRange?.deleted).toBe(2);
    expect(res.responses[2].deleteRange?.prevKvs).toEqual([
      kv('x/a', 'new', 2, 3, 2),
      kv('x/b', 'b1', 3, 3, 1),
    ]);
    return res.header.revision;
  }

  test('a from-key delete does not conflict with a put in the same txn (etcd builds an empty interval)', async () => {
    const engine = await open();
    await putThenFromKeyDelete(engine);
    // Only y survives; x/a and x/b are gone at revision 3 but x/a=old is readable at revision 2.
    expect((await engine.range({ ...ALL })).kvs).toEqual([kv('y', '1', 3, 3, 1)]);
    expect((await engine.range({ ...ALL, revision: 2 })).kvs).toEqual([kv('x/a', 'old', 2, 2, 1)]);
    expect((await engine.range({ key: b('x/a'), revision: 3 })).count).toBe(0);
  });

  test('watch replay: every change in execution order, prev_kv = the key at mod_revision - 1', async () => {
    const engine = await open();
    await putThenFromKeyDelete(engine);
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 3, prevKv: true });
    await rec.waitForEvents(5);
    const lines = rec.events.map(
      (e) => `${e.type} ${str(e.kv.key)}@${e.kv.modRevision} prev=${str(e.prevKv?.value)}`,
    );
    expect(lines).toEqual([
      'PUT x/a@3 prev=old',
      'PUT x/b@3 prev=<undefined>',
      // x/a at revision 2 was "old"; x/b did not exist at revision 2.
      'DELETE x/a@3 prev=old',
      'DELETE x/b@3 prev=<undefined>',
      'PUT y@3 prev=<undefined>',
    ]);
  });

  test('compaction at that revision keeps history exact and the store usable', async () => {
    const engine = await open();
    const rev = await putThenFromKeyDelete(engine);
    await engine.compact({ revision: rev });
    expect((await engine.range({ ...ALL, revision: rev })).kvs).toEqual([kv('y', '1', 3, 3, 1)]);
    await engine.put({ key: b('x/a'), value: b('again') });
    expect((await engine.range({ key: b('x/a') })).kvs).toEqual([kv('x/a', 'again', 4, 4, 1)]);
    expect(await currentRevision(engine)).toBe(4);
  });

  const restartable = backend.reopen !== undefined ? test : test.skip;
  restartable('a restart restores both changes of the key, in order', async () => {
    let engine = await open();
    await putThenFromKeyDelete(engine);
    await engine.put({ key: b('z'), value: b('2') });
    engine = await reopen(engine);
    expect(await currentRevision(engine)).toBe(4);
    expect((await engine.range({ ...ALL, revision: 2 })).kvs).toEqual([kv('x/a', 'old', 2, 2, 1)]);
    expect((await engine.range({ ...ALL, revision: 3 })).kvs).toEqual([kv('y', '1', 3, 3, 1)]);
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 3 });
    await rec.waitForEvents(6);
    expect(rec.events.map((e) => `${e.type} ${str(e.kv.key)}`)).toEqual([
      'PUT x/a',
      'PUT x/b',
      'DELETE x/a',
      'DELETE x/b',
      'PUT y',
      'PUT z',
    ]);
    // Compact after the restart: removing the superseded put of x/a at revision 3 must find it on disk.
    await engine.compact({ revision: 4 });
    engine = await reopen(engine);
    expect((await engine.range({ ...ALL })).kvs).toEqual([kv('y', '1', 3, 3, 1), kv('z', '2', 4, 4, 1)]);
  });
});
