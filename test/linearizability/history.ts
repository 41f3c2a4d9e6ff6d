/**
 * Recorded histories of many keys: split by key (a register per key, checked separately, as linearizability is
 * compositional), checked, and on a violation shrunk to a few operations that cannot be ordered.
 */
import { checkOperations, type CheckResult, type Operation } from './checker';
import {
  observations,
  onlyObserves,
  registerModel,
  type RegisterInput,
  type RegisterOutput,
} from './register-model';

/** One operation as the recorder saw it. */
export interface RecordedOp extends Operation<RegisterInput, RegisterOutput> {
  /** Position in the recorded history. */
  id: number;
  /** The key as the Dapr API names it (the etcd API's key is the Dapr key with the app's prefix). */
  key: string;
  /** The API call, e.g. `dapr-http save`, `etcd Txn`. */
  api: string;
  /** When the answer came; for an unknown outcome `ret` is Infinity but this is the time the error came. */
  answered: number;
  /** Set on operations whose outcome a test wrapper replaced (the self-test's stale read). */
  tampered?: string;
}

/** Bounds of {@link checkHistory}. */
export interface HistoryCheckOptions {
  /** Model steps allowed per key; default 2,000,000 (see checker.ts). */
  maxStepsPerKey?: number;
  /** Model steps allowed for shrinking one violation; default 3,000,000. */
  maxExplainSteps?: number;
}

/** The verdict on one key. */
export interface KeyVerdict {
  key: string;
  /** Operations checked (reads whose outcome is unknown are left out: they constrain nothing). */
  ops: number;
  verdict: CheckResult<RegisterInput, RegisterOutput>['verdict'];
  steps: number;
  /** On a violation: the few operations that cannot be ordered, and where the search got stuck on them. */
  explanation?: Explanation;
}

/** A violation shrunk to the operations that cannot be ordered. */
export interface Explanation {
  /** The operations, in invocation order; `cut` marks those whose answer lies after the shrunk history's end. */
  ops: { op: RecordedOp; cut: boolean }[];
  /** The longest order of them the model accepts, and the candidates none of which can follow it. */
  longest: RecordedOp[];
  stuck: RecordedOp[];
  stuckStates: string[];
}

/** The verdict on a whole history. */
export interface HistoryCheck {
  keys: KeyVerdict[];
  violations: KeyVerdict[];
  gaveUp: KeyVerdict[];
  steps: number;
}

const DEFAULT_EXPLAIN_STEPS = 3_000_000;

/** The history as the checker takes it: unknown reads dropped, unknown writes open until the end. */
function prepared(ops: readonly RecordedOp[]): RecordedOp[] {
  return ops
    .filter((op) => !(op.input.op === 'read' && op.output.status === 'unknown'))
    .map((op) => (op.output.status === 'unknown' && op.ret !== Infinity ? { ...op, ret: Infinity } : op));
}

/** Group operations by key, keeping their order. */
export function byKey(ops: readonly RecordedOp[]): Map<string, RecordedOp[]> {
  const keys = new Map<string, RecordedOp[]>();
  for (const op of ops) {
    let list = keys.get(op.key);
    if (!list) keys.set(op.key, (list = []));
    list.push(op);
  }
  return keys;
}

/** Check every key's history; explain each violation. */
export function checkHistory(ops: readonly RecordedOp[], options: HistoryCheckOptions = {}): HistoryCheck {
  const keys: KeyVerdict[] = [];
  let steps = 0;
  for (const [key, keyOps] of byKey(prepared(ops))) {
    const res = checkOperations(registerModel, keyOps, { maxSteps: options.maxStepsPerKey });
    steps += res.steps;
    const verdict: KeyVerdict = { key, ops: keyOps.length, verdict: res.verdict, steps: res.steps };
    if (res.verdict === 'violation') {
      verdict.explanation = explain(keyOps, options.maxExplainSteps ?? DEFAULT_EXPLAIN_STEPS);
    }
    keys.push(verdict);
  }
  return {
    keys,
    violations: keys.filter((k) => k.verdict === 'violation'),
    gaveUp: keys.filter((k) => k.verdict === 'gave-up'),
    steps,
  };
}

/**
 * Shrink a non-linearizable history of one key to a few operations that still cannot be ordered. Every reduction
 * used keeps a linearizable history linearizable, so what is left is itself a proof of the violation:
 * - cutting at a time: operations invoked later are dropped, and those still running then get an unknown outcome
 *   (reads among them are dropped);
 * - dropping an operation that only observes (a read, a write whose condition failed);
 * - dropping a write nothing left depends on: of the operations that can come after it (those that returned after
 *   it was invoked), none is conditional and none saw its value (for a delete: saw the key absent), so whatever
 *   follows it overwrites its state without looking at it; likewise a write together with the writes that saw it.
 */
