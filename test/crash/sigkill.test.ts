/**
 * Crash test (issue 2, item 7): a child process runs the durable embedded engine under 32 concurrent writers and is
 * SIGKILLed at a random moment; after each kill the store is reopened and must hold every acknowledged write, with
 * revisions continuing after the restored one and never reused. Repeated for several rounds on the same data
 * directory, so later rounds also restore stores that earlier kills left behind.
 *
 * What a SIGKILL can and cannot show: the process dies with writes in flight (some committed, some not), so an
 * acknowledgement given before its write is committed, a revision handed out twice, or a restore that loses or
 * invents history shows up. The OS page cache survives a process kill, so an acknowledgement given after the commit
 * but before the fsync (what matters on power loss) is not caught here; and as LMDB commits are atomic a kill never
 * tears a revision, which `torn-tail.test.ts` therefore simulates deterministically.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Ack, AckKind } from '../support/crash-worker';
import { ensureWorkerBuilt, ownsRevision, runWorker, verifyStore } from './harness';

/**
 * How each round's worker dies: `random` = SIGKILL from here 150–900 ms after its first acknowledgement (a random
 * point amid in-flight writes); `self` = the worker SIGKILLs itself right after the n-th acknowledgement of `kind`,
 * so not even a microsecond separates an acknowledgement from the crash. `revoke-empty` targets the revoke of a
 * lease without keys: it makes no revision, so its durability rests on a different path than every other write.
 */
type Kill = { how: 'random' } | { how: 'self'; kind: AckKind; n: () => number };
const between = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));
const PLAN: Kill[] = [
  { how: 'random' },
  { how: 'random' },
  { how: 'random' },
  { how: 'self', kind: 'revoke-empty', n: () => between(1, 8) },
  { how: 'self', kind: 'any', n: () => between(100, 3000) },
  // Extra rounds, run only while within the time budget.
  {
    how: 'self',
    kind: (['put', 'txn', 'del', 'grant', 'revoke'] as const)[between(0, 4)],
    n: () => between(1, 200),
  },
  { how: 'random' },
];
/** The first rounds of {@link PLAN} always run; the rest only within {@link BUDGET_MS}. */
const MIN_ROUNDS = 5;
/** No optional round starts once this much time is spent, keeping the file well under a minute. */
const BUDGET_MS = 30_000;

let dataDir: string;

beforeAll(() => {
  ensureWorkerBuilt();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-crash-'));
}, 120_000);

afterAll(() => {
  if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** At most a screenful of problems, with how many were left out. */
function firstProblems(problems: string[]): string[] {
  return problems.length <= 20
    ? problems
    : [...problems.slice(0, 20), `... and ${problems.length - 20} more`];
}

test('acknowledged writes survive SIGKILL and revisions continue without reuse', async () => {
  const started = Date.now();
  const allAcks: Ack[] = [];
  // Revision → the acknowledged write that made it, across all rounds: no revision may be acknowledged twice.
  const owner = new Map<number, string>();
  const summary: string[] = [];
  // The revision the next worker must restore: 1 for the empty store, then the verifier's probe write.
  let expectedStart = 1;
  let slowestRoundMs = 0;
  for (const [round, kill] of PLAN.entries()) {
    const elapsed = Date.now() - started;
    if (round >= MIN_ROUNDS && elapsed + slowestRoundMs > BUDGET_MS) break;
    const roundStarted = Date.now();
    const tag = `r${round}`;
    const target = kill.how === 'self' ? `${kill.kind}:${kill.n()}` : undefined;
    // A self-killing worker gets 60 s to reach its target before the fallback kill (which fails the round): a
    // bound for a hung worker, not a speed test, so a loaded machine never trips it.
    const killDelayMs = kill.how === 'self' ? 60_000 : between(150, 900);
    const run = await runWorker(dataDir, tag, killDelayMs, target);
    const where =
      target === undefined
        ? `round ${round} (SIGKILL ${killDelayMs} ms after the first ACK)`
        : `round ${round} (self-SIGKILL right after ACK ${target})`;
    const problems: string[] = [];
    if (run.exit !== 'SIGKILL')
      problems.push(`${where}: worker ended with ${run.exit}, not SIGKILL:\n${run.stderr}`);
    if (target !== undefined && !run.selfKilled) problems.push(`${where}: worker never reached its target`);
    if (run.startRev !== expectedStart) {
      problems.push(`${where}: worker restored revision ${run.startRev}, expected ${expectedStart}`);
    }
    if (run.acks.length === 0) problems.push(`${where}: no acknowledged write`);
    for (const a of run.acks) {
      // Revisions continue after the restored one: nothing acknowledged now can sit at or below it.
      if (ownsRevision(a) ? a.rev <= expectedStart : a.rev < expectedStart) {
        problems.push(
          `${where}: revision ${a.rev} reused (restored at ${expectedStart}): ${JSON.stringify(a)}`,
        );
      }
      if (!ownsRevision(a)) continue;
      const desc = `${tag} ${JSON.stringify(a)}`;
      const prev = owner.get(a.rev);
      if (prev !== undefined) problems.push(`revision ${a.rev} acknowledged twice: ${prev} and ${desc}`);
      owner.set(a.rev, desc);
    }
    expect(firstProblems(problems)).toEqual([]);

    allAcks.push(...run.acks);
    // Cumulative: every acknowledgement of every earlier round is checked again against the store a later kill left.
    const v = await verifyStore(dataDir, allAcks, tag);
    expect(firstProblems(v.problems.map((p) => `${where}: ${p}`))).toEqual([]);
    expect(v.verified).toBe(allAcks.length);
    expectedStart = v.probeRev;
    const count = (op: Ack['op']): number => run.acks.filter((a) => a.op === op).length;
    summary.push(
      `${where}: acked ${run.acks.length} (put ${count('put')}, txn ${count('txn')}, del ${count('del')}, ` +
        `grant ${count('grant')}, revoke ${count('revoke')}), cut line ${run.cutLine ? 'yes' : 'no'}, ` +
        `restored rev ${v.restoredRev} >= max acked ${run.acks.reduce((max, a) => Math.max(max, a.rev), 0)}, ` +
        `verified ${v.verified}/${allAcks.length} cumulative, lost ${allAcks.length - v.verified}`,
    );
    slowestRoundMs = Math.max(slowestRoundMs, Date.now() - roundStarted);
  }
  expect(summary.length).toBeGreaterThanOrEqual(MIN_ROUNDS);
  console.log(`crash test, ${summary.length} rounds in ${Date.now() - started} ms:\n${summary.join('\n')}`);
}, 300_000);
