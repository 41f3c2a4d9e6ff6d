import type { E2eComparison, E2eRow } from './e2e-bench';

/**
 * A dependency-free SVG chart of one run: horizontal bars of every target ratio (with the target marked) and of
 * the end-to-end throughputs grouped by workload. Written by hand so the bench needs no plotting package.
 */

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const COLOURS: Record<string, string> = {
  statecar: '#2f6fdf',
  'etcd 3.4': '#419d5b',
  'grpc-js floor': '#9a9a9a',
  'node:http2 floor': '#c9c9c9',
  'fastify floor': '#b0b0b0',
};

/** Render the chart; `title` goes on top (machine and date). */
export function renderChart(title: string, rows: E2eRow[], comparisons: E2eComparison[]): string {
  const width = 960;
  const labelW = 430;
  const barW = width - labelW - 120;
  const out: string[] = [];
  let y = 40;
  const text = (x: number, yy: number, s: string, extra = ''): void => {
    out.push(`<text x="${x}" y="${yy}" ${extra}>${esc(s)}</text>`);
  };

  text(10, 24, title, 'font-size="16" font-weight="bold"');
  y += 10;
  text(10, y, 'Ratios (same run; bar = measured, line = target)', 'font-size="14" font-weight="bold"');
  y += 12;
  const ratios = comparisons.filter((c) => !c.name.startsWith('Dapr-shaped'));
  const maxRatio = Math.max(2, ...ratios.map((c) => c.ratio));
  for (const c of ratios) {
    const w = (c.ratio / maxRatio) * barW;
    const colour = c.target ? (c.target.met ? '#3a9d5d' : '#d0543e') : '#7a8fb5';
    text(10, y + 14, c.name, 'font-size="12"');
    out.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="14" fill="${colour}"/>`);
    text(Math.round(labelW + w + 6), y + 14, `${c.ratio.toFixed(2)}x`, 'font-size="12"');
    const m = c.target ? /([\d.]+)x/.exec(c.target.description) : null;
    if (m) {
      const tx = labelW + (Number(m[1]) / maxRatio) * barW;
      out.push(
        `<line x1="${tx.toFixed(1)}" y1="${y}" x2="${tx.toFixed(1)}" y2="${y + 20}" stroke="#000" stroke-width="2"/>`,
      );
    }
    y += 22;
  }
  const dapr = comparisons.find((c) => c.name.startsWith('Dapr-shaped'));
  if (dapr?.target) {
    text(
      10,
      y + 14,
      `${dapr.name}: ${dapr.target.description} (${dapr.target.met ? 'met' : 'not met'})`,
      'font-size="12"',
    );
    y += 22;
  }

  y += 16;
  text(10, y, 'Throughput, req/s (best round)', 'font-size="14" font-weight="bold"');
  y += 12;
  const workloads = [...new Set(rows.filter((r) => !r.load.includes('--rps')).map((r) => r.workload))];
  for (const wl of workloads) {
    const group = rows.filter((r) => r.workload === wl);
    const max = Math.max(...group.map((r) => r.reqPerSec));
    text(10, y + 14, wl, 'font-size="12" font-weight="bold"');
    y += 20;
    for (const r of group) {
      const w = (r.reqPerSec / max) * barW;
      text(30, y + 13, r.server, 'font-size="12"');
      out.push(
        `<rect x="${labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="14" fill="${COLOURS[r.server] ?? '#888'}"/>`,
      );
      text(
        Math.round(labelW + w + 6),
        y + 13,
        `${Math.round(r.reqPerSec).toLocaleString('en-US')}`,
        'font-size="12"',
      );
      y += 20;
    }
    y += 6;
  }
  const height = y + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
