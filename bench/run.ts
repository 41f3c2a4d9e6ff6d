import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderChart } from './chart-svg';
import { runE2e, type E2eResults } from './e2e-bench';
import {
  benchDurablePut,
  benchDurablePutSpread,
  benchReads,
  benchTxn,
  benchWatchFanout,
  type BenchResult,
} from './engine-bench';
import { runEtcdBackendBench } from './etcd-backend-bench';
import { benchFlagsCompare } from './flags-compare';
import { benchLayoutCompare } from './layout-compare';
import { benchSidecarMemory } from './memory-bench';
import { benchRedis } from './redis-bench';
import { benchConfigFanout, benchConfigFanoutGrpc, benchQuery } from './state-views-bench';
import { e2eRows, engineRows, markdownTable, textTable } from './report-table';

/**
 * `npm run bench`: every benchmark in one go, with progress on stderr, one table on stdout, and JSON, an SVG chart
 * and the Markdown table in `bench/results/`. Each figure stands beside the floor it is compared with, measured in
 * the same run, so ratios hold on any machine.
 *
 * Environment: BENCH_ONLY=engine,memory,views,redis,e2e,etcd-backend (subsets; default all; `flags`, only when
 * named, compares the sidecar's Node flags, BENCH_FLAG_VARIANTS, see flags-compare.ts), BENCH_MS (engine ms
 * per figure, 3000), BENCH_RSS_KEYS (1,000,000; also the keys of the sidecar memory rows), BENCH_WATCHERS
 * (100,000), BENCH_E2E_SECONDS (6), BENCH_E2E_ROUNDS (2), BENCH_FIXED_SECONDS (10),
 * BENCH_MEMORY_ONLY (sidecar memory rows: start, keys, watchers),
 * BENCH_E2E_ONLY (workload ids: fixed-grpc, fixed-http, getstate-grpc, get-http, etcd-range, etcd-put),
 * BENCH_CPU_PROF=<dir> (write `--cpu-prof` profiles of statecar, the floors and the sidecar on state.etcd there).
 */

