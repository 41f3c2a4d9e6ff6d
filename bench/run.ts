import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchDurablePut, benchReads, benchTxn, benchWatchFanout, type BenchResult } from './engine-bench';

/**
 * `npm run bench`: every benchmark in one go, with progress on stderr, a table on stdout and JSON results in
 * `bench/results/`. Each figure stands beside the floor it is compared with, measured in the same run, so ratios
 * hold on any machine.
 */

const fmt = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 });

function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function rssBench(keys: number): BenchResult {
  const child = path.join(__dirname, 'rss-child.js');
  const out = execFileSync(process.execPath, ['--expose-gc', child, String(keys)], { encoding: 'utf8' });
  const { rss } = JSON.parse(out.trim().split('\n').pop()!) as { rss: number };
  const mb = rss / 1048576;
  return {
    name: `RSS, ${keys.toLocaleString('en-US')} keys x 64 B (in memory, one version)`,
    value: mb,
    unit: 'MB',
    target: { description: '<= 250 MB', met: mb <= 250 },
  };
}

async function main(): Promise<void> {
  const ms = Number(process.env.BENCH_MS ?? 3000);
  const results: BenchResult[] = [];
  const step = async (
    label: string,
    f: () => Promise<BenchResult | BenchResult[]> | BenchResult,
  ): Promise<void> => {
    progress(`${label}...`);
    const r = await f();
    results.push(...(Array.isArray(r) ? r : [r]));
  };
  await step('engine: durable put (64 writers) vs raw lmdb', () => benchDurablePut(ms));
  await step('engine: point get and range vs raw index', () => benchReads(ms));
  await step('engine: txn', () => benchTxn(ms));
  await step('engine: watch fan-out to 10,000 watchers', () => benchWatchFanout(10_000));
  await step('engine: RSS with 1M keys (child process)', () =>
    rssBench(Number(process.env.BENCH_RSS_KEYS ?? 1_000_000)),
  );

  const rows = results.map((r) => [
    r.name,
    `${fmt(r.value)} ${r.unit}`,
    r.floor ? `${r.floor.name}: ${fmt(r.floor.value)}` : '',
    r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '',
    r.target ? `${r.target.met ? 'MET' : 'NOT MET'} (${r.target.description})` : '',
  ]);
  const header = ['benchmark', 'result', 'floor (same run)', 'ratio', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));

  const dir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `engine-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const machine = {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memGiB: os.totalmem() / 2 ** 30,
    node: process.version,
  };
  fs.writeFileSync(file, JSON.stringify({ machine, results }, null, 2));
  progress(`results written to ${path.relative(process.cwd(), file)}`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
