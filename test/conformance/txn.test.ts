/**
 * Txn (docs/etcd-semantics.md#txn): compares, branches, nesting, inner headers, validation and pre-apply checks.
 */
import type { Compare, CompareResult, CompareTarget, Engine, RequestOp } from '../../src/engine';
import { conformanceBackends } from './backends';
import { ALL, b, currentRevision, expectEngineError, kv, NUL, str, useBackend } from './helpers';

const put = (key: string, value = 'v'): RequestOp => ({ put: { key: b(key), value: b(value) } });
const del = (key: string, rangeEnd?: string): RequestOp => ({
  deleteRange: rangeEnd === undefined ? { key: b(key) } : { key: b(key), rangeEnd: b(rangeEnd) },
});
const get = (key: string, rangeEnd?: string): RequestOp => ({
  range: rangeEnd === undefined ? { key: b(key) } : { key: b(key), rangeEnd: b(rangeEnd) },
});

/** Compare with the operand for `target` set to `operand` (number, bigint or string value). */
function cmp(
  key: string,
  target: CompareTarget,
  result: CompareResult,
  operand?: number | bigint | string,
  rangeEnd?: string,
): Compare {
  const c: Compare = { key: b(key), target, result };
  if (rangeEnd !== undefined) c.rangeEnd = b(rangeEnd);
  if (operand === undefined) return c;
  switch (target) {
    case 'VERSION':
      c.version = operand as number;
      break;
    case 'CREATE':
      c.createRevision = operand as number;
      break;
    case 'MOD':
      c.modRevision = operand as number;
      break;
    case 'VALUE':
      c.value = b(operand as string);
      break;
    case 'LEASE':
      c.lease = operand as bigint;
      break;
  }
  return c;
}

/** Evaluate compares with no ops: whether they held. */
async function holds(engine: Engine, ...compare: Compare[]): Promise<boolean> {
  return (await engine.txn({ compare })).succeeded;
}

const RESULTS: CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const expectedResult = (sign: number, r: CompareResult): boolean =>
  r === 'EQUAL' ? sign === 0 : r === 'GREATER' ? sign > 0 : r === 'LESS' ? sign < 0 : sign !== 0;