function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** True when `cmd --version` runs. */
function have(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const envList = (name: string): string[] | undefined =>
  process.env[name]
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

async function main(): Promise<void> {
  const t0 = performance.now();
  const only = envList('BENCH_ONLY');
  const want = (part: string): boolean => !only || only.includes(part);
  const ms = Number(process.env.BENCH_MS ?? 3000);
  const engine: BenchResult[] = [];
  const step = async (
    label: string,
    f: () => Promise<BenchResult | BenchResult[]> | BenchResult | BenchResult[],
  ): Promise<void> => {
    progress(`${label}...`);
    const r = await f();
    engine.push(...(Array.isArray(r) ? r : [r]));
  };
  if (want('engine')) {
    await step('engine: durable put (64 writers) vs raw lmdb', () => benchDurablePut(ms));
    await step('engine: durable put, 128 writers spread over turns, vs raw lmdb', () =>
      benchDurablePutSpread(ms),
    );
    await step('engine: point get and range vs raw index', () => benchReads(ms));
    await step('engine: txn', () => benchTxn(ms));
    await step('engine: watch fan-out to 10,000 watchers', () => benchWatchFanout(10_000));
    await step('engine: packed layout beside the previous one (built from git), RSS with 1M keys', () =>
      benchLayoutCompare({
        ms,
        opsKeys: 100_000,
        rssKeys: Number(process.env.BENCH_RSS_KEYS ?? 1_000_000),
        rounds: 2,
        progress,
      }),
    );
  }
  if (want('memory')) {
    await step('memory: a sidecar process loaded through its API', () =>
      benchSidecarMemory({
        keys: Number(process.env.BENCH_RSS_KEYS ?? 1_000_000),
        watchers: Number(process.env.BENCH_WATCHERS ?? 100_000),
        only: envList('BENCH_MEMORY_ONLY'),
        progress,
      }),
    );
  }
  if (only?.includes('flags')) {
    await step("flags: the sidecar's Node flags side by side", () =>
      benchFlagsCompare({
        fixedSeconds: Number(process.env.BENCH_FIXED_SECONDS ?? 10),
        seconds: Number(process.env.BENCH_E2E_SECONDS ?? 6),
        rounds: Number(process.env.BENCH_E2E_ROUNDS ?? 2),
        progress,
      }),
    );
  }
  if (want('views')) {
    await step('views: query over 100,000 keys, scan and indexed', () => benchQuery(ms));
    await step('views: a change to 1,000 configuration subscribers', () => benchConfigFanout());
    await step('views: the same over gRPC against a statecar process', () => benchConfigFanoutGrpc());
  }
  if (want('redis')) {
    if (have('redis-server')) await step('redis backend vs raw ioredis', () => benchRedis(ms));
    else progress('redis: redis-server not on PATH, skipped');
  }
  let e2e: E2eResults | undefined;
  if (want('e2e')) {
    e2e = await runE2e({
      seconds: Number(process.env.BENCH_E2E_SECONDS ?? 6),
      warmupSeconds: 1,
      rounds: Number(process.env.BENCH_E2E_ROUNDS ?? 2),
      fixedRateSeconds: Number(process.env.BENCH_FIXED_SECONDS ?? 10),
      profileDir: process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined,
      only: envList('BENCH_E2E_ONLY'),
      progress,
    });
  }
  if (want('etcd-backend')) {
    if (have('etcd')) {
      const seconds = Number(process.env.BENCH_E2E_SECONDS ?? 6);
      const rounds = Number(process.env.BENCH_E2E_ROUNDS ?? 2);
      const more = await runEtcdBackendBench({ seconds, warmupSeconds: 1, rounds, progress });
      e2e = e2e
        ? {
            ...e2e,
            rows: [...e2e.rows, ...more.rows],
            comparisons: [...e2e.comparisons, ...more.comparisons],
          }
        : more;
    } else progress('etcd-backend: etcd not on PATH, skipped');
  }

  const rows = [...engineRows(engine), ...(e2e ? e2eRows(e2e.rows, e2e.comparisons) : [])];
  console.log(textTable(rows));
  if (e2e) {
    console.log('\nTargets and ratios (same run):');
    for (const c of e2e.comparisons) {
      const t = c.target ? ` -> ${c.target.met ? 'MET' : 'NOT MET'} (${c.target.description})` : '';
      const perCpu = c.cpuRatio !== undefined ? ` (per CPU-second: ${c.cpuRatio.toFixed(2)}x)` : '';
      console.log(`  ${c.name}: ${c.ratio.toFixed(2)}x${perCpu}${t}`);
    }
  }

  const machine = {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
  };
  const dir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const base = path.join(dir, `bench-${stamp}`);
  const json = {
    date: new Date().toISOString(),
    machine,
    engine,
    e2e,
    seconds: (performance.now() - t0) / 1000,
  };
  fs.writeFileSync(`${base}.json`, JSON.stringify(json, null, 2));
  fs.writeFileSync(`${base}.md`, markdownTable(rows) + '\n');
  const written = [`${base}.json`, `${base}.md`];
  if (e2e) {
    const title = `statecar bench ${json.date.slice(0, 16)}Z, ${machine.cpus} x ${machine.cpu}, Node ${machine.node}`;
    fs.writeFileSync(`${base}.svg`, renderChart(title, e2e.rows, e2e.comparisons));
    written.push(`${base}.svg`);
  }
  // Stable names for the latest run, for docs and CI artefacts.
  for (const f of written) fs.copyFileSync(f, path.join(dir, `latest${path.extname(f)}`));
  progress(
    `results written to ${written.map((f) => path.relative(process.cwd(), f)).join(', ')} (and latest.*)`,
  );
  progress(`done in ${Math.round((performance.now() - t0) / 1000)} s`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
