/**
 * A linearizability checker: Wing & Gong's search with Lowe's memoisation, the algorithm porcupine implements.
 *
 * A history is a set of operations, each with an invocation time, a response time and what it did. It is
 * linearizable when some total order of its operations (1) respects real time: an operation that returned before
 * another was invoked comes first, and (2) is a legal run of the sequential model. The search walks the history's
 * call/return entries in time order, tentatively linearizing any operation whose call precedes the first pending
 * return, and backtracks when it reaches a return it has not linearized. Lowe's addition remembers every pair
 * (set of linearized operations, model state) it has already expanded: reaching one again cannot lead anywhere new,
 * which turns the exponential worst case into something small histories finish quickly.
 *
 * The model may be nondeterministic (a step can lead to several states: a compare-and-set whose outcome is unknown
 * may or may not have applied). As porcupine does for nondeterministic models, the search runs over *sets* of model
 * states: a step maps each state of the set to its successors and succeeds when the union is not empty.
 *
 * An operation whose outcome is unknown (a timeout, a dropped connection) is given the response time +Infinity:
 * it may be linearized anywhere after its invocation, including after everything else, which is where an
 * operation that never took effect can always go.
 */

/** The sequential specification the history is checked against. */
export interface Model<S, I, O> {
  /** The initial state. */
  init: S;
  /**
   * The states `state` can move to by an operation with this input that answered this output; empty when the
   * operation cannot have answered so in `state`.
   */
  step(state: S, input: I, output: O): S[];
  /** A canonical text of a state: equal states have equal keys (memoisation and de-duplication use it). */
  key(state: S): string;
  /** Human-readable state, for explanations. */
  describeState(state: S): string;
  /** Human-readable operation, for explanations. */
  describeOperation(input: I, output: O): string;
}

/** One operation of a history. */
export interface Operation<I, O> {
  /** Who issued it (for explanations). */
  client: string;
  input: I;
  output: O;
  /** Invocation time (any monotonic clock shared by the whole history). */
  call: number;
  /** Response time; `Infinity` when the outcome is unknown. */
  ret: number;
}

/** Bounds of one check. */
export interface CheckOptions {
  /** Give up (verdict `gave-up`) after this many model steps; default 2,000,000. */
  maxSteps?: number;
}

/** The outcome of checking one history. */
export interface CheckResult<I, O, Op extends Operation<I, O> = Operation<I, O>> {
  verdict: 'linearizable' | 'violation' | 'gave-up';
  /** Model steps taken. */
  steps: number;
  /** The longest linearized prefix found: a full linearization when the verdict is `linearizable`. */
  longest: Op[];
  /** At the end of {@link longest}: the operations that were candidates to come next and none of which fitted. */
  stuck: Op[];
  /** The model states at the end of {@link longest}, described. */
  stuckStates: string[];
}

const DEFAULT_MAX_STEPS = 2_000_000;

interface Entry {
  /** Operation index. */
  id: number;
  /** The return entry of a call entry; undefined on return entries. */
  match?: Entry;
  prev?: Entry;
  next?: Entry;
}

/** Doubly-linked call/return entries in time order, behind a sentinel head. */
function linkEntries(ops: readonly Operation<unknown, unknown>[]): Entry {
  const events: { entry: Entry; time: number; isCall: boolean }[] = [];
  ops.forEach((op, id) => {
    const ret: Entry = { id };
    events.push({ entry: { id, match: ret }, time: op.call, isCall: true });
    events.push({ entry: ret, time: op.ret, isCall: false });
  });
  // Equal times count as overlapping: the call goes first, which allows either order of the two operations.
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall));
  const head: Entry = { id: -1 };
  let last = head;
  for (const { entry } of events) {
    entry.prev = last;
    last.next = entry;
    last = entry;
  }
  return head;
}

/** Take a call entry and its return out of the list. */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  call.next!.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Put back what {@link lift} took out (in the reverse order). */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  call.next!.prev = call;
}

/** A set of model states with its canonical key. */
interface StateSet<S> {
  states: S[];
  key: string;
}

function stateSet<S>(model: Model<S, unknown, unknown>, states: S[]): StateSet<S> {
  const byKey = new Map<string, S>();
  for (const s of states) byKey.set(model.key(s), s);
  const keys = [...byKey.keys()].sort();
  return { states: keys.map((k) => byKey.get(k)!), key: keys.join('\u0001') };
}

/**
 * Check one history (one partition: operations on one key) against the model.
 * Generic in the operation type, so callers get their own operation objects back in `longest` and `stuck`.
 */
export function checkOperations<S, I, O, Op extends Operation<I, O>>(
  model: Model<S, I, O>,
  ops: readonly Op[],
  options: CheckOptions = {},
): CheckResult<I, O, Op> {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const head = linkEntries(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const cache = new Set<string>();
  const calls: { entry: Entry; state: StateSet<S> }[] = [];
  let state = stateSet(model, [model.init]);
  let steps = 0;
  let longest: number[] = [];
  let stuck: number[] = [];
  let stuckStates: S[] = state.states;
  let deepest = -1;

  // Keep the deepest dead end: the longest prefix, and the candidates none of which could follow it.
  const remember = (): void => {
    if (calls.length <= deepest) return;
    deepest = calls.length;
    longest = calls.map((c) => c.entry.id);
    stuck = [];
    // The candidates: every call before the first return still in the list.
    for (let e = head.next; e && e.match; e = e.next) stuck.push(e.id);
    stuckStates = state.states;
  };
  const result = (verdict: CheckResult<I, O, Op>['verdict']): CheckResult<I, O, Op> => ({
    verdict,
    steps,
    longest: longest.map((id) => ops[id]!),
    stuck: stuck.map((id) => ops[id]!),
    stuckStates: stuckStates.map((s) => model.describeState(s)),
  });

  let entry = head.next;
  while (head.next) {
    if (entry!.match) {
      const op = ops[entry!.id]!;
      const next: S[] = [];
      for (const s of state.states) next.push(...model.step(s, op.input, op.output));
      steps += state.states.length;
      if (steps > maxSteps) return result('gave-up');
      let advanced = false;
      if (next.length > 0) {
        const nextSet = stateSet(model, next);
        const word = entry!.id >>> 5;
        const bit = 1 << (entry!.id & 31);
        linearized[word] |= bit;
        const memo = `${linearized.join(',')}|${nextSet.key}`;
        if (!cache.has(memo)) {
          cache.add(memo);
          calls.push({ entry: entry!, state });
          state = nextSet;
          lift(entry!);
          entry = head.next;
          advanced = true;
        } else {
          linearized[word] &= ~bit;
        }
      }
      if (!advanced) entry = entry!.next;
    } else {
      // A return whose call is not linearized yet: what came before cannot be extended; backtrack.
      remember();
      const top = calls.pop();
      if (!top) return result('violation');
      state = top.state;
      linearized[top.entry.id >>> 5] &= ~(1 << (top.entry.id & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  longest = calls.map((c) => c.entry.id);
  stuck = [];
  stuckStates = state.states;
  return result('linearizable');
}
