/**
 * The self-test's fault: one stale read. A read is answered with a value of its key that was seen before some write
 * to that key began, where that write returned before the read was sent. No order can explain such an answer (values
 * are unique, so the value's write came before the overwrite, which came before the read), so a checker that
 * accepts it is broken.
 */
import type { RecordedOp } from './history';
import type { Observed } from './register-model';

/** The stale answer `read` can be given, from operations recorded before it; undefined when there is none yet. */
export function staleObservation(read: RecordedOp, earlier: readonly RecordedOp[]): Observed | undefined {
  if (read.input.op !== 'read' || read.output.status !== 'read') return undefined;
  const actual = JSON.stringify(read.output.observed);
  const sameKey = earlier.filter((o) => o.key === read.key && o.ret < read.call);
  for (const w of sameKey) {
    if (w.input.op !== 'put' || w.output.status !== 'ok') continue;
    for (const o of sameKey) {
      if (o.output.status !== 'read' || !o.output.observed.found || o.ret >= w.call) continue;
      if (JSON.stringify(o.output.observed) !== actual) return o.output.observed;
    }
  }
  return undefined;
}

/** A recorder hook: replaces an operation's recorded outcome (or returns undefined to keep it). */
export type Tamper = (op: RecordedOp, earlier: readonly RecordedOp[]) => RecordedOp | undefined;

/**
 * A {@link Tamper} that makes one read stale, the first chance it gets once `after` operations are recorded.
 * `injected()` says which operation it changed.
 */
export function staleReadInjector(after: number): { tamper: Tamper; injected(): RecordedOp | undefined } {
  let done: RecordedOp | undefined;
  return {
    tamper(op, earlier) {
      if (done || earlier.length < after) return undefined;
      const stale = staleObservation(op, earlier);
      if (!stale) return undefined;
      done = { ...op, output: { status: 'read', observed: stale }, tampered: 'stale read injected' };
      return done;
    },
    injected: () => done,
  };
}
