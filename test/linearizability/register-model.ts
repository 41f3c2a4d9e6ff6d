/**
 * The sequential model of one statecar key: a compare-and-set register whose version is the key's mod revision.
 *
 * A key is absent, or holds a value written at some revision. Dapr's etag is that revision as text, and etcd's
 * `mod_revision` is that revision, so both APIs' conditional writes are compares on one number. Revisions come from
 * one store-wide counter, so seen from a single key they are not consecutive; what the model relies on is only that
 * every write to a key gets a revision above the key's previous one (a delete too: a key created again after a
 * delete gets a revision above the delete's).
 *
 * Not every answer carries the new revision: an etcd Put or Txn does (the response header's revision), a Dapr save
 * or delete does not. The model keeps such a revision symbolic — "some revision ≥ lo" — and binds it when a later
 * read (a Dapr etag, an etcd mod_revision) or a compare shows it.
 */
import type { Model } from './checker';

/** What a read saw: nothing, or a value (the stored bytes as text) and, when the API says, its revision. */
export type Observed = { found: false } | { found: true; value: string; rev?: number };

/** The condition of a conditional write. */
export type Condition =
  /** The key exists at this mod revision (a Dapr etag, an etcd `mod_revision` compare). */
  | { kind: 'rev'; rev: number }
  /** The key exists with this value (an etcd `value` compare; on a missing key it is false, as in etcd). */
  | { kind: 'value'; value: string }
  /** The key does not exist (Dapr first-write without an etag, an etcd `mod_revision == 0` compare). */
  | { kind: 'absent' };

/** What an operation asked for. */
export type RegisterInput =
  | { op: 'read' }
  /** Write `value`; `cond` makes it conditional. */
  | { op: 'put'; value: string; cond?: Condition }
  | { op: 'delete'; cond?: Condition };

/** How an operation answered. */
export type RegisterOutput =
  /** Timed out or failed in a way that does not say whether it took effect. */
  | { status: 'unknown'; error: string }
  | { status: 'read'; observed: Observed }
  /** Took effect; `rev` is the revision it wrote when the API says; `prev` what it replaced (etcd `prev_kv`). */
  | { status: 'ok'; rev?: number; prev?: Observed }
  /** Definitely did not take effect: its condition was false; `current` is what the API showed instead. */
  | { status: 'failed'; current?: Observed };

/**
 * A state of the register. `known: false` means the revision is symbolic: some revision ≥ `rev`. `next` (absent
 * keys) is the least revision the key's next write can get.
 */
export type RegisterState =
  { present: false; next: number } | { present: true; value: string; rev: number; known: boolean };

/** The least revision the key's next write (put or delete) can get. */
function nextRevision(s: RegisterState): number {
  return s.present ? s.rev + 1 : s.next;
}

/** `s` refined by having been seen as `o`, or undefined when `s` cannot be seen so. */
function observe(s: RegisterState, o: Observed): RegisterState | undefined {
  if (!o.found) return s.present ? undefined : s;
  if (!s.present || s.value !== o.value) return undefined;
  if (o.rev === undefined) return s;
  if (s.known) return s.rev === o.rev ? s : undefined;
  return o.rev >= s.rev ? { ...s, rev: o.rev, known: true } : undefined;
}

/** Every way `cond` can evaluate in `s`, each with `s` refined by that outcome. */
function evaluate(s: RegisterState, cond: Condition | undefined): { holds: boolean; state: RegisterState }[] {
  if (!cond) return [{ holds: true, state: s }];
  switch (cond.kind) {
    case 'absent':
      return [{ holds: !s.present, state: s }];
    case 'value':
      return [{ holds: s.present && s.value === cond.value, state: s }];
    case 'rev': {
      if (!s.present) return [{ holds: false, state: s }];
      if (s.known || cond.rev < s.rev) return [{ holds: s.known && s.rev === cond.rev, state: s }];
      // A symbolic revision may or may not be the compared one.
      return [
        { holds: true, state: { ...s, rev: cond.rev, known: true } },
        { holds: false, state: s },
      ];
    }
  }
}

