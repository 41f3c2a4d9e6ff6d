/**
 * Bad input (docs/etcd-semantics.md#key-ranges, #put, #txn, #errors; contract: "All methods validate their
 * arguments and reject with an EngineError"). Every bad request must be rejected with a typed EngineError — never a
 * TypeError or a crash deep inside the engine — and must write nothing.
 *
 * The `as any` casts are the point: callers in JavaScript (or a buggy API layer) can pass anything.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { EngineError, type Engine, type EngineErrorCode } from '../../src/engine';
import { conformanceBackends } from './backends';
import { b, expectEngineError, expectWatchError, kv, useBackend } from './helpers';

type Case = [name: string, call: (engine: Engine, lease: bigint) => unknown, codes: EngineErrorCode[]];

const INVALID: EngineErrorCode[] = ['INVALID_ARGUMENT'];
// A missing or non-Buffer key may fairly be reported either as "not provided" or as a wrong argument.
const BAD_KEY: EngineErrorCode[] = ['INVALID_ARGUMENT', 'KEY_NOT_PROVIDED'];
const EMPTY = Buffer.alloc(0);

const cases: Case[] = [
  // Range
  ['range: empty key', (e) => e.range({ key: EMPTY }), ['KEY_NOT_PROVIDED']],
  ['range: no key', (e) => e.range({} as any), BAD_KEY],
  ['range: null request', (e) => e.range(null as any), BAD_KEY],
  ['range: string key', (e) => e.range({ key: 'a' as any }), BAD_KEY],
  ['range: array key', (e) => e.range({ key: [97] as any }), BAD_KEY],
  ['range: string range_end', (e) => e.range({ key: b('a'), rangeEnd: 'z' as any }), INVALID],
  ['range: negative limit', (e) => e.range({ key: b('a'), limit: -1 }), INVALID],
  ['range: string limit', (e) => e.range({ key: b('a'), limit: 'x' as any }), INVALID],
  ['range: fractional limit', (e) => e.range({ key: b('a'), limit: 1.5 }), INVALID],
  ['range: NaN limit', (e) => e.range({ key: b('a'), limit: NaN }), INVALID],
  ['range: string revision', (e) => e.range({ key: b('a'), revision: 'x' as any }), INVALID],
  ['range: fractional revision', (e) => e.range({ key: b('a'), revision: 1.5 }), INVALID],
  ['range: bigint revision', (e) => e.range({ key: b('a'), revision: 2n as any }), INVALID],
  ['range: unknown sort order', (e) => e.range({ key: b('a'), sortOrder: 'UP' as any }), INVALID],
  ['range: unknown sort target', (e) => e.range({ key: b('a'), sortTarget: 'SIZE' as any }), INVALID],
  ['range: string keysOnly', (e) => e.range({ key: b('a'), keysOnly: 'yes' as any }), INVALID],
  ['range: string minModRevision', (e) => e.range({ key: b('a'), minModRevision: 'x' as any }), INVALID],
  ['range: string maxCreateRevision', (e) => e.range({ key: b('a'), maxCreateRevision: {} as any }), INVALID],

  // Put
  ['put: empty key', (e) => e.put({ key: EMPTY, value: b('v') }), ['KEY_NOT_PROVIDED']],
  ['put: no key', (e) => e.put({ value: b('v') } as any), BAD_KEY],
  ['put: null request', (e) => e.put(null as any), BAD_KEY],
  ['put: string key', (e) => e.put({ key: 'a' as any, value: b('v') }), BAD_KEY],
  ['put: string value', (e) => e.put({ key: b('a'), value: 'v' as any }), INVALID],
  ['put: number value', (e) => e.put({ key: b('a'), value: 42 as any }), INVALID],
  ['put: number lease', (e, l) => e.put({ key: b('a'), value: b('v'), lease: Number(l) as any }), INVALID],
  ['put: lease 5 as number', (e) => e.put({ key: b('a'), value: b('v'), lease: 5 as any }), INVALID],
  ['put: string lease', (e) => e.put({ key: b('a'), value: b('v'), lease: '5' as any }), INVALID],
  [
    'put: lease beyond int64',
    (e) => e.put({ key: b('a'), value: b('v'), lease: 1n << 64n }),
    ['INVALID_ARGUMENT', 'LEASE_NOT_FOUND'],
  ],
  ['put: string prevKv', (e) => e.put({ key: b('a'), value: b('v'), prevKv: 'yes' as any }), INVALID],
  [
    'put: ignore_value with value',
    (e) => e.put({ key: b('a'), value: b('v'), ignoreValue: true }),
    ['VALUE_PROVIDED'],
  ],
  [
    'put: ignore_lease with lease',
    (e, l) => e.put({ key: b('a'), lease: l, ignoreLease: true }),
    ['LEASE_PROVIDED'],
  ],
  [
    'put: ignore_value on missing key',
    (e) => e.put({ key: b('nokey'), ignoreValue: true }),
    ['KEY_NOT_FOUND'],
  ],
  ['put: unknown lease', (e) => e.put({ key: b('a'), value: b('v'), lease: 999n }), ['LEASE_NOT_FOUND']],

  // DeleteRange
  ['delete: empty key', (e) => e.deleteRange({ key: EMPTY }), ['KEY_NOT_PROVIDED']],
  [
    'delete: empty key with range end',
    (e) => e.deleteRange({ key: EMPTY, rangeEnd: b('\0') }),
    ['KEY_NOT_PROVIDED'],
  ],
  ['delete: no key', (e) => e.deleteRange({} as any), BAD_KEY],
  ['delete: number key', (e) => e.deleteRange({ key: 5 as any }), BAD_KEY],
  ['delete: string range_end', (e) => e.deleteRange({ key: b('a'), rangeEnd: 'z' as any }), INVALID],
  ['delete: number prevKv', (e) => e.deleteRange({ key: b('a'), prevKv: 1 as any }), INVALID],

  // Txn
  ['txn: null request', (e) => e.txn(null as any), INVALID],
  ['txn: compare not a list', (e) => e.txn({ compare: 'x' as any }), INVALID],
  ['txn: success not a list', (e) => e.txn({ success: {} as any }), INVALID],
  ['txn: null compare', (e) => e.txn({ compare: [null as any] }), INVALID],
  [
    'txn: unknown compare target',
    (e) => e.txn({ compare: [{ key: b('a'), target: 'SIZE' as any, result: 'EQUAL' }] }),
    INVALID,
  ],
  [
    'txn: unknown compare result',
    (e) => e.txn({ compare: [{ key: b('a'), target: 'VERSION', result: 'ABOUT' as any }] }),
    INVALID,
  ],
  [
    'txn: string compare version',
    (e) => e.txn({ compare: [{ key: b('a'), target: 'VERSION', result: 'EQUAL', version: 'x' as any }] }),
    INVALID,
  ],
  [
    'txn: string compare value',
    (e) => e.txn({ compare: [{ key: b('a'), target: 'VALUE', result: 'EQUAL', value: 'v' as any }] }),
    INVALID,
  ],
  [
    'txn: number compare lease',
    (e) => e.txn({ compare: [{ key: b('a'), target: 'LEASE', result: 'EQUAL', lease: 5 as any }] }),
    INVALID,
  ],
  [
    'txn: string compare key',
    (e) => e.txn({ compare: [{ key: 'a' as any, target: 'VERSION', result: 'EQUAL' }] }),
    BAD_KEY,
  ],
  [
    'txn: op with two requests',
    (e) => e.txn({ success: [{ put: { key: b('x'), value: b('v') }, range: { key: b('a') } }] }),
    INVALID,
  ],
  ['txn: null op', (e) => e.txn({ success: [null as any] }), ['INVALID_ARGUMENT', 'KEY_NOT_FOUND']],
  // `null` members count as "not set" or as wrong types, but must never reach the executor.
  [
    'txn: op with put: null',
    (e) => e.txn({ success: [{ put: null as any }] }),
    ['INVALID_ARGUMENT', 'KEY_NOT_FOUND'],
  ],
  [
    'txn: op with txn: null',
    (e) => e.txn({ success: [{ txn: null as any }] }),
    ['INVALID_ARGUMENT', 'KEY_NOT_FOUND'],
  ],
  [
    'txn: op with range: null beside a put',
    (e) => e.txn({ success: [{ range: null as any, put: { key: b('x') } }] }),
    ['INVALID_ARGUMENT', 'KEY_NOT_FOUND'],
  ],
  [
    'txn: put that is not an object',
    (e) => e.txn({ success: [{ put: 'x' as any }] }),
    ['INVALID_ARGUMENT', 'KEY_NOT_PROVIDED'],
  ],
  [
    'txn: empty op',
    (e) => e.txn({ success: [{ put: { key: b('x'), value: b('v') } }, {}] }),
    ['KEY_NOT_FOUND'],
  ],
  [
    'txn: bad range inside nested txn',
    (e) =>
      e.txn({
        success: [{ put: { key: b('x') } }, { txn: { success: [{ range: { key: b('a'), limit: -1 } }] } }],
      }),
    INVALID,
  ],
  [
    'txn: string value in a put op',
    (e) => e.txn({ success: [{ put: { key: b('x'), value: 'v' as any } }] }),
    INVALID,
  ],
  [
    'txn: number lease in a put op',
    (e) => e.txn({ success: [{ put: { key: b('x'), value: b('v'), lease: 5 as any } }] }),
    INVALID,
  ],
  [
    'txn: unknown lease in a put op',
    (e) => e.txn({ success: [{ put: { key: b('x'), value: b('v'), lease: 999n } }] }),
    ['LEASE_NOT_FOUND'],
  ],

  // Compact
  ['compact: string revision', (e) => e.compact({ revision: 'x' as any }), INVALID],
  ['compact: fractional revision', (e) => e.compact({ revision: 1.5 }), INVALID],
  ['compact: negative revision', (e) => e.compact({ revision: -1 }), ['INVALID_ARGUMENT', 'COMPACTED']],
  ['compact: null request', (e) => e.compact(null as any), INVALID],
  ['compact: future revision', (e) => e.compact({ revision: 3 }), ['FUTURE_REV']],

  // Leases
  ['leaseGrant: string TTL', (e) => e.leaseGrant({ ttl: 'x' as any }), INVALID],
  ['leaseGrant: NaN TTL', (e) => e.leaseGrant({ ttl: NaN }), INVALID],
  ['leaseGrant: number ID', (e) => e.leaseGrant({ ttl: 10, id: 5 as any }), INVALID],
  ['leaseGrant: null request', (e) => e.leaseGrant(null as any), INVALID],
  ['leaseGrant: too large TTL', (e) => e.leaseGrant({ ttl: 9e9 + 1 }), ['LEASE_TTL_TOO_LARGE']],
  ['leaseGrant: existing ID', (e, l) => e.leaseGrant({ ttl: 10, id: l }), ['LEASE_EXISTS']],
  ['leaseRevoke: number ID', (e) => e.leaseRevoke(5 as any), INVALID],
  ['leaseRevoke: string ID', (e) => e.leaseRevoke('5' as any), INVALID],
  ['leaseRevoke: unknown ID', (e) => e.leaseRevoke(999n), ['LEASE_NOT_FOUND']],
  ['leaseKeepAlive: string ID', (e) => e.leaseKeepAlive('x' as any), INVALID],
  ['leaseKeepAlive: number ID', (e, l) => e.leaseKeepAlive(Number(l) as any), INVALID],
  ['leaseTimeToLive: number ID', (e) => e.leaseTimeToLive(5 as any), INVALID],
  ['leaseTimeToLive: undefined ID', (e) => e.leaseTimeToLive(undefined as any), INVALID],
];

type WatchCase = [name: string, call: (engine: Engine) => unknown, codes: EngineErrorCode[]];
const watchCases: WatchCase[] = [
  ['watch: string key', (e) => e.watch({ key: 'a' as any }, () => true), BAD_KEY],
  ['watch: null request', (e) => e.watch(null as any, () => true), BAD_KEY],
  ['watch: number range_end', (e) => e.watch({ key: b('a'), rangeEnd: 5 as any }, () => true), INVALID],
  [
    'watch: string start revision',
    (e) => e.watch({ key: b('a'), startRevision: 'x' as any }, () => true),
    INVALID,
  ],
  [
    'watch: fractional start revision',
    (e) => e.watch({ key: b('a'), startRevision: 1.5 }, () => true),
    INVALID,
  ],
  ['watch: string prevKv', (e) => e.watch({ key: b('a'), prevKv: 'yes' as any }, () => true), INVALID],
  ['watch: sink is not a function', (e) => e.watch({ key: b('a') }, 'sink' as any), INVALID],
  [
    'watch: range end below key',
    (e) => e.watch({ key: b('b'), rangeEnd: b('a') }, () => true),
    ['WATCH_RANGE_EMPTY'],
  ],
];

describe.each(conformanceBackends)('$name: validation', (backend) => {
  const { open } = useBackend(backend);
  let engine: Engine;
  let lease: bigint;

  beforeEach(async () => {
    engine = await open();
    lease = (await engine.leaseGrant({ ttl: 60, id: 777n })).id;
    await engine.put({ key: b('a'), value: b('1'), lease }); // 2
  });

  /** Nothing changed: same revision, same key, same single lease. */
  async function expectUntouched(): Promise<void> {
    const all = await engine.range({ key: b('\0'), rangeEnd: b('\0') });
    expect(all.header.revision).toBe(2);
    expect(all.kvs).toEqual([kv('a', '1', 2, 2, 1, lease)]);
    expect((await engine.leaseLeases()).leases).toEqual([lease]);
    expect((await engine.status()).compactRevision).toBe(0);
  }

  test.each(cases)('%s → EngineError, nothing written', async (_name, call, codes) => {
    const err = await expectEngineError(() => call(engine, lease), null);
    expect(codes).toContain(err.code);
    expect(typeof err.message).toBe('string');
    expect(err.message.length).toBeGreaterThan(0);
    await expectUntouched();
  });

  test.each(watchCases)('%s → EngineError thrown synchronously', async (_name, call, codes) => {
    const err = expectWatchError(() => call(engine), null);
    expect(codes).toContain(err.code);
    await expectUntouched();
  });

  test('a plain Uint8Array key or value is rejected or stored as exactly those bytes', async () => {
    let rejected: unknown;
    try {
      await engine.put({ key: new Uint8Array([0x6b]) as any, value: new Uint8Array([1, 2, 0xff]) as any });
    } catch (err) {
      rejected = err;
    }
    if (rejected !== undefined) {
      expect(rejected).toBeInstanceOf(EngineError);
      await expectUntouched();
      return;
    }
    // Accepted: it must be the key "k" with value 01 02 ff, not some text rendering of the array.
    const all = await engine.range({ key: b('\0'), rangeEnd: b('\0') });
    expect(all.kvs.map((k) => [...k.key])).toEqual([[0x61], [0x6b]]);
    expect([...(await engine.range({ key: b('k') })).kvs[0].value]).toEqual([1, 2, 0xff]);
  });

  test('the engine keeps working after every bad request', async () => {
    for (const [, call] of cases) {
      await Promise.resolve()
        .then(() => call(engine, lease))
        .catch(() => undefined);
    }
    for (const [, call] of watchCases) {
      try {
        call(engine);
      } catch {
        // expected
      }
    }
    await expectUntouched();
    expect((await engine.put({ key: b('b'), value: b('2') })).header.revision).toBe(3);
  });
});