describe.each(conformanceBackends)('$name: txn', (backend) => {
  const { open } = useBackend(backend);

  describe('compare', () => {
    let engine: Engine;
    let lease: bigint;
    // k: value "m", version 2, create 3, mod 5, lease = `lease`.
    beforeEach(async () => {
      engine = await open();
      lease = (await engine.leaseGrant({ ttl: 60, id: 1000n })).id;
      await engine.put({ key: b('other'), value: b('o') }); // 2
      await engine.put({ key: b('k'), value: b('a') }); // 3
      await engine.put({ key: b('other'), value: b('p') }); // 4
      await engine.put({ key: b('k'), value: b('m'), lease }); // 5
    });

    // stored OP given: for each target a smaller, equal and larger operand.
    const operands: Record<CompareTarget, Array<[number | bigint | string, number]>> = {
      VERSION: [
        [1, 1],
        [2, 0],
        [3, -1],
      ],
      CREATE: [
        [2, 1],
        [3, 0],
        [4, -1],
      ],
      MOD: [
        [4, 1],
        [5, 0],
        [6, -1],
      ],
      LEASE: [
        [999n, 1],
        [1000n, 0],
        [1001n, -1],
      ],
      // Byte-wise: "m" > "lzzz" (longer but smaller), "m" < "m\0" (prefix is smaller).
      VALUE: [
        ['lzzz', 1],
        ['', 1],
        ['m', 0],
        ['m\0', -1],
        ['n', -1],
      ],
    };
    test.each(Object.keys(operands) as CompareTarget[])(
      'target %s × every result, stored OP given',
      async (target) => {
        const wrong: string[] = [];
        for (const [operand, sign] of operands[target]) {
          for (const result of RESULTS) {
            const got = await holds(engine, cmp('k', target, result, operand));
            if (got !== expectedResult(sign, result))
              wrong.push(`${target} ${result} ${String(operand)} → ${got}`);
          }
        }
        expect(wrong).toEqual([]);
        // Compares never write.
        expect(await currentRevision(engine)).toBe(5);
      },
    );

    test('a missing operand counts as 0 / empty bytes', async () => {
      expect(await holds(engine, cmp('k', 'VERSION', 'GREATER'))).toBe(true);
      expect(await holds(engine, cmp('k', 'VERSION', 'EQUAL'))).toBe(false);
      expect(await holds(engine, cmp('k', 'CREATE', 'GREATER'))).toBe(true);
      expect(await holds(engine, cmp('k', 'MOD', 'GREATER'))).toBe(true);
      expect(await holds(engine, cmp('k', 'VALUE', 'GREATER'))).toBe(true);
      expect(await holds(engine, cmp('k', 'LEASE', 'GREATER'))).toBe(true);
      expect(await holds(engine, cmp('other', 'LEASE', 'EQUAL'))).toBe(true);
    });

    test('VALUE on a missing key is false whatever the operator (even NOT_EQUAL)', async () => {
      for (const result of RESULTS) {
        expect([result, await holds(engine, cmp('nokey', 'VALUE', result, 'z'))]).toEqual([result, false]);
        expect([result, await holds(engine, cmp('nokey', 'VALUE', result))]).toEqual([result, false]);
      }
    });

    test('other targets on a missing key compare against a zero KeyValue', async () => {
      expect(await holds(engine, cmp('nokey', 'CREATE', 'EQUAL', 0))).toBe(true);
      expect(await holds(engine, cmp('nokey', 'VERSION', 'EQUAL', 0))).toBe(true);
      expect(await holds(engine, cmp('nokey', 'VERSION', 'LESS', 1))).toBe(true);
      expect(await holds(engine, cmp('nokey', 'MOD', 'EQUAL', 0))).toBe(true);
      expect(await holds(engine, cmp('nokey', 'LEASE', 'EQUAL', 0n))).toBe(true);
      expect(await holds(engine, cmp('nokey', 'CREATE', 'GREATER', 0))).toBe(false);
      expect(await holds(engine, cmp('nokey', 'VERSION', 'NOT_EQUAL', 0))).toBe(false);
      // A deleted key is missing.
      await engine.deleteRange({ key: b('other') });
      expect(await holds(engine, cmp('other', 'VERSION', 'EQUAL', 0))).toBe(true);
      expect(await holds(engine, cmp('other', 'VALUE', 'NOT_EQUAL', 'p'))).toBe(false);
    });

    test('a range compare must hold for every key in the range', async () => {
      await engine.put({ key: b('r/1'), value: b('x') }); // 6
      await engine.put({ key: b('r/2'), value: b('x') }); // 7
      await engine.put({ key: b('r/2'), value: b('y') }); // 8: r/1 v1 "x", r/2 v2 "y"
      expect(await holds(engine, cmp('r/', 'VERSION', 'GREATER', 0, 'r0'))).toBe(true);
      expect(await holds(engine, cmp('r/', 'VERSION', 'EQUAL', 1, 'r0'))).toBe(false);
      expect(await holds(engine, cmp('r/', 'VERSION', 'LESS', 3, 'r0'))).toBe(true);
      expect(await holds(engine, cmp('r/', 'VERSION', 'LESS', 2, 'r0'))).toBe(false);
      expect(await holds(engine, cmp('r/', 'VALUE', 'GREATER', 'w', 'r0'))).toBe(true);
      expect(await holds(engine, cmp('r/', 'VALUE', 'EQUAL', 'x', 'r0'))).toBe(false);
      expect(await holds(engine, cmp('r/', 'MOD', 'GREATER', 5, 'r0'))).toBe(true);
      expect(await holds(engine, cmp('r/', 'MOD', 'GREATER', 6, 'r0'))).toBe(false);
      expect(await holds(engine, cmp('r/', 'CREATE', 'NOT_EQUAL', 6, 'r0'))).toBe(false);
      // "\0" end: every key >= "r/".
      expect(await holds(engine, cmp('r/', 'VERSION', 'GREATER', 0, '\0'))).toBe(true);
      // "k" (version 2) and "other" (version 2) and r/1 (version 1) in ["k", "\0"): not all version 2.
      expect(await holds(engine, cmp('k', 'VERSION', 'EQUAL', 2, '\0'))).toBe(false);
      expect(await holds(engine, cmp('k', 'VERSION', 'EQUAL', 2, 'p'))).toBe(true);
    });

    test('a range compare over no keys compares against a zero KeyValue (VALUE: false)', async () => {
      expect(await holds(engine, cmp('x/', 'VERSION', 'EQUAL', 0, 'x0'))).toBe(true);
      expect(await holds(engine, cmp('x/', 'CREATE', 'EQUAL', 0, 'x0'))).toBe(true);
      expect(await holds(engine, cmp('x/', 'VERSION', 'GREATER', 0, 'x0'))).toBe(false);
      expect(await holds(engine, cmp('x/', 'VALUE', 'NOT_EQUAL', 'a', 'x0'))).toBe(false);
      expect(await holds(engine, cmp('x/', 'VALUE', 'EQUAL', '', 'x0'))).toBe(false);
      // An end at or below the key is an empty range too.
      expect(await holds(engine, cmp('z', 'VERSION', 'EQUAL', 0, 'a'))).toBe(true);
      expect(await holds(engine, cmp('k', 'VERSION', 'EQUAL', 0, 'k'))).toBe(true);
    });

    test('compares are ANDed', async () => {
      const t = cmp('k', 'VALUE', 'EQUAL', 'm');
      const f = cmp('k', 'VERSION', 'EQUAL', 99);
      expect(await holds(engine, t, t)).toBe(true);
      expect(await holds(engine, t, f)).toBe(false);
      expect(await holds(engine, f, t)).toBe(false);
      expect(await holds(engine)).toBe(true);
    });
  });

  test('the executed branch and its responses follow the compare result', async () => {
    const engine = await open();
    await engine.put({ key: b('k'), value: b('1') }); // 2
    const ok = await engine.txn({
      compare: [cmp('k', 'VALUE', 'EQUAL', '1')],
      success: [put('k', '2'), get('k')],
      failure: [put('f', 'x')],
    });
    expect(ok.succeeded).toBe(true);
    expect(ok.header.revision).toBe(3);
    expect(ok.responses).toHaveLength(2);
    expect(ok.responses[0].put).toBeDefined();
    expect(ok.responses[1].range?.kvs).toEqual([kv('k', '2', 2, 3, 2)]);
    const ko = await engine.txn({
      compare: [cmp('k', 'VALUE', 'EQUAL', '1')],
      success: [put('k', '3')],
      failure: [put('f', 'x'), get('k'), del('k')],
    });
    expect(ko.succeeded).toBe(false);
    expect(ko.header.revision).toBe(4);
    expect(ko.responses).toHaveLength(3);
    expect(ko.responses[0].put).toBeDefined();
    expect(ko.responses[1].range?.kvs).toEqual([kv('k', '2', 2, 3, 2)]);
    expect(ko.responses[2].deleteRange?.deleted).toBe(1);
    expect((await engine.range({ ...ALL })).kvs).toEqual([kv('f', 'x', 4, 4, 1)]);
  });

  test('ops see earlier ops of the same txn; every change shares the revision', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('old') }); // 2
    await engine.put({ key: b('d'), value: b('gone') }); // 3
    const res = await engine.txn({
      success: [
        get('a'),
        put('a', 'new'),
        get('a'),
        del('d'),
        get('d'),
        put('b', 'fresh'),
        { range: { ...ALL } },
        { put: { key: b('c'), value: b('c'), prevKv: true } },
        { put: { key: b('b0'), value: b('x'), prevKv: true } },
      ],
    });
    expect(res.header.revision).toBe(4);
    const r = res.responses;
    expect(r[0].range?.kvs).toEqual([kv('a', 'old', 2, 2, 1)]);
    expect(r[2].range?.kvs).toEqual([kv('a', 'new', 2, 4, 2)]);
    expect(r[3].deleteRange?.deleted).toBe(1);
    expect(r[4].range?.kvs).toEqual([]);
    expect(r[4].range?.count).toBe(0);
    expect(r[6].range?.kvs).toEqual([kv('a', 'new', 2, 4, 2), kv('b', 'fresh', 4, 4, 1)]);
    expect(r[6].range?.count).toBe(2);
    expect(r[7].put?.prevKv).toBeUndefined();
    expect((await engine.range({ ...ALL })).kvs).toEqual([
      kv('a', 'new', 2, 4, 2),
      kv('b', 'fresh', 4, 4, 1),
      kv('b0', 'x', 4, 4, 1),
      kv('c', 'c', 4, 4, 1),
    ]);
  });

  test('inner headers: new revision for puts and after a change; pre-txn revision before any change', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') }); // 2
    const res = await engine.txn({
      success: [get('a'), del('missing'), put('b'), get('a'), del('a'), del('zzz')],
    });
    expect(res.header.revision).toBe(3);
    expect(res.responses.map((r) => (r.range ?? r.put ?? r.deleteRange)?.header.revision)).toEqual([
      2, 2, 3, 3, 3, 3,
    ]);
    // A delete that is the first change carries the new revision too.
    const second = await engine.txn({ success: [get('b'), del('b'), get('b')] });
    expect(second.responses.map((r) => (r.range ?? r.deleteRange)?.header.revision)).toEqual([3, 4, 4]);
  });

  test('nested txn: compares are evaluated against the PRE-txn state', async () => {
    const engine = await open();
    const res = await engine.txn({
      success: [
        put('n/1'),
        {
          txn: {
            compare: [cmp('n/1', 'VERSION', 'EQUAL', 1)],
            success: [put('n/ok')],
            failure: [put('n/fail'), get('n/1')],
          },
        },
      ],
    });
    expect(res.succeeded).toBe(true);
    expect(res.header.revision).toBe(2);
    const inner = res.responses[1].txn;
    expect(inner?.succeeded).toBe(false);
    expect(inner?.responses).toHaveLength(2);
    // The nested ops themselves run after the outer put and see it.
    expect(inner?.responses[1].range?.kvs).toEqual([kv('n/1', 'v', 2, 2, 1)]);
    expect((await engine.range({ ...ALL })).kvs.map((k) => str(k.key))).toEqual(['n/1', 'n/fail']);
  });

  test('nested txn: the inner branch is chosen by its own compares; nesting twice works', async () => {
    const engine = await open();
    await engine.put({ key: b('x'), value: b('1') }); // 2
    const res = await engine.txn({
      compare: [cmp('x', 'VALUE', 'EQUAL', '1')],
      success: [
        {
          txn: {
            compare: [cmp('x', 'VERSION', 'EQUAL', 1)],
            success: [
              put('y', 'inner-ok'),
              { txn: { compare: [cmp('x', 'MOD', 'EQUAL', 99)], failure: [put('z')] } },
            ],
            failure: [put('y', 'inner-ko')],
          },
        },
      ],
    });
    expect(res.succeeded).toBe(true);
    const inner = res.responses[0].txn;
    expect(inner?.succeeded).toBe(true);
    expect(inner?.responses[0].put?.header.revision).toBe(3);
    expect(inner?.responses[1].txn?.succeeded).toBe(false);
    expect(inner?.responses[1].txn?.responses).toHaveLength(1);
    expect((await engine.range({ ...ALL })).kvs).toEqual([
      kv('x', '1', 2, 2, 1),
      kv('y', 'inner-ok', 3, 3, 1),
      kv('z', 'v', 3, 3, 1),
    ]);
    expect(await currentRevision(engine)).toBe(3);
  });

  describe('duplicate keys', () => {
    const DUP = 'DUPLICATE_KEY';

    test('two puts of the same key in one list are rejected, nothing written', async () => {
      const engine = await open();
      await expectEngineError(() => engine.txn({ success: [put('a', '1'), put('a', '2')] }), DUP);
      await expectEngineError(() => engine.txn({ failure: [put('a', '1'), put('b'), put('a', '2')] }), DUP);
      expect(await currentRevision(engine)).toBe(1);
    });

    test('a put inside a DeleteRange of the same list is rejected, whatever the order', async () => {
      const engine = await open();
      await expectEngineError(() => engine.txn({ success: [put('p/1'), del('p/', 'p0')] }), DUP);
      await expectEngineError(() => engine.txn({ success: [del('p/', 'p0'), put('p/1')] }), DUP);
      await expectEngineError(() => engine.txn({ success: [del('a'), put('a')] }), DUP);
      expect(await currentRevision(engine)).toBe(1);
    });

    test('a put outside the deleted range is fine', async () => {
      const engine = await open();
      await engine.put({ key: b('p/1'), value: b('old') }); // 2
      const res = await engine.txn({ success: [del('p/', 'p0'), put('p0'), put('p')] });
      expect(res.header.revision).toBe(3);
      expect((await engine.range({ ...ALL })).kvs.map((k) => str(k.key))).toEqual(['p', 'p0']);
    });

    test('overlapping deletes are fine; the second deletes nothing', async () => {
      const engine = await open();
      await engine.put({ key: b('x'), value: b('1') }); // 2
      const res = await engine.txn({ success: [del('x'), del('x'), del('a', 'z')] });
      expect(res.responses.map((r) => r.deleteRange?.deleted)).toEqual([1, 0, 0]);
      expect(res.header.revision).toBe(3);
    });

    test('nested lists are checked recursively', async () => {
      const engine = await open();
      await expectEngineError(
        () => engine.txn({ success: [put('a'), { txn: { success: [put('a')] } }] }),
        DUP,
      );
      await expectEngineError(
        () => engine.txn({ success: [put('a'), { txn: { failure: [put('a')] } }] }),
        DUP,
      );
      await expectEngineError(
        () => engine.txn({ success: [{ txn: { success: [put('a'), put('a')] } }] }),
        DUP,
      );
      await expectEngineError(
        () => engine.txn({ success: [del('p/', 'p0'), { txn: { success: [put('p/x')] } }] }),
        DUP,
      );
      await expectEngineError(
        () => engine.txn({ failure: [put('q'), { txn: { success: [del('q')] } }] }),
        DUP,
      );
      // Two nested txns of one list putting the same key: both may run, whichever branches they take.
      await expectEngineError(
        () => engine.txn({ success: [{ txn: { success: [put('a')] } }, { txn: { failure: [put('a')] } }] }),
        DUP,
      );
      await expectEngineError(
        () => engine.txn({ success: [{ txn: { failure: [put('a')] } }, { txn: { failure: [put('a')] } }] }),
        DUP,
      );
      expect(await currentRevision(engine)).toBe(1);
    });

    test('the same key in the success and failure branch of a nested txn is fine', async () => {
      const engine = await open();
      const res = await engine.txn({
        success: [
          put('b'),
          {
            txn: {
              compare: [cmp('b', 'VERSION', 'EQUAL', 0)],
              success: [put('a', 'then')],
              failure: [put('a', 'else')],
            },
          },
        ],
      });
      expect(res.responses[1].txn?.succeeded).toBe(true);
      expect((await engine.range({ key: b('a') })).kvs).toEqual([kv('a', 'then', 2, 2, 1)]);
      // And the outer success and failure lists are separate lists.
      const outer = await engine.txn({
        compare: [cmp('a', 'VALUE', 'EQUAL', 'nope')],
        success: [put('a', 's')],
        failure: [put('a', 'f')],
      });
      expect(outer.succeeded).toBe(false);
      expect((await engine.range({ key: b('a') })).kvs).toEqual([kv('a', 'f', 2, 3, 2)]);
    });
  });

  describe('validation', () => {
    const many = (n: number, f: (i: number) => RequestOp): RequestOp[] =>
      Array.from({ length: n }, (_, i) => f(i));

    test('more than 128 ops in any one list → "too many operations"; 128 in each is fine', async () => {
      const engine = await open();
      const compares = (n: number): Compare[] =>
        Array.from({ length: n }, (_, i) => cmp(`c${i}`, 'VERSION', 'EQUAL', 0));
      await expectEngineError(() => engine.txn({ compare: compares(129) }), 'TOO_MANY_OPS');
      await expectEngineError(() => engine.txn({ success: many(129, (i) => put(`s${i}`)) }), 'TOO_MANY_OPS');
      await expectEngineError(() => engine.txn({ failure: many(129, (i) => get(`f${i}`)) }), 'TOO_MANY_OPS');
      expect(await currentRevision(engine)).toBe(1);
      // The limit is per list, not total.
      const res = await engine.txn({
        compare: compares(128),
        success: many(128, (i) => put(`s${String(i).padStart(3, '0')}`)),
        failure: many(128, (i) => put(`f${i}`)),
      });
      expect(res.succeeded).toBe(true);
      expect(res.responses).toHaveLength(128);
      expect(res.header.revision).toBe(2);
      const all = await engine.range({ ...ALL });
      expect(all.count).toBe(128);
      expect(all.kvs.every((k) => k.createRevision === 2 && k.version === 1)).toBe(true);
    });

    test('the limit follows the maxTxnOps option', async () => {
      const engine = await open({ maxTxnOps: 4 });
      await expectEngineError(() => engine.txn({ success: many(5, (i) => put(`s${i}`)) }), 'TOO_MANY_OPS');
      expect((await engine.txn({ success: many(4, (i) => put(`s${i}`)) })).header.revision).toBe(2);
    });

    test('an op with nothing set → "key not found", in either list', async () => {
      const engine = await open();
      await expectEngineError(() => engine.txn({ success: [{}] }), 'KEY_NOT_FOUND');
      // Validation covers the branch that would not run as well.
      await expectEngineError(() => engine.txn({ success: [put('a')], failure: [{}] }), 'KEY_NOT_FOUND');
      await expectEngineError(() => engine.txn({ success: [{ txn: { success: [{}] } }] }), 'KEY_NOT_FOUND');
      expect(await currentRevision(engine)).toBe(1);
    });

    test('an empty key in a compare or any op → "key is not provided", nothing written', async () => {
      const engine = await open();
      const empty = Buffer.alloc(0);
      await expectEngineError(
        () =>
          engine.txn({ compare: [{ key: empty, target: 'VERSION', result: 'EQUAL' }], success: [put('a')] }),
        'KEY_NOT_PROVIDED',
      );
      await expectEngineError(
        () => engine.txn({ success: [put('a'), { put: { key: empty } }] }),
        'KEY_NOT_PROVIDED',
      );
      await expectEngineError(
        () => engine.txn({ success: [put('a'), { range: { key: empty } }] }),
        'KEY_NOT_PROVIDED',
      );
      await expectEngineError(
        () => engine.txn({ success: [put('a'), { deleteRange: { key: empty } }] }),
        'KEY_NOT_PROVIDED',
      );
      await expectEngineError(
        () => engine.txn({ success: [put('a')], failure: [{ put: { key: empty } }] }),
        'KEY_NOT_PROVIDED',
      );
      await expectEngineError(
        () => engine.txn({ success: [put('a'), { txn: { failure: [{ deleteRange: { key: empty } }] } }] }),
        'KEY_NOT_PROVIDED',
      );
      expect(await currentRevision(engine)).toBe(1);
    });

    test('ignore_value / ignore_lease errors inside a txn fail the whole txn', async () => {
      const engine = await open();
      await engine.put({ key: b('a'), value: b('1') });
      await expectEngineError(
        () => engine.txn({ success: [put('b'), { put: { key: b('a'), value: b('x'), ignoreValue: true } }] }),
        'VALUE_PROVIDED',
      );
      await expectEngineError(
        () => engine.txn({ success: [put('b'), { put: { key: b('missing'), ignoreValue: true } }] }),
        'KEY_NOT_FOUND',
      );
      expect(await currentRevision(engine)).toBe(2);
      expect((await engine.range({ key: b('b') })).count).toBe(0);
    });
  });

  describe('pre-apply checks on the chosen path', () => {
    test('a range at a future revision fails the whole txn; nothing written', async () => {
      const engine = await open();
      await engine.put({ key: b('a'), value: b('1') }); // 2
      await expectEngineError(
        () => engine.txn({ success: [put('b'), { range: { key: b('a'), revision: 3 } }] }),
        'FUTURE_REV',
      );
      expect(await currentRevision(engine)).toBe(2);
      expect((await engine.range({ key: b('b') })).count).toBe(0);
      // The current revision is fine.
      const ok = await engine.txn({ success: [{ range: { key: b('a'), revision: 2 } }] });
      expect(ok.responses[0].range?.kvs).toEqual([kv('a', '1', 2, 2, 1)]);
    });

    test('a range at a compacted revision fails the whole txn; nothing written', async () => {
      const engine = await open();
      await engine.put({ key: b('a'), value: b('1') }); // 2
      await engine.put({ key: b('a'), value: b('2') }); // 3
      await engine.compact({ revision: 3 });
      await expectEngineError(
        () => engine.txn({ success: [put('b'), { range: { key: b('a'), revision: 2 } }] }),
        'COMPACTED',
      );
      expect(await currentRevision(engine)).toBe(3);
      expect((await engine.range({ key: b('b') })).count).toBe(0);
    });

    test('a negative range revision is checked as etcd does: against the compaction point (-1 before any)', async () => {
      const engine = await open();
      await engine.put({ key: b('a'), value: b('1') }); // 2
      await engine.put({ key: b('a'), value: b('2') }); // 3
      // -1 is not below "never compacted" (-1): it reads the latest revision.
      const latest = await engine.txn({ success: [{ range: { key: b('a'), revision: -1 } }] });
      expect(latest.responses[0].range?.kvs).toEqual([kv('a', '2', 2, 3, 2)]);
      // -2 is below it, so even an uncompacted store calls it compacted; nothing of the txn is written.
      await expectEngineError(
        () => engine.txn({ success: [put('b'), { range: { key: b('a'), revision: -2 } }] }),
        'COMPACTED',
      );
      expect(await currentRevision(engine)).toBe(3);
      // Once something is compacted every negative revision is below the compaction point.
      await engine.compact({ revision: 2 });
      await expectEngineError(
        () => engine.txn({ success: [{ range: { key: b('a'), revision: -1 } }] }),
        'COMPACTED',
      );
      // Outside a txn a negative revision is a bad argument.
      await expectEngineError(() => engine.range({ key: b('a'), revision: -1 }), 'INVALID_ARGUMENT');
    });

    test('a put with an unknown lease fails the whole txn; nothing written', async () => {
      const engine = await open();
      await expectEngineError(
        () => engine.txn({ success: [put('a'), { put: { key: b('b'), value: b('x'), lease: 4242n } }] }),
        'LEASE_NOT_FOUND',
      );
      expect(await currentRevision(engine)).toBe(1);
      expect((await engine.range({ ...ALL })).count).toBe(0);
      // A nested put with an unknown lease on the chosen path as well.
      await expectEngineError(
        () =>
          engine.txn({ success: [put('a'), { txn: { success: [{ put: { key: b('c'), lease: 4242n } }] } }] }),
        'LEASE_NOT_FOUND',
      );
      expect(await currentRevision(engine)).toBe(1);
    });

    test('only the chosen path is checked', async () => {
      const engine = await open();
      const res = await engine.txn({
        success: [put('a')],
        failure: [{ put: { key: b('b'), lease: 4242n } }, { range: { key: b('a'), revision: 99 } }],
      });
      expect(res.succeeded).toBe(true);
      expect(res.header.revision).toBe(2);
      const nested = await engine.txn({
        success: [
          {
            txn: {
              compare: [cmp('a', 'VERSION', 'EQUAL', 1)],
              success: [put('c')],
              failure: [{ put: { key: b('d'), lease: 4242n } }],
            },
          },
        ],
      });
      expect(nested.responses[0].txn?.succeeded).toBe(true);
      expect(nested.header.revision).toBe(3);
    });
  });

  test('a put with a lease inside a txn attaches it', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 60 });
    await engine.txn({ success: [{ put: { key: b('a'), value: b('1'), lease: id } }, put('b')] });
    expect((await engine.range({ ...ALL })).kvs).toEqual([kv('a', '1', 2, 2, 1, id), kv('b', 'v', 2, 2, 1)]);
    expect((await engine.leaseTimeToLive(id, true)).keys.map(str)).toEqual(['a']);
    // Range with "\0" end inside a txn.
    const res = await engine.txn({ success: [{ range: { key: b('b'), rangeEnd: NUL } }] });
    expect(res.responses[0].range?.kvs).toEqual([kv('b', 'v', 2, 2, 1)]);
  });
});