/** The state after the write of `input` took effect in `s`; `rev` is its revision when known. */
function apply(s: RegisterState, input: RegisterInput, rev: number | undefined): RegisterState | undefined {
  const least = nextRevision(s);
  if (rev !== undefined && rev < least) return undefined;
  if (input.op === 'put')
    return { present: true, value: input.value, rev: rev ?? least, known: rev !== undefined };
  // Deleting a missing key writes nothing (etcd does not count a revision for it).
  if (!s.present) return s;
  return { present: false, next: (rev ?? least) + 1 };
}

function step(s: RegisterState, input: RegisterInput, output: RegisterOutput): RegisterState[] {
  if (input.op === 'read') {
    if (output.status !== 'read') return output.status === 'unknown' ? [s] : [];
    const seen = observe(s, output.observed);
    return seen ? [seen] : [];
  }
  const out: RegisterState[] = [];
  const cond = input.cond;
  for (const { holds, state } of evaluate(s, cond)) {
    switch (output.status) {
      case 'unknown': {
        // It may have applied (if its condition held) or not; "not" at the very end is covered by its infinite
        // response time, but a conditional write whose condition failed here also did nothing here.
        const after = holds ? apply(state, input, undefined) : state;
        if (after) out.push(after);
        break;
      }
      case 'ok': {
        if (!holds) break;
        const seen = output.prev ? observe(state, output.prev) : state;
        const after = seen && apply(seen, input, output.rev);
        if (after) out.push(after);
        break;
      }
      case 'failed': {
        if (holds) break;
        const seen = output.current ? observe(state, output.current) : state;
        if (seen) out.push(seen);
        break;
      }
      case 'read':
        break;
    }
  }
  return out;
}

function describeState(s: RegisterState): string {
  if (!s.present) return `absent (next revision ≥ ${s.next})`;
  return `${s.value} @ ${s.known ? s.rev : `≥${s.rev}`}`;
}

function describeObserved(o: Observed): string {
  if (!o.found) return 'absent';
  return o.rev === undefined ? o.value : `${o.value} @ ${o.rev}`;
}

function describeCondition(c: Condition | undefined): string {
  if (!c) return '';
  switch (c.kind) {
    case 'rev':
      return ` if rev = ${c.rev}`;
    case 'value':
      return ` if value = ${c.value}`;
    case 'absent':
      return ' if absent';
  }
}

function describeOperation(input: RegisterInput, output: RegisterOutput): string {
  const what =
    input.op === 'read'
      ? 'read'
      : input.op === 'put'
        ? `put ${input.value}${describeCondition(input.cond)}`
        : `delete${describeCondition(input.cond)}`;
  switch (output.status) {
    case 'unknown':
      return `${what} → unknown (${output.error})`;
    case 'read':
      return `${what} → ${describeObserved(output.observed)}`;
    case 'ok':
      return `${what} → ok${output.rev !== undefined ? ` @ ${output.rev}` : ''}${
        output.prev ? ` (was ${describeObserved(output.prev)})` : ''
      }`;
    case 'failed':
      return `${what} → condition false${output.current ? ` (is ${describeObserved(output.current)})` : ''}`;
  }
}

/** The register model of one key, starting absent. */
export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  init: { present: false, next: 1 },
  step,
  key: (s) => (s.present ? `p${s.known ? '=' : '>'}${s.rev}:${s.value}` : `a${s.next}`),
  describeState,
  describeOperation,
};

/**
 * Whether an operation only looks: it leaves the register as it was (a read, a write whose condition failed).
 * Dropping such an operation from a linearizable history leaves it linearizable, which the explanation relies on.
 */
export function onlyObserves(input: RegisterInput, output: RegisterOutput): boolean {
  return input.op === 'read' || output.status === 'failed';
}

/** What an operation requires to have been written before it: a value it saw, or the key's absence. */
export function observations(output: RegisterOutput): Observed[] {
  switch (output.status) {
    case 'read':
      return [output.observed];
    case 'ok':
      return output.prev ? [output.prev] : [];
    case 'failed':
      return output.current ? [output.current] : [];
    case 'unknown':
      return [];
  }
}
