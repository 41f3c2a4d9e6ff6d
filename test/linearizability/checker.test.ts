/**
 * The checker on hand-written histories (both verdicts), and on histories simulated from a real atomic register
 * with random overlaps: those are linearizable by construction and must be accepted, and each with one stale read
 * spliced in must be rejected.
 */
import { mulberry32 } from '../support/seeded-random';
import { checkOperations } from './checker';
import { staleReadInjector } from './stale-read';
import { checkHistory, formatViolation, type RecordedOp } from './history';
import {
  registerModel,
  type Condition,
  type Observed,
  type RegisterInput,
  type RegisterOutput,
} from './register-model';

let ids = 0;
/** An operation on key `k` (or `key`) from `call` to `ret` (Infinity: unknown outcome). */
function op(
  client: string,
  call: number,
  ret: number,
  input: RegisterInput,
  output: RegisterOutput,
  key = 'k',
): RecordedOp {
  return { id: ids++, key, client, api: 'test', call, ret, answered: ret, input, output };
}

const absent: Observed = { found: false };
const seen = (value: string, rev?: number): Observed => ({ found: true, value, rev });
const read = (o: Observed): [RegisterInput, RegisterOutput] => [
  { op: 'read' },
  { status: 'read', observed: o },
];
const put = (
  value: string,
  rev?: number,
  cond?: Condition,
  prev?: Observed,
): [RegisterInput, RegisterOutput] => [
  { op: 'put', value, cond },
  { status: 'ok', rev, prev },
];
const failedPut = (value: string, cond: Condition, current?: Observed): [RegisterInput, RegisterOutput] => [
  { op: 'put', value, cond },
  { status: 'failed', current },
];
const unknownPut = (value: string, cond?: Condition): [RegisterInput, RegisterOutput] => [
  { op: 'put', value, cond },
  { status: 'unknown', error: 'timeout' },
];
const del = (cond?: Condition): [RegisterInput, RegisterOutput] => [{ op: 'delete', cond }, { status: 'ok' }];
const rev = (n: number): Condition => ({ kind: 'rev', rev: n });

function verdict(ops: RecordedOp[]): string {
  return checkOperations(registerModel, ops).verdict;
}

