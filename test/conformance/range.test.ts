/**
 * Range (docs/etcd-semantics.md#key-ranges, #range): key intervals, limit/more/count, sorting,
 * keys_only/count_only, min/max filters, historical reads and their errors.
 */
import type { Engine, RangeRequest, RangeResponse, SortOrder, SortTarget } from '../../src/engine';
import { conformanceBackends } from './backends';
import { ALL, b, bytes, expectEngineError, kv, kvLine, NUL, prefixEnd, str, useBackend } from './helpers';

/**
 * The fixture every test reads (revision after each write in the comment). Final state, in key order:
 * a=va c2 m2 v1 · b=vb2 c3 m9 v2 · c=vc3 c4 m12 v3 · foo=1 c5 m5 v1 · foo/1=22 c6 m6 v1 · foo/2=333 c7 m7 v1 ·
 * fop=x c8 m8 v1 · z=a c10 m10 v1.
 */
async function fixture(engine: Engine): Promise<void> {
  const writes: Array<[string, string]> = [
    ['a', 'va'], // 2
    ['b', 'vb'], // 3
    ['c', 'vc'], // 4
    ['foo', '1'], // 5
    ['foo/1', '22'], // 6
    ['foo/2', '333'], // 7
    ['fop', 'x'], // 8
    ['b', 'vb2'], // 9
    ['z', 'a'], // 10
    ['c', 'vc2'], // 11
    ['c', 'vc3'], // 12
  ];
  for (const [k, v] of writes) await engine.put({ key: b(k), value: b(v) });
}

const CURRENT = 12;
const KEYS = ['a', 'b', 'c', 'foo', 'foo/1', 'foo/2', 'fop', 'z'];
const FINAL = [
  kv('a', 'va', 2, 2, 1),
  kv('b', 'vb2', 3, 9, 2),
  kv('c', 'vc3', 4, 12, 3),
  kv('foo', '1', 5, 5, 1),
  kv('foo/1', '22', 6, 6, 1),
  kv('foo/2', '333', 7, 7, 1),
  kv('fop', 'x', 8, 8, 1),
  kv('z', 'a', 10, 10, 1),
];

const keys = (res: RangeResponse): string[] => res.kvs.map((k) => str(k.key));

