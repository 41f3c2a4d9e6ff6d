/**
 * SIGKILL across idle reopens of the durable store: a worker process (test/support/idle-reopen-worker.ts) writes in
 * bursts with pauses around its 5 ms idle bound, so its LMDB environment is closed and reopened between bursts, and
 * is killed — by this test at a random moment once it has reopened a few times, or by itself right after the first
 * acknowledged write into a freshly reopened environment. Every acknowledged write must be in the store after the
 * crash, as with the crash test's writers (test/crash/sigkill.test.ts).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedEngine } from '../../src/engine';
import { readLines } from '../support/line-reader';

const repoRoot = path.resolve(__dirname, '..', '..');
const workerJs = path.join(repoRoot, 'dist', 'test', 'support', 'idle-reopen-worker.js');

interface Run {
  /** Per key, the highest acknowledged revision and the hash of the value written at it. */
  acks: Map<string, { rev: number; hash: string }>;
  reopens: number;
  selfKilled: boolean;
  exit: string | number;
  stderr: string;
}

/** Run the worker until `reopensBeforeKill` reopens were seen (then kill it 0–30 ms later) or it kills itself. */
function runWorker(
  dataDir: string,
  round: string,
  reopensBeforeKill: number,
  selfKillAt?: number,
): Promise<Run> {
  const args = [workerJs, dataDir, round, ...(selfKillAt === undefined ? [] : [String(selfKillAt)])];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const run: Run = { acks: new Map(), reopens: 0, selfKilled: false, exit: 'unknown', stderr: '' };
  // A worker that does not get there is a failure, not a hang.
  const fallback = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let killing = false;
  readLines(child.stdout, (line) => {
    const [kind, a, b, c] = line.split(' ');
    if (kind === 'ACK') {
      const rev = Number(b);
      const prev = run.acks.get(a);
      if (prev === undefined || prev.rev < rev) run.acks.set(a, { rev, hash: c });
    } else if (kind === 'PAUSE') {
      const before = Number(a);
      if (before > 256 && Number(b) < before / 2) run.reopens++;
      if (run.reopens >= reopensBeforeKill && selfKillAt === undefined && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), Math.random() * 30);
      }
    } else if (kind === 'SELFKILL') run.selfKilled = true;
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (run.stderr += chunk));
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(fallback);
      process.removeListener('exit', killOnExit);
      run.exit = signal ?? code ?? 'unknown';
      resolve(run);
    });
  });
}

let dataDir: string;
beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-idle-kill-'));
});
afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('every write acknowledged across idle reopens survives a SIGKILL', async () => {
  const all = new Map<string, { rev: number; hash: string }>();
  const rounds: Array<{ reopensBeforeKill: number; selfKillAt?: number }> = [
    { reopensBeforeKill: 4 },
    { reopensBeforeKill: 1, selfKillAt: 1 },
    { reopensBeforeKill: 10 },
    { reopensBeforeKill: 3, selfKillAt: 3 },
  ];
  for (const [i, r] of rounds.entries()) {
    const run = await runWorker(dataDir, `r${i}`, r.reopensBeforeKill, r.selfKillAt);
    expect({ round: i, exit: run.exit, stderr: run.stderr }).toEqual({
      round: i,
      exit: 'SIGKILL',
      stderr: '',
    });
    expect(run.reopens).toBeGreaterThanOrEqual(r.reopensBeforeKill);
    if (r.selfKillAt !== undefined) expect(run.selfKilled).toBe(true);
    for (const [key, ack] of run.acks) all.set(key, ack);

    const engine = await createEmbeddedEngine({ dataDir });
    try {
      const lost: string[] = [];
      const res = await engine.range({ key: Buffer.from('r'), rangeEnd: Buffer.from('s') });
      const found = new Map(res.kvs.map((kv) => [kv.key.toString(), kv]));
      for (const [key, ack] of all) {
        const kv = found.get(key);
        if (kv === undefined || kv.modRevision < ack.rev) lost.push(`${key}@${ack.rev}: ${kv?.modRevision}`);
        else if (kv.modRevision === ack.rev) {
          const hash = createHash('sha256').update(kv.value).digest('hex').slice(0, 24);
          if (hash !== ack.hash) lost.push(`${key}@${ack.rev}: other value`);
        }
      }
      expect(lost).toEqual([]);
    } finally {
      await engine.close();
    }
  }
}, 240_000);
