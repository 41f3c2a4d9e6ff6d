/**
 * Revision model and per-key metadata (docs/etcd-semantics.md#revisions, #key-metadata, #response-headers-and-status).
 */
import { conformanceBackends } from './backends';
import { ALL, b, currentRevision, kv, useBackend } from './helpers';

describe.each(conformanceBackends)('$name: revisions', (backend) => {
  const { open } = useBackend(backend, { leaseCheckIntervalMs: 50 });

  test('a fresh store is at revision 1 and the first write produces revision 2', async () => {
    const engine = await open();
    expect(await currentRevision(engine)).toBe(1);
    const empty = await engine.range({ ...ALL });
    expect(empty.header.revision).toBe(1);
    expect(empty.kvs).toEqual([]);
    expect(empty.count).toBe(0);

    const put = await engine.put({ key: b('a'), value: b('1') });
    expect(put.header.revision).toBe(2);
    const got = await engine.range({ key: b('a') });
    expect(got.header.revision).toBe(2);
    expect(got.kvs).toEqual([kv('a', '1', 2, 2, 1)]);
  });

  test('every mutating request bumps the revision by exactly one', async () => {
    const engine = await open();
    expect((await engine.put({ key: b('a'), value: b('1') })).header.revision).toBe(2);
    expect((await engine.put({ key: b('b'), value: b('1') })).header.revision).toBe(3);
    // Overwriting the same key is still a new revision.
    expect((await engine.put({ key: b('a'), value: b('2') })).header.revision).toBe(4);
    // One DeleteRange deleting two keys is ONE revision.
    const del = await engine.deleteRange({ ...ALL });
    expect(del.deleted).toBe(2);
    expect(del.header.revision).toBe(5);
    // One txn with three writes is ONE revision, and every change in it carries that revision.
    const txn = await engine.txn({
      success: [
        { put: { key: b('x'), value: b('1') } },
        { put: { key: b('y'), value: b('1') } },
        { put: { key: b('z'), value: b('1') } },
      ],
    });
    expect(txn.succeeded).toBe(true);
    expect(txn.header.revision).toBe(6);
    const all = await engine.range({ ...ALL });
    expect(all.kvs.map((k) => [k.createRevision, k.modRevision])).toEqual([
      [6, 6],
      [6, 6],
      [6, 6],
    ]);
    expect(await currentRevision(engine)).toBe(6);
  });

  test('reads do not bump the revision', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    for (let i = 0; i < 3; i++) {
      expect((await engine.range({ key: b('a') })).header.revision).toBe(2);
      expect((await engine.range({ ...ALL, countOnly: true })).header.revision).toBe(2);
    }
    expect(await currentRevision(engine)).toBe(2);
  });

  test('a DeleteRange that matches nothing does not bump; header = current', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const del = await engine.deleteRange({ key: b('nothing') });
    expect(del.deleted).toBe(0);
    expect(del.prevKvs).toEqual([]);
    expect(del.header.revision).toBe(2);
    const delRange = await engine.deleteRange({ key: b('b'), rangeEnd: b('z') });
    expect(delRange.deleted).toBe(0);
    expect(delRange.header.revision).toBe(2);
    // Deleting an already deleted key matches nothing either.
    await engine.deleteRange({ key: b('a') });
    const again = await engine.deleteRange({ key: b('a') });
    expect(again.deleted).toBe(0);
    expect(again.header.revision).toBe(3);
    expect(await currentRevision(engine)).toBe(3);
  });

  test('a read-only txn does not bump; header = current', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const ro = await engine.txn({
      compare: [{ key: b('a'), target: 'VERSION', result: 'EQUAL', version: 1 }],
      success: [{ range: { key: b('a') } }, { range: { ...ALL } }],
      failure: [{ put: { key: b('never'), value: b('1') } }],
    });
    expect(ro.succeeded).toBe(true);
    expect(ro.header.revision).toBe(2);
    expect(ro.responses).toHaveLength(2);
    // An empty txn is read-only too.
    const empty = await engine.txn({});
    expect(empty.succeeded).toBe(true);
    expect(empty.responses).toEqual([]);
    expect(empty.header.revision).toBe(2);
    expect(await currentRevision(engine)).toBe(2);
    expect((await engine.range({ key: b('never') })).count).toBe(0);
  });

  test('a failed txn whose failure branch only reads does not bump', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const failed = await engine.txn({
      compare: [{ key: b('a'), target: 'VALUE', result: 'EQUAL', value: b('other') }],
      success: [{ put: { key: b('a'), value: b('2') } }],
      failure: [{ range: { key: b('a') } }],
    });
    expect(failed.succeeded).toBe(false);
    expect(failed.header.revision).toBe(2);
    expect(failed.responses).toHaveLength(1);
    expect(failed.responses[0].range?.kvs).toEqual([kv('a', '1', 2, 2, 1)]);
    // Failure branch with no ops at all.
    const failedEmpty = await engine.txn({
      compare: [{ key: b('a'), target: 'VERSION', result: 'GREATER', version: 5 }],
      success: [{ put: { key: b('a'), value: b('2') } }],
    });
    expect(failedEmpty.succeeded).toBe(false);
    expect(failedEmpty.responses).toEqual([]);
    expect(failedEmpty.header.revision).toBe(2);
    expect(await currentRevision(engine)).toBe(2);
  });

  test('a txn whose executed branch changes nothing (deletes of absent keys) does not bump', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const res = await engine.txn({
      success: [{ deleteRange: { key: b('missing') } }, { range: { key: b('a') } }],
    });
    expect(res.succeeded).toBe(true);
    expect(res.header.revision).toBe(2);
    expect(res.responses[0].deleteRange?.deleted).toBe(0);
    expect(await currentRevision(engine)).toBe(2);
  });

  test('a txn that writes bumps once; its header is pre-txn revision + 1', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const res = await engine.txn({
      compare: [{ key: b('a'), target: 'VALUE', result: 'EQUAL', value: b('nope') }],
      failure: [{ put: { key: b('b'), value: b('1') } }, { deleteRange: { key: b('a') } }],
    });
    expect(res.succeeded).toBe(false);
    expect(res.header.revision).toBe(3);
    expect(await currentRevision(engine)).toBe(3);
  });

  test('lease grant, keepalive, revoke of a key-less lease and compact do not bump', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const grant = await engine.leaseGrant({ ttl: 30 });
    expect(grant.header.revision).toBe(2);
    const ka = await engine.leaseKeepAlive(grant.id);
    expect(ka.header.revision).toBe(2);
    const ttl = await engine.leaseTimeToLive(grant.id, true);
    expect(ttl.header.revision).toBe(2);
    const leases = await engine.leaseLeases();
    expect(leases.header.revision).toBe(2);
    const revoke = await engine.leaseRevoke(grant.id);
    expect(revoke.header.revision).toBe(2);
    const compact = await engine.compact({ revision: 2 });
    expect(compact.header.revision).toBe(2);
    expect(await currentRevision(engine)).toBe(2);
    // The next write is the very next revision: nothing above consumed one.
    expect((await engine.put({ key: b('b'), value: b('1') })).header.revision).toBe(3);
  });

  test('revoking a lease with keys is one revision', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('k1'), value: b('1'), lease: id });
    await engine.put({ key: b('k2'), value: b('2'), lease: id });
    expect(await currentRevision(engine)).toBe(3);
    const res = await engine.leaseRevoke(id);
    expect(res.header.revision).toBe(4);
    expect(await currentRevision(engine)).toBe(4);
    expect((await engine.range({ ...ALL })).count).toBe(0);
    // Both keys were still there one revision earlier.
    expect((await engine.range({ ...ALL, revision: 3 })).count).toBe(2);
  });

  test('create_revision is kept on overwrite; version counts puts; mod_revision moves', async () => {
    const engine = await open();
    await engine.put({ key: b('other'), value: b('x') }); // 2
    await engine.put({ key: b('k'), value: b('v1') }); // 3
    await engine.put({ key: b('other'), value: b('y') }); // 4
    await engine.put({ key: b('k'), value: b('v2') }); // 5
    await engine.put({ key: b('k'), value: b('v3') }); // 6
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v3', 3, 6, 3)]);
    expect((await engine.range({ key: b('other') })).kvs).toEqual([kv('other', 'y', 2, 4, 2)]);
  });

  test('a delete ends the generation: the next put restarts at version 1 with a new create_revision', async () => {
    const engine = await open();
    await engine.put({ key: b('k'), value: b('v1') }); // 2
    await engine.put({ key: b('k'), value: b('v2') }); // 3
    await engine.deleteRange({ key: b('k') }); // 4
    expect((await engine.range({ key: b('k') })).kvs).toEqual([]);
    await engine.put({ key: b('k'), value: b('v3') }); // 5
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v3', 5, 5, 1)]);
    await engine.put({ key: b('k'), value: b('v4') }); // 6
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v4', 5, 6, 2)]);
    // Earlier generations stay readable with their own metadata.
    expect((await engine.range({ key: b('k'), revision: 3 })).kvs).toEqual([kv('k', 'v2', 2, 3, 2)]);
    expect((await engine.range({ key: b('k'), revision: 4 })).kvs).toEqual([]);
  });

  test('lease attach and detach follow Put and Delete', async () => {
    const engine = await open();
    const l1 = (await engine.leaseGrant({ ttl: 30 })).id;
    const l2 = (await engine.leaseGrant({ ttl: 30 })).id;
    const keysOf = async (id: bigint): Promise<string[]> =>
      (await engine.leaseTimeToLive(id, true)).keys.map((k) => k.toString('latin1')).sort();

    await engine.put({ key: b('a'), value: b('1'), lease: l1 }); // 2
    await engine.put({ key: b('b'), value: b('1'), lease: l1 }); // 3
    expect((await engine.range({ key: b('a') })).kvs).toEqual([kv('a', '1', 2, 2, 1, l1)]);
    expect(await keysOf(l1)).toEqual(['a', 'b']);

    // A put without lease detaches.
    await engine.put({ key: b('a'), value: b('2') }); // 4
    expect((await engine.range({ key: b('a') })).kvs).toEqual([kv('a', '2', 2, 4, 2, 0n)]);
    expect(await keysOf(l1)).toEqual(['b']);

    // A put with another lease re-attaches.
    await engine.put({ key: b('b'), value: b('2'), lease: l2 }); // 5
    expect((await engine.range({ key: b('b') })).kvs).toEqual([kv('b', '2', 3, 5, 2, l2)]);
    expect(await keysOf(l1)).toEqual([]);
    expect(await keysOf(l2)).toEqual(['b']);

    // A delete detaches: revoking l2 afterwards deletes nothing and does not bump.
    await engine.deleteRange({ key: b('b') }); // 6
    expect(await keysOf(l2)).toEqual([]);
    await engine.put({ key: b('b'), value: b('3') }); // 7, no lease
    expect((await engine.leaseRevoke(l2)).header.revision).toBe(7);
    expect((await engine.range({ key: b('b') })).kvs).toEqual([kv('b', '3', 7, 7, 1)]);
    // l1 has no keys left either: revoking it must not delete the detached key `a`.
    expect((await engine.leaseRevoke(l1)).header.revision).toBe(7);
    expect((await engine.range({ key: b('a') })).kvs).toEqual([kv('a', '2', 2, 4, 2)]);
  });
});