export function explain(ops: readonly RecordedOp[], maxSteps = DEFAULT_EXPLAIN_STEPS): Explanation {
  let budget = maxSteps;
  const violates = (h: readonly RecordedOp[]): boolean => {
    if (budget <= 0) return false;
    const res = checkOperations(registerModel, h, { maxSteps: Math.min(budget, 500_000) });
    budget -= res.steps;
    return res.verdict === 'violation';
  };

  // Cut at the earliest answer time at which the history already cannot be ordered (monotone, so bisect).
  const times = [...new Set(ops.map((op) => op.ret).filter((t) => t !== Infinity))].sort((a, b) => a - b);
  const cutAt = (t: number): RecordedOp[] =>
    prepared(
      ops
        .filter((op) => op.call <= t)
        .map((op) =>
          op.ret > t && op.ret !== Infinity
            ? { ...op, output: { status: 'unknown', error: 'answered after the cut' }, ret: Infinity }
            : op,
        ),
    );
  let [lo, hi] = [0, times.length - 1];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (violates(cutAt(times[mid]!))) hi = mid;
    else lo = mid + 1;
  }
  let kept = times.length > 0 && violates(cutAt(times[lo]!)) ? cutAt(times[lo]!) : [...ops];

  // Drop what the violation does not need: observers first (that frees writes), then writes, latest first (a write
  // is held by the operations that can come after it, so peeling from the end frees the earlier ones). A write goes
  // together with the writes that saw it (an etcd put whose prev_kv is its value, a Txn comparing its value), which
  // would otherwise hold each other.
  const sees = (o: RecordedOp, w: RecordedOp): boolean => {
    const input = w.input;
    const cond = o.input.op === 'read' ? undefined : o.input.cond;
    if (input.op === 'put') {
      return (
        observations(o.output).some((s) => s.found && s.value === input.value) ||
        (cond?.kind === 'value' && cond.value === input.value)
      );
    }
    return observations(o.output).some((s) => !s.found) || cond?.kind === 'absent';
  };
  const group = (w: RecordedOp): Set<RecordedOp> => {
    const members = new Set([w]);
    for (let grew = true; grew;) {
      grew = false;
      for (const o of kept) {
        if (!members.has(o) && !onlyObserves(o.input, o.output) && [...members].some((m) => sees(o, m))) {
          members.add(o);
          grew = true;
        }
      }
    }
    return members;
  };
  // Sound to drop when every operation left that can come after a member is unconditional and saw no member.
  const droppable = (members: Set<RecordedOp>): boolean =>
    [...members].every(
      (m) =>
        onlyObserves(m.input, m.output) ||
        kept.every(
          (o) =>
            members.has(o) || o.ret < m.call || (!(o.input.op !== 'read' && o.input.cond) && !sees(o, m)),
        ),
    );
  for (let pass = 0, changed = true; changed && pass < 4; pass++) {
    changed = false;
    const order = [
      ...kept.filter((op) => onlyObserves(op.input, op.output)),
      ...kept.filter((op) => !onlyObserves(op.input, op.output)).sort((a, b) => b.call - a.call),
    ];
    for (const op of order) {
      if (!kept.includes(op)) continue;
      const members = onlyObserves(op.input, op.output) ? new Set([op]) : group(op);
      if (!droppable(members)) continue;
      const without = kept.filter((o) => !members.has(o));
      if (violates(without)) {
        kept = without;
        changed = true;
      }
    }
  }

  const res = checkOperations(registerModel, kept, { maxSteps: 500_000 });
  const original = new Map(ops.map((op) => [op.id, op]));
  const orig = (op: RecordedOp): RecordedOp => original.get(op.id) ?? op;
  return {
    ops: [...kept]
      .sort((a, b) => a.call - b.call)
      .map((op) => ({ op: orig(op), cut: op.output !== orig(op).output })),
    longest: res.longest.map(orig),
    stuck: res.stuck.map(orig),
    stuckStates: res.stuckStates,
  };
}

/** One operation as a line: client, API, times relative to `t0` (ms), what it did. */
export function describeOp(op: RecordedOp, t0: number): string {
  const end = op.output.status === 'unknown' ? `${(op.answered - t0).toFixed(1)}?` : (op.ret - t0).toFixed(1);
  const what = registerModel.describeOperation(op.input, op.output);
  return `#${op.id} ${op.client} ${op.api} [${(op.call - t0).toFixed(1)} – ${end} ms] ${what}${
    op.tampered ? `   ← ${op.tampered}` : ''
  }`;
}

/** The explanation of a violation as text lines. */
export function formatViolation(v: KeyVerdict, t0: number): string[] {
  const e = v.explanation;
  if (!e) return [`key ${v.key}: not linearizable (${v.ops} operations)`];
  const lines = [
    `key ${v.key}: not linearizable; of its ${v.ops} operations these ${e.ops.length} cannot be ordered:`,
    ...e.ops.map(({ op, cut }) => `    ${describeOp(op, t0)}${cut ? '   (answer after the cut)' : ''}`),
  ];
  const last = e.longest[e.longest.length - 1];
  lines.push(
    last
      ? `  the longest order that fits ends with #${last.id} (${e.longest.length} ops), in state ${e.stuckStates.join(' | ')}; none of #${e.stuck.map((o) => o.id).join(', #')} can come next`
      : `  no operation can come first from the initial state; candidates #${e.stuck.map((o) => o.id).join(', #')}`,
  );
  return lines;
}
