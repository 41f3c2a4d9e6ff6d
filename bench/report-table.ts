import type { BenchResult } from './engine-bench';
import type { E2eComparison, E2eRow } from './e2e-bench';

/**
 * The one results table of `npm run bench`: engine micro-benchmarks and end-to-end rows in the same columns
 * (throughput, latency percentiles, server CPU and RSS, ratio to the floor measured in the same run), as aligned
 * text for the terminal and as Markdown for docs/performance.md.
 */

/** One line of the table. */
export interface TableRow {
  benchmark: string;
  server: string;
  throughput: string;
  p50: string;
  p90: string;
  p99: string;
  cpu: string;
  rss: string;
  ratio: string;
  target: string;
}

const HEADER: TableRow = {
  benchmark: 'benchmark',
  server: 'server',
  throughput: 'throughput',
  p50: 'p50',
  p90: 'p90',
  p99: 'p99',
  cpu: 'CPU',
  rss: 'RSS',
  ratio: 'ratio (same run)',
  target: 'target',
};

/** A number for humans: thousands separators from 100 up, two decimals below. */
export const fmt = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 });

const ms = (v: number): string => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms` : '');
const targetText = (t?: { description: string; met: boolean }): string =>
  t ? `${t.met ? 'MET' : 'NOT MET'} (${t.description})` : '';

/** Rows for the engine micro-benchmarks. */
export function engineRows(results: BenchResult[]): TableRow[] {
  return results.map((r) => ({
    benchmark: r.name,
    server: r.server ?? 'engine (in-process)',
    throughput: `${fmt(r.value)} ${r.unit}`,
    p50: '',
    p90: '',
    p99: '',
    cpu: '',
    rss: '',
    ratio: r.floor ? `${r.ratio!.toFixed(2)}x ${r.floor.name} (${fmt(r.floor.value)})` : '',
    target: targetText(r.target),
  }));
}

/** Rows for the end-to-end runs; a server's row carries the ratios in which it is the subject. */
export function e2eRows(rows: E2eRow[], comparisons: E2eComparison[]): TableRow[] {
  return rows.map((r) => {
    const mine = comparisons.filter((c) => c.subject === `${r.server}, ${r.workload}`);
    return {
      benchmark: r.workload,
      server: r.server,
      throughput: `${fmt(r.reqPerSec)} req/s${r.errors > 0 ? ` (${r.errors} errors)` : ''}`,
      p50: ms(r.p50Ms),
      p90: ms(r.p90Ms),
      p99: ms(r.p99Ms),
      cpu: `${Math.round(r.mcpu)} mCPU`,
      rss: `${r.rssMB.toFixed(0)} MB`,
      ratio: mine
        .filter((c) => !c.name.startsWith('Dapr-shaped'))
        .map((c) => `${c.ratio.toFixed(2)}x ${c.reference.split(',')[0]}`)
        .join('; '),
      target: mine
        .filter((c) => c.target)
        .map((c) => targetText(c.target))
        .join('; '),
    };
  });
}

const COLS = Object.keys(HEADER) as Array<keyof TableRow>;

/** Aligned text table. */
export function textTable(rows: TableRow[]): string {
  const widths = COLS.map((c) => Math.max(HEADER[c].length, ...rows.map((r) => r[c].length)));
  const line = (r: TableRow): string => COLS.map((c, i) => r[c].padEnd(widths[i])).join(' | ');
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

/** Markdown table. */
export function markdownTable(rows: TableRow[]): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const line = (r: TableRow): string => `| ${COLS.map((c) => cell(r[c])).join(' | ')} |`;
  return [line(HEADER), `|${COLS.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}
