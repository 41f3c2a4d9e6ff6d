/**
 * Put and DeleteRange (docs/etcd-semantics.md#put, #deleterange).
 */
import { conformanceBackends } from './backends';
import {
  ALL,
  b,
  bytes,
  currentRevision,
  expectEngineError,
  kv,
  NUL,
  prefixEnd,
  str,
  useBackend,
  within,
} from './helpers';

describe.each(conformanceBackends)('$name: put and delete', (backend) => {
  const { open } = useBackend(backend);

  test('put returns the new revision; prev_kv only when asked and only when the key existed', async () => {
    const engine = await open();
    const first = await engine.put({ key: b('k'), value: b('v1'), prevKv: true });
    expect(first.header.revision).toBe(2);
    expect(first.prevKv).toBeUndefined();
    const second = await engine.put({ key: b('k'), value: b('v2'), prevKv: true });
    expect(second.header.revision).toBe(3);
    expect(second.prevKv).toEqual(kv('k', 'v1', 2, 2, 1));
    const third = await engine.put({ key: b('k'), value: b('v3') });
    expect(third.header.revision).toBe(4);
    expect(third.prevKv).toBeUndefined();
    // After a delete there is no previous kv.
    await engine.deleteRange({ key: b('k') });
    const recreated = await engine.put({ key: b('k'), value: b('v4'), prevKv: true });
    expect(recreated.prevKv).toBeUndefined();
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v4', 6, 6, 1)]);
  });

  test('prev_kv carries the previous lease', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('k'), value: b('v1'), lease: id });
    const res = await engine.put({ key: b('k'), value: b('v2'), prevKv: true });
    expect(res.prevKv).toEqual(kv('k', 'v1', 2, 2, 1, id));
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v2', 2, 3, 2)]);
  });

  test('values may be empty or absent (stored as empty bytes) and binary values round-trip exactly', async () => {
    const engine = await open();
    await engine.put({ key: b('absent') });
    await engine.put({ key: b('empty'), value: Buffer.alloc(0) });
    const binary = bytes(0x00, 0xff, 0x80, 0xc3, 0x28, 0x0a, 0x00);
    await engine.put({ key: b('binary'), value: binary });
    const res = await engine.range({ ...ALL });
    expect(res.kvs.map((k) => [str(k.key), [...k.value]])).toEqual([
      ['absent', []],
      ['binary', [...binary]],
      ['empty', []],
    ]);
  });

  test('the engine keeps its own copy of keys and values', async () => {
    const engine = await open();
    const key = b('key');
    const value = b('value');
    await engine.put({ key, value });
    key.fill(0x7a);
    value.fill(0x7a);
    const res = await engine.range({ key: b('key') });
    expect(res.kvs).toEqual([kv('key', 'value', 2, 2, 1)]);
    // Mutating a returned buffer does not change the store either.
    res.kvs[0].value.fill(0x78);
    res.kvs[0].key.fill(0x78);
    expect((await engine.range({ key: b('key') })).kvs).toEqual([kv('key', 'value', 2, 2, 1)]);
  });

  test('a 1 MiB value round-trips', async () => {
    const engine = await open();
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    await engine.put({ key: b('big'), value: big });
    const res = await engine.range({ key: b('big') });
    expect(res.kvs[0].value.equals(big)).toBe(true);
  });

  test('long keys work: etcd limits only the request size', async () => {
    const engine = await open();
    const k4 = Buffer.alloc(4096, 0x61);
    const k64 = Buffer.concat([Buffer.alloc(65536, 0x62), bytes(0x00, 0xff)]);
    expect(
      (await within(engine.put({ key: k4, value: b('4k') }), 5000, 'put 4 KiB key')).header.revision,
    ).toBe(2);
    expect(
      (await within(engine.put({ key: k64, value: b('64k') }), 5000, 'put 64 KiB key')).header.revision,
    ).toBe(3);
    // The engine is not wedged: an ordinary write still goes through.
    expect(
      (await within(engine.put({ key: b('z'), value: b('1') }), 5000, 'put after long keys')).header.revision,
    ).toBe(4);
    const all = await engine.range({ ...ALL });
    expect(all.kvs.map((k) => [k.key.length, str(k.value)])).toEqual([
      [4096, '4k'],
      [65538, '64k'],
      [1, '1'],
    ]);
    expect(all.kvs[1].key.equals(k64)).toBe(true);
    expect((await engine.range({ key: k4 })).kvs).toHaveLength(1);
    const del = await within(
      engine.deleteRange({ key: k4, rangeEnd: b('c'), prevKv: true }),
      5000,
      'delete long keys',
    );
    expect(del.deleted).toBe(2);
    expect((await engine.range({ ...ALL })).count).toBe(1);
  });

  test('ignore_value keeps the value and still writes a new revision', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('k'), value: b('keep') }); // 2
    const res = await engine.put({ key: b('k'), ignoreValue: true, lease: id, prevKv: true }); // 3
    expect(res.header.revision).toBe(3);
    expect(res.prevKv).toEqual(kv('k', 'keep', 2, 2, 1));
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'keep', 2, 3, 2, id)]);
    // An explicitly empty value is not "a value provided".
    await engine.put({ key: b('k'), value: Buffer.alloc(0), ignoreValue: true }); // 4, detaches the lease
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'keep', 2, 4, 3)]);
  });

  test('ignore_lease keeps the lease and updates the value', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('k'), value: b('v1'), lease: id }); // 2
    await engine.put({ key: b('k'), value: b('v2'), ignoreLease: true }); // 3
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v2', 2, 3, 2, id)]);
    // lease 0n is "no lease given", allowed with ignore_lease.
    await engine.put({ key: b('k'), value: b('v3'), ignoreLease: true, lease: 0n }); // 4
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v3', 2, 4, 3, id)]);
    expect((await engine.leaseTimeToLive(id, true)).keys.map(str)).toEqual(['k']);
    // Both flags: a pure "touch".
    await engine.put({ key: b('k'), ignoreLease: true, ignoreValue: true }); // 5
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v3', 2, 5, 4, id)]);
  });

  test('ignore_value with a value → "value is provided"; ignore_lease with a lease → "lease is provided"', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('k'), value: b('v1') });
    await expectEngineError(
      () => engine.put({ key: b('k'), value: b('x'), ignoreValue: true }),
      'VALUE_PROVIDED',
    );
    await expectEngineError(
      () => engine.put({ key: b('k'), value: b('x'), lease: id, ignoreLease: true }),
      'LEASE_PROVIDED',
    );
    expect(await currentRevision(engine)).toBe(2);
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v1', 2, 2, 1)]);
  });

  test('ignore_value / ignore_lease on a missing key → "key not found", nothing written', async () => {
    const engine = await open();
    await engine.put({ key: b('other'), value: b('1') });
    await expectEngineError(() => engine.put({ key: b('k'), ignoreValue: true }), 'KEY_NOT_FOUND');
    await expectEngineError(
      () => engine.put({ key: b('k'), value: b('v'), ignoreLease: true }),
      'KEY_NOT_FOUND',
    );
    // A deleted key is missing too.
    await engine.put({ key: b('gone'), value: b('1') });
    await engine.deleteRange({ key: b('gone') });
    await expectEngineError(() => engine.put({ key: b('gone'), ignoreValue: true }), 'KEY_NOT_FOUND');
    expect(await currentRevision(engine)).toBe(4);
    expect((await engine.range({ key: b('k') })).count).toBe(0);
  });

  test('put with an unknown lease → NotFound "requested lease not found", nothing written', async () => {
    const engine = await open();
    await expectEngineError(
      () => engine.put({ key: b('k'), value: b('v'), lease: 12345n }),
      'LEASE_NOT_FOUND',
    );
    expect(await currentRevision(engine)).toBe(1);
    expect((await engine.range({ key: b('k') })).count).toBe(0);
    // A revoked lease is unknown as well, and an existing key keeps its value.
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('k'), value: b('v1') });
    await engine.leaseRevoke(id);
    await expectEngineError(() => engine.put({ key: b('k'), value: b('v2'), lease: id }), 'LEASE_NOT_FOUND');
    expect((await engine.range({ key: b('k') })).kvs).toEqual([kv('k', 'v1', 2, 2, 1)]);
  });

  test('lease IDs beyond 2^53 are kept exactly', async () => {
    const engine = await open();
    const big = (1n << 62n) + 12345n;
    const grant = await engine.leaseGrant({ ttl: 30, id: big });
    expect(grant.id).toBe(big);
    await engine.put({ key: b('k'), value: b('v'), lease: big });
    expect((await engine.range({ key: b('k') })).kvs[0].lease).toBe(big);
    await expectEngineError(
      () => engine.put({ key: b('j'), value: b('v'), lease: big + 1n }),
      'LEASE_NOT_FOUND',
    );
  });

  test('delete returns deleted and full prev_kvs in key order, in one revision', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('p/c'), value: b('3') }); // 2
    await engine.put({ key: b('p/a'), value: b('1'), lease: id }); // 3
    await engine.put({ key: b('p/b'), value: b('2') }); // 4
    await engine.put({ key: b('p/b'), value: b('22') }); // 5
    await engine.put({ key: b('q'), value: b('x') }); // 6
    const res = await engine.deleteRange({ key: b('p/'), rangeEnd: prefixEnd(b('p/')), prevKv: true });
    expect(res.header.revision).toBe(7);
    expect(res.deleted).toBe(3);
    expect(res.prevKvs).toEqual([
      kv('p/a', '1', 3, 3, 1, id),
      kv('p/b', '22', 4, 5, 2),
      kv('p/c', '3', 2, 2, 1),
    ]);
    expect((await engine.range({ ...ALL })).kvs).toEqual([kv('q', 'x', 6, 6, 1)]);
    // All three were alive at 6 and gone at 7.
    expect((await engine.range({ key: b('p/'), rangeEnd: b('p0'), revision: 6 })).count).toBe(3);
    expect((await engine.range({ key: b('p/'), rangeEnd: b('p0'), revision: 7 })).count).toBe(0);
    // Detached: the lease has no keys left.
    expect((await engine.leaseTimeToLive(id, true)).keys).toEqual([]);
  });

  test('delete without prev_kv returns no prev_kvs; single-key delete', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    await engine.put({ key: b('ab'), value: b('1') });
    const res = await engine.deleteRange({ key: b('a') });
    expect(res.deleted).toBe(1);
    expect(res.prevKvs).toEqual([]);
    expect(res.header.revision).toBe(4);
    // Only `a` went: single-key delete is not a prefix delete.
    expect((await engine.range({ ...ALL })).kvs.map((k) => str(k.key))).toEqual(['ab']);
  });

  test('delete with "\\0" end deletes every key >= key; key and end "\\0" delete everything', async () => {
    const engine = await open();
    for (const k of ['a', 'b', 'c', 'd']) await engine.put({ key: b(k), value: b(k) });
    const tail = await engine.deleteRange({ key: b('c'), rangeEnd: NUL, prevKv: true });
    expect(tail.deleted).toBe(2);
    expect(tail.prevKvs.map((k) => str(k.key))).toEqual(['c', 'd']);
    const rest = await engine.deleteRange({ ...ALL });
    expect(rest.deleted).toBe(2);
    expect(rest.header.revision).toBe(7);
    expect((await engine.range({ ...ALL })).count).toBe(0);
  });

  test('delete with range_end <= key deletes nothing', async () => {
    const engine = await open();
    for (const k of ['a', 'm', 'z']) await engine.put({ key: b(k), value: b(k) });
    const res = await engine.deleteRange({ key: b('z'), rangeEnd: b('a'), prevKv: true });
    expect(res.deleted).toBe(0);
    expect(res.prevKvs).toEqual([]);
    expect(res.header.revision).toBe(4);
    const same = await engine.deleteRange({ key: b('m'), rangeEnd: b('m') });
    expect(same.deleted).toBe(0);
    expect((await engine.range({ ...ALL })).count).toBe(3);
    expect(await currentRevision(engine)).toBe(4);
  });
});