describe('hand-written histories', () => {
  test('sequential writes, reads and a compare-and-set: linearizable', () => {
    const h = [
      op('a', 0, 1, ...put('x', 5)),
      op('b', 2, 3, ...read(seen('x', 5))),
      op('a', 4, 5, ...put('y', undefined, rev(5))),
      op('b', 6, 7, ...read(seen('y', 9))),
      op('a', 8, 9, ...del()),
      op('b', 10, 11, ...read(absent)),
    ];
    expect(verdict(h)).toBe('linearizable');
  });

  test('a read of an overwritten value after the overwrite returned: violation, explained', () => {
    const h = [
      op('a', 0, 1, ...put('x')),
      op('b', 2, 3, ...read(seen('x', 4))),
      op('a', 4, 5, ...put('y')),
      op('c', 6, 7, ...read(seen('y'))),
      op('b', 8, 9, ...read(seen('x', 4))),
    ];
    expect(verdict(h)).toBe('violation');
    const res = checkHistory(h);
    expect(res.violations.map((v) => v.key)).toEqual(['k']);
    const explained = res.violations[0]!.explanation!.ops.map((o) => o.op.id);
    // The reads of x at 2–3 and of y are not needed to prove it: x was written, then y, then x was read.
    expect(explained).toEqual([h[0]!.id, h[2]!.id, h[4]!.id]);
    const text = formatViolation(res.violations[0]!, 0).join('\n');
    expect(text).toContain('key k: not linearizable');
    expect(text).toContain(`#${h[4]!.id} b test [8.0 – 9.0 ms] read → x @ 4`);
  });

  test('a value seen, then the key seen absent while the write is still running: violation', () => {
    expect(
      verdict([
        op('a', 0, 10, ...put('x')),
        op('b', 1, 2, ...read(seen('x'))),
        op('b', 3, 4, ...read(absent)),
      ]),
    ).toBe('violation');
    // The other way round is fine: the write takes effect between the reads.
    expect(
      verdict([
        op('a', 0, 10, ...put('x')),
        op('b', 1, 2, ...read(absent)),
        op('b', 3, 4, ...read(seen('x'))),
      ]),
    ).toBe('linearizable');
  });

  test('revisions: a value at two revisions, or a write below the revision seen, is a violation', () => {
    expect(verdict([op('a', 0, 1, ...put('x', 5)), op('b', 2, 3, ...read(seen('x', 6)))])).toBe('violation');
    // A Dapr save carries no revision: later seen at any revision above the previous write's.
    expect(
      verdict([
        op('a', 0, 1, ...put('x', 5)),
        op('a', 2, 3, ...put('y')),
        op('b', 4, 5, ...read(seen('y', 4))),
      ]),
    ).toBe('violation');
    const ok = [
      op('a', 0, 1, ...put('x', 5)),
      op('a', 2, 3, ...put('y')),
      op('b', 4, 5, ...read(seen('y', 9))),
    ];
    expect(verdict(ok)).toBe('linearizable');
    // Once y is known at 9, a later write at 8 cannot be.
    expect(verdict([...ok, op('c', 6, 7, ...put('z', 8))])).toBe('violation');
    expect(verdict([...ok, op('c', 6, 7, ...put('z', 10))])).toBe('linearizable');
    // A delete takes a revision too: recreated after it, the key's revision is at least two above.
    const recreated = [op('a', 0, 1, ...put('x', 5)), op('a', 2, 3, ...del()), op('a', 4, 5, ...put('y'))];
    expect(verdict([...recreated, op('b', 6, 7, ...read(seen('y', 6)))])).toBe('violation');
    expect(verdict([...recreated, op('b', 6, 7, ...read(seen('y', 7)))])).toBe('linearizable');
  });

  test('compare-and-set: two successes on one etag is a lost update', () => {
    const base = [op('a', 0, 1, ...put('x')), op('a', 2, 3, ...read(seen('x', 7)))];
    expect(
      verdict([
        ...base,
        op('b', 4, 6, ...put('y', undefined, rev(7))),
        op('c', 4, 6, ...put('z', undefined, rev(7))),
      ]),
    ).toBe('violation');
    expect(
      verdict([
        ...base,
        op('b', 4, 6, ...put('y', undefined, rev(7))),
        op('c', 4, 6, ...failedPut('z', rev(7))),
      ]),
    ).toBe('linearizable');
    // A failure that shows the current value must show a possible one.
    expect(verdict([...base, op('c', 4, 6, ...failedPut('z', rev(6), seen('x', 7)))])).toBe('linearizable');
    expect(verdict([...base, op('c', 4, 6, ...failedPut('z', rev(6), seen('q', 7)))])).toBe('violation');
    // An etag that matches the key's revision cannot fail.
    expect(verdict([...base, op('c', 4, 6, ...failedPut('z', rev(7)))])).toBe('violation');
  });

  test('compare on a revision nobody saw: the symbolic revision may or may not be the compared one', () => {
    const h = [op('a', 0, 1, ...put('x', 3)), op('a', 2, 3, ...put('y'))];
    // y's revision is some r ≥ 4; a compare on 10 may succeed (r = 10) ...
    const won = [...h, op('b', 4, 5, ...put('z', 11, rev(10)))];
    expect(verdict(won)).toBe('linearizable');
    // ... but then y was at 10 and cannot be seen at 12.
    expect(verdict([...won.slice(0, 2), op('c', 4, 5, ...read(seen('y', 12))), won[2]!])).toBe('violation');
    // ... or fail (r ≠ 10), after which y can be seen at 12.
    expect(
      verdict([...h, op('b', 4, 5, ...failedPut('z', rev(10))), op('c', 6, 7, ...read(seen('y', 12)))]),
    ).toBe('linearizable');
    // A compare on a revision below the least possible one always fails.
    expect(verdict([...h, op('b', 4, 5, ...put('z', undefined, rev(3)))])).toBe('violation');
  });

  test('first-write: only one of two concurrent creates can win', () => {
    const absentCond: Condition = { kind: 'absent' };
    expect(
      verdict([
        op('a', 0, 2, ...put('x', undefined, absentCond)),
        op('b', 1, 3, ...put('y', undefined, absentCond)),
      ]),
    ).toBe('violation');
    expect(
      verdict([
        op('a', 0, 2, ...put('x', undefined, absentCond)),
        op('b', 1, 3, ...failedPut('y', absentCond)),
      ]),
    ).toBe('linearizable');
    // etcd's value compare is false on a missing key.
    expect(verdict([op('a', 0, 1, ...put('x', undefined, { kind: 'value', value: '' }))])).toBe('violation');
  });

  test('etcd prev_kv: two concurrent puts cannot both have replaced the same value', () => {
    const h = [op('a', 0, 1, ...put('x', 2)), op('b', 2, 4, ...put('y', 3, undefined, seen('x', 2)))];
    expect(verdict([...h, op('c', 2, 4, ...put('z', 4, undefined, seen('x', 2)))])).toBe('violation');
    expect(verdict([...h, op('c', 2, 4, ...put('z', 4, undefined, seen('y', 3)))])).toBe('linearizable');
  });

  test('unknown outcomes: a timed-out write may or may not have taken effect', () => {
    const h = [op('a', 0, Infinity, ...unknownPut('x'))];
    expect(verdict([...h, op('b', 5, 6, ...read(absent))])).toBe('linearizable');
    expect(verdict([...h, op('b', 5, 6, ...read(seen('x')))])).toBe('linearizable');
    // Once seen, it has taken effect for good.
    expect(verdict([...h, op('b', 5, 6, ...read(seen('x'))), op('b', 7, 8, ...read(absent))])).toBe(
      'violation',
    );
    // A read that failed says nothing (dropped before checking).
    const r = checkHistory([...h, op('b', 5, 6, { op: 'read' }, { status: 'unknown', error: 'timeout' })]);
    expect(r.violations).toEqual([]);
    expect(r.keys[0]!.ops).toBe(1);
    // A conditional write with an unknown outcome on an unseen revision: both outcomes stay possible.
    const cas = [op('a', 0, 1, ...put('x')), op('b', 2, Infinity, ...unknownPut('y', rev(8)))];
    expect(verdict([...cas, op('c', 3, 4, ...read(seen('x', 9)))])).toBe('linearizable');
    expect(verdict([...cas, op('c', 3, 4, ...read(seen('y', 9)))])).toBe('linearizable');
    expect(verdict([...cas, op('c', 3, 4, ...read(seen('y', 8)))])).toBe('violation');
  });

  test('keys are checked apart; the step bound gives up instead of running on', () => {
    const res = checkHistory([
      op('a', 0, 1, ...put('x'), 'k1'),
      op('a', 0, 1, ...put('x'), 'k2'),
      op('b', 2, 3, ...read(seen('x')), 'k1'),
      op('b', 2, 3, ...read(absent), 'k2'),
    ]);
    expect(res.keys.map((k) => [k.key, k.verdict])).toEqual([
      ['k1', 'linearizable'],
      ['k2', 'violation'],
    ]);
    // Many overlapping writes and no way to order the last read: the search is bounded.
    const wide = Array.from({ length: 14 }, (_, i) => op(`c${i}`, 0, 100, ...put(`v${i}`)));
    const gaveUp = checkOperations(registerModel, [...wide, op('r', 101, 102, ...read(seen('nowhere')))], {
      maxSteps: 500,
    });
    expect(gaveUp.verdict).toBe('gave-up');
  });
});