describe.each(conformanceBackends)('$name: range', (backend) => {
  const { open } = useBackend(backend);
  let engine: Engine;
  beforeEach(async () => {
    engine = await open();
    await fixture(engine);
  });

  test('single key: exactly that key with full metadata; absent or empty range_end means single key', async () => {
    const res = await engine.range({ key: b('foo') });
    expect(res.kvs).toEqual([kv('foo', '1', 5, 5, 1)]);
    expect(res.count).toBe(1);
    expect(res.more).toBe(false);
    expect(res.header.revision).toBe(CURRENT);
    const emptyEnd = await engine.range({ key: b('foo'), rangeEnd: Buffer.alloc(0) });
    expect(emptyEnd.kvs).toEqual([kv('foo', '1', 5, 5, 1)]);
    expect(emptyEnd.count).toBe(1);
  });

  test('single-key ranges honour keys_only, count_only, filters, limit and revision', async () => {
    expect((await engine.range({ key: b('c'), keysOnly: true })).kvs).toEqual([kv('c', '', 4, 12, 3)]);
    const countOnly = await engine.range({ key: b('c'), countOnly: true });
    expect(countOnly.kvs).toEqual([]);
    expect(countOnly.count).toBe(1);
    // Filtered out: no kvs, but count is before filters.
    const filtered = await engine.range({ key: b('c'), maxModRevision: 11 });
    expect(filtered).toEqual({ header: { revision: CURRENT }, kvs: [], more: false, count: 1 });
    expect((await engine.range({ key: b('c'), minModRevision: 12 })).kvs).toEqual([kv('c', 'vc3', 4, 12, 3)]);
    expect((await engine.range({ key: b('c'), minCreateRevision: 5 })).kvs).toEqual([]);
    const limited = await engine.range({ key: b('c'), limit: 1, sortOrder: 'DESCEND', sortTarget: 'MOD' });
    expect(limited.kvs).toEqual([kv('c', 'vc3', 4, 12, 3)]);
    expect(limited.more).toBe(false);
    expect((await engine.range({ key: b('c'), revision: 11, keysOnly: true })).kvs).toEqual([
      kv('c', '', 4, 11, 2),
    ]);
  });

  test('keys and values come back as Buffers', async () => {
    const res = await engine.range({ key: b('c') });
    expect(Buffer.isBuffer(res.kvs[0].key)).toBe(true);
    expect(Buffer.isBuffer(res.kvs[0].value)).toBe(true);
    expect(typeof res.kvs[0].lease).toBe('bigint');
  });

  test('a missing key: no kvs, count 0, more false, header = current', async () => {
    const res = await engine.range({ key: b('fo') });
    expect(res).toEqual({ header: { revision: CURRENT }, kvs: [], more: false, count: 0 });
  });

  test('[key, range_end) is half-open and byte-ordered', async () => {
    expect(keys(await engine.range({ key: b('b'), rangeEnd: b('foo/1') }))).toEqual(['b', 'c', 'foo']);
    const res = await engine.range({ key: b('b'), rangeEnd: b('foo/1') });
    expect(res.count).toBe(3);
    expect(res.kvs).toEqual(FINAL.slice(1, 4));
    // An end between keys.
    expect(keys(await engine.range({ key: b('a'), rangeEnd: b('bb') }))).toEqual(['a', 'b']);
  });

  test('range_end "\\0" means every key >= key; key and end "\\0" mean every key', async () => {
    expect(keys(await engine.range({ key: b('c'), rangeEnd: NUL }))).toEqual(KEYS.slice(2));
    expect(keys(await engine.range({ key: b('fooo'), rangeEnd: NUL }))).toEqual(['fop', 'z']);
    const all = await engine.range({ ...ALL });
    expect(all.kvs).toEqual(FINAL);
    expect(all.count).toBe(8);
    expect(all.more).toBe(false);
  });

  test('prefix ranges use the incremented last byte as end', async () => {
    expect(prefixEnd(b('foo'))).toEqual(b('fop'));
    expect(keys(await engine.range({ key: b('foo'), rangeEnd: prefixEnd(b('foo')) }))).toEqual([
      'foo',
      'foo/1',
      'foo/2',
    ]);
    expect(keys(await engine.range({ key: b('foo/'), rangeEnd: prefixEnd(b('foo/')) }))).toEqual([
      'foo/1',
      'foo/2',
    ]);
  });

  test('prefix ends drop trailing 0xff bytes; an all-0xff prefix ranges to "\\0"', async () => {
    await engine.put({ key: bytes(0x61, 0xff), value: b('1') });
    await engine.put({ key: bytes(0x61, 0xff, 0x01), value: b('2') });
    await engine.put({ key: bytes(0x61, 0xff, 0xff), value: b('3') });
    await engine.put({ key: bytes(0xff), value: b('4') });
    await engine.put({ key: bytes(0xff, 0xff), value: b('5') });
    expect(prefixEnd(bytes(0x61, 0xff))).toEqual(b('b'));
    expect(prefixEnd(bytes(0xff, 0xff))).toEqual(NUL);
    const ax = await engine.range({ key: bytes(0x61, 0xff), rangeEnd: prefixEnd(bytes(0x61, 0xff)) });
    expect(ax.kvs.map((k) => [...k.key])).toEqual([
      [0x61, 0xff],
      [0x61, 0xff, 0x01],
      [0x61, 0xff, 0xff],
    ]);
    const ff = await engine.range({ key: bytes(0xff), rangeEnd: prefixEnd(bytes(0xff)) });
    expect(ff.kvs.map((k) => [...k.key])).toEqual([[0xff], [0xff, 0xff]]);
  });

  test('keys are arbitrary bytes ordered byte-wise (not as UTF-8/UTF-16 text)', async () => {
    const fresh = await open();
    // 0x80 and 0xc3 0x28 are invalid UTF-8: a text-based store would mangle or merge them.
    const raw = [
      bytes(0x01),
      bytes(0x61),
      bytes(0x61, 0x00),
      bytes(0x7f),
      bytes(0x80),
      bytes(0xc3, 0x28),
      bytes(0xc3, 0xa9),
      bytes(0xe2, 0x82, 0xac),
      bytes(0xf0, 0x9f, 0x98, 0x80),
      bytes(0xff),
    ];
    // Write in a scrambled order so insertion order cannot fake the result.
    for (const i of [5, 2, 9, 0, 7, 3, 8, 1, 6, 4]) {
      await fresh.put({ key: raw[i], value: bytes(i, 0x00, 0xff, 0x80) });
    }
    const all = await fresh.range({ ...ALL });
    expect(all.count).toBe(raw.length);
    expect(all.kvs.map((k) => [...k.key])).toEqual(raw.map((r) => [...r]));
    expect(all.kvs.map((k) => [...k.value])).toEqual(raw.map((_, i) => [i, 0x00, 0xff, 0x80]));
    const one = await fresh.range({ key: bytes(0x80) });
    expect(one.kvs.map((k) => [...k.key])).toEqual([[0x80]]);
    // A range across the ASCII/high-byte boundary.
    const mid = await fresh.range({ key: bytes(0x7f), rangeEnd: bytes(0xc3, 0xa9) });
    expect(mid.kvs.map((k) => [...k.key])).toEqual([[0x7f], [0x80], [0xc3, 0x28]]);
  });

  test('range_end <= key (non-empty) matches nothing without error', async () => {
    const backwards = await engine.range({ key: b('z'), rangeEnd: b('a') });
    expect(backwards).toEqual({ header: { revision: CURRENT }, kvs: [], more: false, count: 0 });
    const equal = await engine.range({ key: b('c'), rangeEnd: b('c') });
    expect(equal.kvs).toEqual([]);
    expect(equal.count).toBe(0);
  });

  test('limit truncates, sets more only when something was cut, and count ignores it', async () => {
    const l3 = await engine.range({ ...ALL, limit: 3 });
    expect(l3.kvs).toEqual(FINAL.slice(0, 3));
    expect(l3.more).toBe(true);
    expect(l3.count).toBe(8);
    const l7 = await engine.range({ ...ALL, limit: 7 });
    expect(keys(l7)).toEqual(KEYS.slice(0, 7));
    expect(l7.more).toBe(true);
    const l8 = await engine.range({ ...ALL, limit: 8 });
    expect(l8.kvs).toHaveLength(8);
    expect(l8.more).toBe(false);
    expect(l8.count).toBe(8);
    const l9 = await engine.range({ ...ALL, limit: 9 });
    expect(l9.kvs).toHaveLength(8);
    expect(l9.more).toBe(false);
    const l0 = await engine.range({ ...ALL, limit: 0 });
    expect(l0.kvs).toHaveLength(8);
    expect(l0.more).toBe(false);
    // obs: limit 1 on a 2-key range → 1 kv, count 2, more true.
    const prefix = await engine.range({ key: b('foo/'), rangeEnd: prefixEnd(b('foo/')), limit: 1 });
    expect(keys(prefix)).toEqual(['foo/1']);
    expect(prefix.count).toBe(2);
    expect(prefix.more).toBe(true);
  });

  const sorted: Array<[SortTarget, SortOrder | undefined, string[]]> = [
    ['KEY', undefined, KEYS],
    ['KEY', 'NONE', KEYS],
    ['KEY', 'ASCEND', KEYS],
    ['KEY', 'DESCEND', [...KEYS].reverse()],
    ['CREATE', 'ASCEND', KEYS],
    ['CREATE', 'DESCEND', [...KEYS].reverse()],
    // NONE with a non-KEY target implies ASCEND (docs/etcd-semantics.md#range).
    ['CREATE', 'NONE', KEYS],
    ['MOD', 'ASCEND', ['a', 'foo', 'foo/1', 'foo/2', 'fop', 'b', 'z', 'c']],
    ['MOD', 'NONE', ['a', 'foo', 'foo/1', 'foo/2', 'fop', 'b', 'z', 'c']],
    ['MOD', 'DESCEND', ['c', 'z', 'b', 'fop', 'foo/2', 'foo/1', 'foo', 'a']],
    // Byte-wise: '333' < 'a' < 'vc3' < 'x' (a length-first order would put 'x' before 'vc3').
    ['VALUE', 'ASCEND', ['foo', 'foo/1', 'foo/2', 'z', 'a', 'b', 'c', 'fop']],
    ['VALUE', 'NONE', ['foo', 'foo/1', 'foo/2', 'z', 'a', 'b', 'c', 'fop']],
    ['VALUE', 'DESCEND', ['fop', 'c', 'b', 'a', 'z', 'foo/2', 'foo/1', 'foo']],
  ];
  test.each(sorted)('sort target %s order %s', async (sortTarget, sortOrder, expected) => {
    const req: RangeRequest = { ...ALL, sortTarget };
    if (sortOrder !== undefined) req.sortOrder = sortOrder;
    const res = await engine.range(req);
    expect(keys(res)).toEqual(expected);
    expect(res.count).toBe(8);
    expect(res.more).toBe(false);
  });

  test('sort by VERSION (ties unordered): ASCEND implied by NONE, DESCEND reversed', async () => {
    for (const sortOrder of ['NONE', 'ASCEND'] as const) {
      const res = await engine.range({ ...ALL, sortTarget: 'VERSION', sortOrder });
      expect(res.kvs.map((k) => k.version)).toEqual([1, 1, 1, 1, 1, 1, 2, 3]);
      expect(keys(res).slice(6)).toEqual(['b', 'c']);
      expect(keys(res).slice(0, 6).sort()).toEqual(['a', 'foo', 'foo/1', 'foo/2', 'fop', 'z']);
    }
    const desc = await engine.range({ ...ALL, sortTarget: 'VERSION', sortOrder: 'DESCEND' });
    expect(desc.kvs.map((k) => k.version)).toEqual([3, 2, 1, 1, 1, 1, 1, 1]);
    expect(keys(desc).slice(0, 2)).toEqual(['c', 'b']);
  });

  test('sorting happens before limit', async () => {
    const res = await engine.range({ ...ALL, sortTarget: 'MOD', sortOrder: 'DESCEND', limit: 2 });
    expect(res.kvs.map(kvLine)).toEqual([kv('c', 'vc3', 4, 12, 3), kv('z', 'a', 10, 10, 1)].map(kvLine));
    expect(res.more).toBe(true);
    expect(res.count).toBe(8);
    const byKeyDesc = await engine.range({ ...ALL, sortOrder: 'DESCEND', limit: 3 });
    expect(keys(byKeyDesc)).toEqual(['z', 'fop', 'foo/2']);
    expect(byKeyDesc.more).toBe(true);
  });

  test('keys_only clears values and keeps every other field', async () => {
    const res = await engine.range({ key: b('b'), rangeEnd: b('foo/1'), keysOnly: true });
    expect(res.kvs).toEqual([kv('b', '', 3, 9, 2), kv('c', '', 4, 12, 3), kv('foo', '', 5, 5, 1)]);
    expect(res.kvs.every((k) => k.value.length === 0)).toBe(true);
    expect(res.count).toBe(3);
    const limited = await engine.range({ ...ALL, keysOnly: true, limit: 1 });
    expect(limited.kvs).toEqual([kv('a', '', 2, 2, 1)]);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe(8);
  });

  test('count_only returns no kvs, only the count of the range', async () => {
    const all = await engine.range({ ...ALL, countOnly: true });
    expect(all.kvs).toEqual([]);
    expect(all.count).toBe(8);
    expect(all.header.revision).toBe(CURRENT);
    const foo = await engine.range({ key: b('foo'), rangeEnd: prefixEnd(b('foo')), countOnly: true });
    expect(foo.kvs).toEqual([]);
    expect(foo.count).toBe(3);
    const missing = await engine.range({ key: b('nope'), countOnly: true });
    expect(missing.count).toBe(0);
    // count is before filters, even with count_only.
    const filtered = await engine.range({ ...ALL, countOnly: true, minModRevision: 10 });
    expect(filtered.kvs).toEqual([]);
    expect(filtered.count).toBe(8);
  });

  test('min/max mod/create revision filters are inclusive and count ignores them', async () => {
    const minMod = await engine.range({ ...ALL, minModRevision: 9 });
    expect(keys(minMod)).toEqual(['b', 'c', 'z']);
    expect(minMod.count).toBe(8);
    expect(minMod.more).toBe(false);
    expect(keys(await engine.range({ ...ALL, maxModRevision: 6 }))).toEqual(['a', 'foo', 'foo/1']);
    expect(keys(await engine.range({ ...ALL, minModRevision: 5, maxModRevision: 7 }))).toEqual([
      'foo',
      'foo/1',
      'foo/2',
    ]);
    expect(keys(await engine.range({ ...ALL, minCreateRevision: 6, maxCreateRevision: 8 }))).toEqual([
      'foo/1',
      'foo/2',
      'fop',
    ]);
    expect(keys(await engine.range({ ...ALL, minCreateRevision: 10 }))).toEqual(['z']);
    expect(keys(await engine.range({ ...ALL, maxCreateRevision: 3 }))).toEqual(['a', 'b']);
    // Mod and create filters combine (b: c3 m9, c: c4 m12).
    const both = await engine.range({ ...ALL, maxCreateRevision: 4, minModRevision: 9 });
    expect(keys(both)).toEqual(['b', 'c']);
    expect(both.count).toBe(8);
    // A filter that drops everything.
    const none = await engine.range({ ...ALL, minModRevision: 13 });
    expect(none.kvs).toEqual([]);
    expect(none.count).toBe(8);
    expect(none.more).toBe(false);
  });

  test('a filter <= 0 is unset, as in etcd: negative bounds filter nothing', async () => {
    const all = keys(await engine.range({ ...ALL }));
    for (const f of ['minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision'] as const) {
      expect(keys(await engine.range({ ...ALL, [f]: -1 }))).toEqual(all);
    }
  });

  test('filters apply before limit, then sort, then limit', async () => {
    const l1 = await engine.range({ ...ALL, minModRevision: 9, limit: 1 });
    expect(keys(l1)).toEqual(['b']);
    expect(l1.more).toBe(true);
    expect(l1.count).toBe(8);
    const l2 = await engine.range({ ...ALL, minModRevision: 9, limit: 2 });
    expect(keys(l2)).toEqual(['b', 'c']);
    expect(l2.more).toBe(true);
    // Exactly as many survivors as the limit: nothing cut, so more is false.
    const l3 = await engine.range({ ...ALL, minModRevision: 9, limit: 3 });
    expect(keys(l3)).toEqual(['b', 'c', 'z']);
    expect(l3.more).toBe(false);
    // Filter + sort + limit: create >= 5 leaves foo, foo/1, foo/2, fop, z; by value descending: x, a, ...
    const combo = await engine.range({
      ...ALL,
      minCreateRevision: 5,
      sortTarget: 'VALUE',
      sortOrder: 'DESCEND',
      limit: 2,
    });
    expect(keys(combo)).toEqual(['fop', 'z']);
    expect(combo.more).toBe(true);
    expect(combo.count).toBe(8);
  });

  test('historical reads return the state at that revision; header = current revision', async () => {
    const at4 = await engine.range({ ...ALL, revision: 4 });
    expect(at4.kvs).toEqual([kv('a', 'va', 2, 2, 1), kv('b', 'vb', 3, 3, 1), kv('c', 'vc', 4, 4, 1)]);
    expect(at4.count).toBe(3);
    expect(at4.header.revision).toBe(CURRENT);
    const b9 = await engine.range({ key: b('b'), revision: 9 });
    expect(b9.kvs).toEqual([kv('b', 'vb2', 3, 9, 2)]);
    const b8 = await engine.range({ key: b('b'), revision: 8 });
    expect(b8.kvs).toEqual([kv('b', 'vb', 3, 3, 1)]);
    const c11 = await engine.range({ key: b('c'), revision: 11 });
    expect(c11.kvs).toEqual([kv('c', 'vc2', 4, 11, 2)]);
    const at1 = await engine.range({ ...ALL, revision: 1 });
    expect(at1).toEqual({ header: { revision: CURRENT }, kvs: [], more: false, count: 0 });
    const atCurrent = await engine.range({ ...ALL, revision: CURRENT });
    expect(atCurrent.kvs).toEqual(FINAL);
    // Limit, count and filters at a past revision.
    const at8 = await engine.range({ ...ALL, revision: 8, limit: 2 });
    expect(keys(at8)).toEqual(['a', 'b']);
    expect(at8.count).toBe(7);
    expect(at8.more).toBe(true);
    const at8mod = await engine.range({ ...ALL, revision: 8, minModRevision: 7 });
    expect(keys(at8mod)).toEqual(['foo/2', 'fop']);
    expect(at8mod.count).toBe(7);
    const at8sorted = await engine.range({
      ...ALL,
      revision: 8,
      sortTarget: 'MOD',
      sortOrder: 'DESCEND',
      limit: 1,
    });
    expect(at8sorted.kvs).toEqual([kv('fop', 'x', 8, 8, 1)]);
  });

  test('historical reads see deleted keys and earlier generations', async () => {
    await engine.deleteRange({ key: b('foo'), rangeEnd: prefixEnd(b('foo')) }); // 13
    await engine.put({ key: b('foo'), value: b('new') }); // 14
    expect(keys(await engine.range({ ...ALL }))).toEqual(['a', 'b', 'c', 'foo', 'fop', 'z']);
    const at12 = await engine.range({ key: b('foo'), rangeEnd: prefixEnd(b('foo')), revision: 12 });
    expect(at12.kvs).toEqual([
      kv('foo', '1', 5, 5, 1),
      kv('foo/1', '22', 6, 6, 1),
      kv('foo/2', '333', 7, 7, 1),
    ]);
    const at13 = await engine.range({ key: b('foo'), rangeEnd: prefixEnd(b('foo')), revision: 13 });
    expect(at13.kvs).toEqual([]);
    expect(at13.count).toBe(0);
    expect(at13.header.revision).toBe(14);
    const at14 = await engine.range({ key: b('foo'), rangeEnd: prefixEnd(b('foo')), revision: 14 });
    expect(at14.kvs).toEqual([kv('foo', 'new', 14, 14, 1)]);
  });

  test('a future revision is rejected with OutOfRange', async () => {
    await expectEngineError(() => engine.range({ key: b('a'), revision: CURRENT + 1 }), 'FUTURE_REV');
    await expectEngineError(() => engine.range({ ...ALL, revision: 1000, countOnly: true }), 'FUTURE_REV');
  });

  test('revision < compact revision is compacted; == compact revision is readable', async () => {
    await engine.compact({ revision: 9 });
    await expectEngineError(() => engine.range({ key: b('b'), revision: 8 }), 'COMPACTED');
    await expectEngineError(() => engine.range({ ...ALL, revision: 1 }), 'COMPACTED');
    const at9 = await engine.range({ key: b('b'), revision: 9 });
    expect(at9.kvs).toEqual([kv('b', 'vb2', 3, 9, 2)]);
    expect(at9.header.revision).toBe(CURRENT);
    // Revision 0 still means latest.
    expect((await engine.range({ ...ALL, revision: 0 })).kvs).toEqual(FINAL);
  });

  test('serializable reads return the same data', async () => {
    const res = await engine.range({ ...ALL, serializable: true });
    expect(res.kvs).toEqual(FINAL);
    expect(res.count).toBe(8);
  });
});
