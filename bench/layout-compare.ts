import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchResult } from './engine-bench';

/**
 * This build's engine beside the previous store layout (one V8 object per version, a Map and a B-tree of key
 * strings), built from git at bench time, in the same run: in-memory point get, put and insert through the engine
 * API, and in-process RSS with N keys. Each figure alternates the two builds over rounds in fresh child processes
 * and keeps each one's best (noise only ever slows a round down).
 *
 * The previous layout is the parent of the commit that added `src/engine/mvcc/version-table.ts` (or
 * BENCH_BASE_REF), checked out with `git worktree add` into a temp directory, with this checkout's node_modules,
 * built there, and removed afterwards; nothing of it stays in the repository.
 */

const distDir = path.resolve(__dirname, '..');
const repoRoot = path.resolve(distDir, '..');

function git(args: string[], cwd = repoRoot): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The commit of the previous layout. */
function baseRef(): string {
  if (process.env.BENCH_BASE_REF) return git(['rev-parse', process.env.BENCH_BASE_REF]);
  const added = git(['log', '--diff-filter=A', '--format=%H', '--', 'src/engine/mvcc/version-table.ts'])
    .split('\n')
    .pop();
  if (!added) throw new Error('no commit adds src/engine/mvcc/version-table.ts: set BENCH_BASE_REF');
  return git(['rev-parse', `${added}^`]);
}

/** Check out and build the previous layout; returns its directory and a cleanup. */
function buildPrevious(progress: (m: string) => void): { dir: string; ref: string; remove(): void } {
  const ref = baseRef();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-prev-layout-'));
  progress(`layout: building the previous layout (${ref.slice(0, 10)}) in ${dir}`);
  git(['worktree', 'add', '--detach', '--force', dir, ref]);
  const remove = (): void => {
    try {
      git(['worktree', 'remove', '--force', dir]);
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
      git(['worktree', 'prune']);
    }
  };
  try {
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: dir, stdio: 'ignore' });
  } catch (err) {
    remove();
    throw err;
  }
  return { dir, ref, remove };
}

interface Ops {
  get: number;
  put: number;
  insert: number;
}

function runOps(engineModule: string, ms: number, keys: number): Ops {
  const out = execFileSync(
    process.execPath,
    [path.join(distDir, 'bench', 'engine-ops-child.js'), engineModule, String(ms), String(keys)],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as Ops;
}

function runRss(engineModule: string, keys: number, durable: boolean): number {
  const dir = durable ? fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-rss-')) : undefined;
  try {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', path.join(distDir, 'bench', 'rss-child.js'), String(keys), ...(dir ? [dir] : [])],
      { encoding: 'utf8', env: { ...process.env, BENCH_ENGINE_MODULE: engineModule } },
    );
    return (JSON.parse(out.trim().split('\n').pop()!) as { rss: number }).rss / 1048576;
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface LayoutCompareOptions {
  ms: number;
  /** Keys loaded before the point operations. */
  opsKeys: number;
  /** Keys of the in-process RSS figures. */
  rssKeys: number;
  rounds: number;
  progress: (msg: string) => void;
}

/** The comparison rows; none (with a note on stderr) when git or the base commit is not available. */
export function benchLayoutCompare(o: LayoutCompareOptions): BenchResult[] {
  let prev: ReturnType<typeof buildPrevious>;
  try {
    prev = buildPrevious(o.progress);
  } catch (err) {
    o.progress(`layout: previous layout not available, skipped (${(err as Error).message.split('\n')[0]})`);
    return [];
  }
  try {
    const current = path.join(distDir, 'src', 'engine');
    const previous = path.join(prev.dir, 'dist', 'src', 'engine');
    const best: Record<'current' | 'previous', Ops> = {
      current: { get: 0, put: 0, insert: 0 },
      previous: { get: 0, put: 0, insert: 0 },
    };
    for (let r = 0; r < o.rounds; r++) {
      for (const [name, mod] of [
        ['current', current],
        ['previous', previous],
      ] as const) {
        o.progress(`layout: point get / put / insert, ${name} layout, round ${r + 1}/${o.rounds}`);
        const ops = runOps(mod, o.ms, o.opsKeys);
        for (const k of ['get', 'put', 'insert'] as const) best[name][k] = Math.max(best[name][k], ops[k]);
      }
    }
    const prevName = `previous layout (${prev.ref.slice(0, 10)})`;
    const rows: BenchResult[] = [
      ['get', 'in-memory point get'],
      ['put', 'in-memory put, overwrite (1 writer)'],
      ['insert', 'in-memory put, new key (1 writer)'],
    ].map(([k, label]) => {
      const key = k as keyof Ops;
      const ratio = best.current[key] / best.previous[key];
      return {
        name: `${label}, ${o.opsKeys.toLocaleString('en-US')} keys, packed layout`,
        value: best.current[key],
        unit: 'ops/s',
        floor: { name: prevName, value: best.previous[key] },
        ratio,
        target: { description: '>= 0.9x previous (same run)', met: ratio >= 0.9 },
      };
    });
    for (const durable of [false, true]) {
      const mode = durable ? 'durable' : 'memory';
      o.progress(
        `layout: in-process RSS with ${o.rssKeys.toLocaleString('en-US')} keys (${mode}), both layouts`,
      );
      const cur = runRss(current, o.rssKeys, durable);
      const old = runRss(previous, o.rssKeys, durable);
      rows.push({
        name: `in-process engine RSS, ${o.rssKeys.toLocaleString('en-US')} keys x 64 B (${mode}), packed layout`,
        value: cur,
        unit: 'MB',
        floor: { name: prevName, value: old },
        ratio: cur / old,
      });
    }
    return rows;
  } finally {
    prev.remove();
  }
}