/**
 * Simulated histories: clients run overlapping operations on an atomic register store (one revision counter for all
 * keys, as statecar's engine); each operation takes effect at a random instant inside its interval, so the history
 * is linearizable by construction.
 */
function simulate(seed: number, clients: number, opsPerClient: number, keys: number): RecordedOp[] {
  const r = mulberry32(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const planned: { op: RecordedOp; at: number; withRev: boolean }[] = [];
  let n = 0;
  for (let c = 0; c < clients; c++) {
    let t = r() * 3;
    for (let i = 0; i < opsPerClient; i++) {
      const call = t;
      const ret = call + 0.5 + r() * 6;
      const kind = int(6);
      const input: RegisterInput =
        kind < 2
          ? { op: 'read' }
          : kind < 4
            ? { op: 'put', value: `c${c}-${i}` }
            : kind === 4
              ? { op: 'put', value: `c${c}-${i}`, cond: rev(1 + int(n + 2)) }
              : { op: 'delete' };
      const timedOut = input.op !== 'read' && int(40) === 0;
      planned.push({
        op: {
          id: n++,
          key: `k${int(keys)}`,
          client: `c${c}`,
          api: 'sim',
          call,
          ret: timedOut ? Infinity : ret,
          answered: ret,
          input,
          output: { status: 'unknown', error: 'timeout' },
        },
        at: call + r() * (ret - call),
        withRev: c % 2 === 0,
      });
      t = ret + r() * 2;
    }
  }
  const store = new Map<string, { value: string; rev: number }>();
  let revision = 1;
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    const { op, withRev } = p;
    const cur = store.get(op.key);
    const observed: Observed = cur ? { found: true, value: cur.value, rev: cur.rev } : { found: false };
    let output: RegisterOutput;
    if (op.input.op === 'read') output = { status: 'read', observed };
    else if (op.input.cond?.kind === 'rev' && cur?.rev !== op.input.cond.rev) output = { status: 'failed' };
    else if (op.input.op === 'put') {
      store.set(op.key, { value: op.input.value, rev: ++revision });
      output = { status: 'ok', rev: withRev ? revision : undefined };
    } else {
      if (cur) {
        store.delete(op.key);
        revision++;
      }
      output = { status: 'ok' };
    }
    if (op.ret !== Infinity) op.output = output;
  }
  return planned.map((p) => p.op);
}

/** Replace the first read that can be made stale (see stale-read.ts) in a finished history. */
function injectStaleRead(ops: RecordedOp[]): RecordedOp | undefined {
  const inject = staleReadInjector(0);
  const sorted = [...ops].sort((a, b) => a.call - b.call);
  for (const op of sorted) {
    const stale = inject.tamper(op, sorted);
    if (stale) {
      ops[ops.indexOf(op)] = stale;
      return stale;
    }
  }
  return undefined;
}

describe('simulated histories', () => {
  test.each([1, 2, 3, 4, 5])(
    'seed %i: linearizable by construction; with one stale read injected, not',
    (seed) => {
      const ops = simulate(seed, 6, 40, 3);
      const ok = checkHistory(ops);
      expect(ok.gaveUp).toEqual([]);
      expect(ok.violations.map((v) => formatViolation(v, 0).join('\n'))).toEqual([]);

      const stale = injectStaleRead(ops);
      expect(stale).toBeDefined();
      const bad = checkHistory(ops);
      expect(bad.violations.map((v) => v.key)).toEqual([stale!.key]);
      const explanation = bad.violations[0]!.explanation!;
      expect(explanation.ops.map((o) => o.op.id)).toContain(stale!.id);
      expect(explanation.ops.length).toBeLessThanOrEqual(6);
    },
  );
});
