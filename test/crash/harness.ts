/**
 * Helpers of the crash test: building and running the crash worker (`test/support/crash-worker.ts`) and checking a
 * restored store against everything the killed workers acknowledged.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createEmbeddedEngine, type Engine, type WatchEvent } from '../../src/engine';
import { parseLine, valueHash, type Ack } from '../support/crash-worker';
import { readLines } from '../support/line-reader';

/** Repository root. */
export const repoRoot = path.resolve(__dirname, '..', '..');

/** The compiled worker; `npm test` builds it, {@link ensureWorkerBuilt} does when jest runs alone. */
export const workerJs = path.join(repoRoot, 'dist', 'test', 'support', 'crash-worker.js');

function newestMtime(files: string[]): number {
  return Math.max(...files.map((f) => fs.statSync(f).mtimeMs));
}

/** Every source the compiled worker depends on that is likely to change: the worker and the engine. */
function workerSources(): string[] {
  const engineDir = path.join(repoRoot, 'src', 'engine');
  const engine = (fs.readdirSync(engineDir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(engineDir, f));
  return [path.join(repoRoot, 'test', 'support', 'crash-worker.ts'), ...engine];
}

/**
 * Build `dist/` with `tsconfig.build.json` when the compiled worker is missing or older than the worker or engine
 * sources, so that `npx jest test/crash` alone tests the current engine, not a stale build.
 *
 * tsc's exit code is not trusted on its own: tsc emits despite type errors, and in a shared checkout an error in
 * an unrelated file must not block this test. What matters is that the worker came out fresh.
 */
export function ensureWorkerBuilt(): void {
  const fresh = (): boolean =>
    fs.existsSync(workerJs) && fs.statSync(workerJs).mtimeMs >= newestMtime(workerSources());
  if (fresh()) return;
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const res = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (!fresh()) {
    throw new Error(
      `building the crash worker failed (tsc exit ${res.status}):\n${res.stdout}\n${res.stderr}`,
    );
  }
}

/** What one worker run produced. */
export interface RoundRun {
  /** Store revision the worker restored (its START line). */
  startRev: number | undefined;
  /** Acknowledgements received whole, in order. */
  acks: Ack[];
  /** True when the kill cut a line short (that line is not counted as acknowledged). */
  cutLine: boolean;
  /** How the worker ended: a signal name or an exit code. */
  exit: string | number;
  stderr: string;
  /** True when the worker killed itself right after an acknowledgement (its `SELFKILL` line). */
  selfKilled: boolean;
}

/**
 * Start the worker on `dataDir`, SIGKILL it `killDelayMs` after its first acknowledgement, and collect every
 * complete line it printed. Resolves once its stdout is closed, so nothing it wrote before dying is missed.
 * `selfKill` (`<kind>:<n>`) makes the worker kill itself right after that acknowledgement instead; `killDelayMs`
 * is then only the fallback.
 */
export function runWorker(
  dataDir: string,
  round: string,
  killDelayMs: number,
  selfKill?: string,
): Promise<RoundRun> {
  const args = [workerJs, dataDir, round, ...(selfKill === undefined ? [] : [selfKill])];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const run: RoundRun = {
    startRev: undefined,
    acks: [],
    cutLine: false,
    exit: 'unknown',
    stderr: '',
    selfKilled: false,
  };
  let killTimer: NodeJS.Timeout | undefined;
  // A worker that never acknowledges anything is a failure, not a hang (60 s: start-up on a loaded machine).
  const noAckTimer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const unfinished = readLines(child.stdout!, (line) => {
    const parsed = parseLine(line);
    if (parsed?.type === 'start') run.startRev = parsed.rev;
    else if (parsed?.type === 'selfkill') run.selfKilled = true;
    else if (parsed?.type === 'ack') {
      run.acks.push(parsed.ack);
      if (killTimer === undefined) {
        clearTimeout(noAckTimer);
        killTimer = setTimeout(() => child.kill('SIGKILL'), killDelayMs);
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (run.stderr += chunk));
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(noAckTimer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      process.removeListener('exit', killOnExit);
      run.cutLine = unfinished().length > 0;
      run.exit = signal ?? code ?? 'unknown';
      resolve(run);
    });
  });
}

/** Result of checking a restored store. */
export interface Verification {
  /** Human-readable failures (empty when everything held). */
  problems: string[];
  /** Acknowledgements checked and found intact. */
  verified: number;
  /** Store revision after restore. */
  restoredRev: number;
  /** Store revision after the probe write (what the next worker must restore). */
  probeRev: number;
  /** Live keys after restore. */
  keys: number;
}

/** Revision-bearing acknowledgements: each made exactly one new revision, `rev`. */
export function ownsRevision(a: Ack): boolean {
  return a.op === 'put' || a.op === 'txn' || a.op === 'del';
}

const b = (s: string): Buffer => Buffer.from(s);

/** Replay the whole history through a watch from revision 1 and return its events, grouped by revision. */
async function replayHistory(engine: Engine, current: number): Promise<Map<number, WatchEvent[]>> {
  const byRev = new Map<number, WatchEvent[]>();
  const order: number[] = [];
  let last = 1;
  let canceled: string | undefined;
  const watcher = engine.watch({ key: b('\0'), rangeEnd: b('\0'), startRevision: 1 }, (m) => {
    if (m.type === 'canceled') canceled = m.reason;
    if (m.type !== 'events') return true;
    for (const e of m.events) {
      const rev = e.kv.modRevision;
      if (rev !== last) order.push(rev);
      last = rev;
      const list = byRev.get(rev) ?? [];
      list.push(e);
      byRev.set(rev, list);
    }
    return true;
  });
  const deadline = Date.now() + 20_000;
  while (last < current && canceled === undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  watcher.cancel();
  if (canceled !== undefined) throw new Error(`history replay watch was canceled: ${canceled}`);
  if (last < current) throw new Error(`history replay stopped at revision ${last} of ${current}`);
  // The replay must deliver every revision 2..current exactly once, in order: any mutating revision has changes.
  const gaps = order.filter((rev, i) => rev !== i + 2);
  if (gaps.length > 0 || order.length !== current - 1) {
    throw new Error(
      `history revisions are not 2..${current} in order (${order.length} revisions; first wrong: ${gaps[0]})`,
    );
  }
  return byRev;
}

/**
 * Open the store in this process (the worker is dead) and check every acknowledgement of every round so far, the
 * history's consistency, and that a new write continues right after the restored revision. `tag` names the probe
 * key. Closes the engine before returning.
 */
export async function verifyStore(dataDir: string, acks: Ack[], tag: string): Promise<Verification> {
  const engine = await createEmbeddedEngine({ dataDir });
  const problems: string[] = [];
  const fail = (a: Ack, what: string): void => void problems.push(`${what}: ${JSON.stringify(a)}`);
  try {
    const status = await engine.status();
    const current = status.header.revision;
    // reduce, not Math.max(...): tens of thousands of arguments can overflow the stack.
    const maxAcked = acks.reduce((max, a) => Math.max(max, a.rev), 0);
    if (current < maxAcked)
      problems.push(`restored revision ${current} < highest acknowledged revision ${maxAcked}`);

    const history = await replayHistory(engine, current);
    // Where each key was deleted, for the revoke checks (a revoke's own revision is not in its ACK).
    const deletions = new Map<string, number[]>();
    for (const [rev, evs] of history) {
      for (const e of evs) {
        if (e.type === 'DELETE')
          deletions.set(e.kv.key.toString(), [...(deletions.get(e.kv.key.toString()) ?? []), rev]);
      }
    }
    const revoked = new Set(acks.flatMap((a) => (a.op === 'revoke' ? [a.lease] : [])));
    // Acknowledged puts per lease (leased keys are written once and only a revoke deletes them).
    const leasePuts = new Map<string, string[]>();
    for (const a of acks) {
      if (a.op === 'put' && a.lease !== undefined)
        leasePuts.set(a.lease, [...(leasePuts.get(a.lease) ?? []), a.key]);
    }
    /** Problems with a revoke: its keys must be gone now and deleted together, in one revision (at most `atOrBelow`). */
    const revokeProblems = async (keys: string[], atOrBelow: number): Promise<string[]> => {
      const found: string[] = [];
      const deletedAt = new Set<number>();
      for (const key of keys) {
        if ((await engine.range({ key: b(key) })).count !== 0)
          found.push(`key ${key} of a revoked lease is present`);
        for (const rev of deletions.get(key) ?? []) deletedAt.add(rev);
      }
      if (keys.length > 0 && (deletedAt.size !== 1 || [...deletedAt][0] > atOrBelow)) {
        found.push(
          `revoke deleted its keys at revisions [${[...deletedAt].join(', ')}], not in one revision`,
        );
      }
      return found;
    };
    let verified = 0;
    for (const a of acks) {
      const before = problems.length;
      // A read that throws (e.g. FUTURE_REV for a revision the restore lost) is a failed check of this write.
      try {
        const events = ownsRevision(a) ? (history.get(a.rev) ?? []) : [];
        if (a.op === 'put') {
          const r = await engine.range({ key: b(a.key), revision: a.rev });
          const kv = r.kvs[0];
          if (kv === undefined) fail(a, `acknowledged put missing at its revision`);
          else {
            if (kv.modRevision !== a.rev) fail(a, `mod revision ${kv.modRevision} at acknowledged revision`);
            if (valueHash(kv.value) !== a.hash) fail(a, `value differs (hash ${valueHash(kv.value)})`);
            if (a.kind !== 'hot' && (kv.createRevision !== a.rev || kv.version !== 1)) {
              fail(a, `create revision ${kv.createRevision} / version ${kv.version} of a once-written key`);
            }
            if ((a.lease ?? '0') !== kv.lease.toString()) fail(a, `lease ${kv.lease} attached`);
          }
          if (events.length !== 1 || events[0].type !== 'PUT' || valueHash(events[0].kv.value) !== a.hash) {
            fail(a, `history at its revision is not this one put (${events.length} events)`);
          }
        } else if (a.op === 'txn') {
          if (!a.succeeded) fail(a, `txn compare on the writer's own key failed`);
          for (const p of a.puts) {
            const kv = (await engine.range({ key: b(p.key), revision: a.rev })).kvs[0];
            if (kv === undefined || kv.modRevision !== a.rev || valueHash(kv.value) !== p.hash) {
              fail(a, `txn put of ${p.key} not intact at the txn revision`);
            }
          }
          const hashes = events
            .map((e) => `${e.type} ${e.kv.key.toString()} ${valueHash(e.kv.value)}`)
            .sort();
          const expected = a.puts.map((p) => `PUT ${p.key} ${p.hash}`).sort();
          if (JSON.stringify(hashes) !== JSON.stringify(expected))
            fail(a, `history at the txn revision: ${hashes.join(', ')}`);
        } else if (a.op === 'del') {
          if (a.deleted !== 1) fail(a, `delete of an acknowledged key deleted ${a.deleted}`);
          if ((await engine.range({ key: b(a.key), revision: a.rev })).count !== 0)
            fail(a, `deleted key present at the delete revision`);
          const prev = (await engine.range({ key: b(a.key), revision: a.rev - 1 })).kvs[0];
          if (prev === undefined || valueHash(prev.value) !== a.prevHash)
            fail(a, `value before the delete is wrong`);
          if (events.length !== 1 || events[0].type !== 'DELETE' || events[0].kv.key.toString() !== a.key) {
            fail(a, `history at the delete revision is not this one delete`);
          }
        } else if (a.op === 'grant') {
          const t = await engine.leaseTimeToLive(BigInt(a.lease), true);
          const keys = leasePuts.get(a.lease) ?? [];
          if (revoked.has(a.lease)) {
            // Checked with the revoke's own acknowledgement.
          } else if (t.ttl > 0) {
            if (t.grantedTtl !== a.ttl) fail(a, `granted TTL ${t.grantedTtl} after restore`);
            const attached = new Set(t.keys.map((k) => k.toString()));
            const missing = keys.filter((k) => !attached.has(k));
            if (missing.length > 0) fail(a, `lease lost its keys ${missing.slice(0, 5).join(', ')}`);
          } else if (a.revokeAfter === null) {
            fail(a, `granted lease lost (ttl ${t.ttl})`);
          } else if (keys.length !== a.revokeAfter) {
            // The worker revokes only after all its puts were acknowledged, so the lease cannot be gone yet.
            fail(a, `lease gone with ${keys.length} of its ${a.revokeAfter} puts acknowledged`);
          } else {
            // Gone through a revoke that completed but was never acknowledged: it must have been whole.
            for (const p of await revokeProblems(keys, current)) fail(a, p);
          }
        } else {
          const t = await engine.leaseTimeToLive(BigInt(a.lease));
          if (t.ttl !== -1) fail(a, `revoked lease is back (ttl ${t.ttl})`);
          for (const p of await revokeProblems(a.keys, a.rev)) fail(a, p);
        }
      } catch (err) {
        fail(a, `reading it back failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (problems.length === before) verified++;
    }
    // The current state is readable and agrees with status.
    const all = await engine.range({ key: b('\0'), rangeEnd: b('\0') });
    if (all.count !== status.keys || all.kvs.length !== all.count) {
      problems.push(
        `full range returned ${all.kvs.length} of count ${all.count}; status says ${status.keys} keys`,
      );
    }
    if (all.kvs.some((kv) => kv.modRevision > current))
      problems.push(`a key has a mod revision above ${current}`);

    // A new write continues right after the restored revision and is readable.
    const probe = await engine.put({ key: b(`probe/${tag}`), value: b(tag) });
    if (probe.header.revision !== current + 1) {
      problems.push(
        `first write after restore got revision ${probe.header.revision}, expected ${current + 1}`,
      );
    }
    const back = (await engine.range({ key: b(`probe/${tag}`) })).kvs[0];
    if (back?.value.toString() !== tag) problems.push(`probe write not readable`);
    return { problems, verified, restoredRev: current, probeRev: probe.header.revision, keys: status.keys };
  } finally {
    await engine.close();
  }
}
