import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Running nghttp2's `h2load` and reading its results: throughput and latency summary from its report, and exact
 * percentiles from the per-request log (`--log-file`), which the report does not give.
 */

/** One h2load run. */
export interface H2loadOptions {
  url: string;
  /** Connections (-c). */
  clients: number;
  /** Max concurrent streams per connection (-m); for --h1 this is pipelining depth, keep 1. */
  streams: number;
  /** Measured duration in seconds (-D). */
  seconds: number;
  /** Warm-up before the measured period (--warm-up-time), seconds. */
  warmupSeconds?: number;
  /** Request body file (-d); its presence makes the requests POSTs. */
  dataFile?: string;
  /** Extra request headers (-H). */
  headers?: string[];
  /** HTTP/1.1 instead of HTTP/2 prior knowledge. */
  h1?: boolean;
  /** Fixed rate per connection (--rps). */
  rpsPerClient?: number;
  /** h2load worker threads (-t); default 1. */
  threads?: number;
  /** With `rpsPerClient`: one h2load process per connection, start times spread evenly (see runH2load). */
  staggerClients?: boolean;
}

/** h2load's figures for one run. */
export interface H2loadResult {
  reqPerSec: number;
  succeeded: number;
  failed: number;
  errored: number;
  /** Responses with a non-2xx status. */
  non2xx: number;
  /** Latency in ms, from h2load's report. */
  meanMs: number;
  sdMs: number;
  /** Percentiles in ms from the per-request log. */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Value of a duration printed by h2load (`123us`, `1.23ms`, `1.2s`) in ms. */
function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : v * 1000;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Per-request latencies (ms) of successful requests in an h2load `--log-file`. */
function latenciesMs(logText: string): number[] {
  const lat: number[] = [];
  for (const line of logText.split('\n')) {
    const parts = line.split('\t');
    // Columns: start (us since epoch), HTTP status (-1 for a failed request), duration (us).
    if (parts.length >= 3 && Number(parts[1]) > 0) lat.push(Number(parts[2]) / 1000);
  }
  return lat;
}

/** Parse h2load's report (stdout) and its log file into a result. */
export function parseH2load(stdout: string, logText: string): H2loadResult {
  const fin = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(stdout);
  const reqs =
    /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(stdout);
  if (!fin || !reqs || !time) throw new Error(`unexpected h2load output:\n${stdout}`);
  const sorted = Float64Array.from(latenciesMs(logText)).sort();
  return {
    reqPerSec: Number(fin[1]),
    succeeded: Number(reqs[1]),
    failed: Number(reqs[2]),
    errored: Number(reqs[3]),
    non2xx: codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0,
    meanMs: toMs(time[3]),
    sdMs: toMs(time[4]),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
  };
}

/** The h2load command line for `o` (without the log file). */
export function h2loadArgs(o: H2loadOptions): string[] {
  const args = ['-c', String(o.clients), '-m', String(o.streams), '-t', String(o.threads ?? 1)];
  args.push('-D', String(o.seconds));
  if (o.warmupSeconds) args.push(`--warm-up-time=${o.warmupSeconds}`);
  if (o.dataFile) args.push('-d', o.dataFile);
  for (const h of o.headers ?? []) args.push('-H', h);
  if (o.h1) args.push('--h1');
  if (o.rpsPerClient !== undefined) args.push(`--rps=${o.rpsPerClient}`);
  args.push(o.url);
  return args;
}

/**
 * Run h2load and parse its output. `onMeasureStart` fires when the warm-up should be over, so process statistics
 * can cover only the measured period.
 */
/** Run h2load with `args`; resolves with its stdout. */
function execH2load(args: string[], timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile('h2load', args, { maxBuffer: 16 * 1024 * 1024, timeout: timeoutMs }, (err, out, errOut) =>
      err
        ? reject(new Error(`h2load ${args.join(' ')} failed: ${err.message}\n${out}${errOut}`))
        : resolve(out),
    );
  });
}

/**
 * Run h2load and parse its output. `onMeasureStart` fires when the warm-up should be over, so process statistics
 * can cover only the measured period.
 *
 * With `staggerClients` and a fixed rate, each connection is its own h2load process (`-c 1`), started at an even
 * offset within one request interval: one h2load process fires all its connections' rate timers together, so 16
 * connections at 62.5 req/s each arrive as a burst of 16 every 16 ms rather than as a steady 1,000 req/s, and
 * the queueing inside each burst (not the server) would dominate p90.
 */
export async function runH2load(o: H2loadOptions, onMeasureStart?: () => void): Promise<H2loadResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-h2load-'));
  const timeoutMs = (o.seconds + (o.warmupSeconds ?? 0) + 60) * 1000;
  const timer = onMeasureStart ? setTimeout(onMeasureStart, (o.warmupSeconds ?? 0) * 1000) : undefined;
  try {
    if (!o.staggerClients || o.rpsPerClient === undefined || o.clients === 1) {
      const log = path.join(dir, 'requests.log');
      const stdout = await execH2load([...h2loadArgs(o), `--log-file=${log}`], timeoutMs);
      return parseH2load(stdout, fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
    }
    const intervalMs = 1000 / o.rpsPerClient;
    const runs = Array.from({ length: o.clients }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * intervalMs) / o.clients));
      const log = path.join(dir, `requests-${i}.log`);
      const stdout = await execH2load([...h2loadArgs({ ...o, clients: 1 }), `--log-file=${log}`], timeoutMs);
      return { stdout, log: fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '' };
    });
    const parts = await Promise.all(runs);
    return mergeResults(
      parts.map((p) => parseH2load(p.stdout, '')),
      parts.map((p) => p.log).join('\n'),
    );
  } finally {
    if (timer) clearTimeout(timer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One result for several h2load processes run side by side: rates add up, latencies come from all the logs. */
function mergeResults(parts: H2loadResult[], logText: string): H2loadResult {
  const lat = latenciesMs(logText);
  const mean = lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length);
  const sd = Math.sqrt(lat.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, lat.length));
  const sorted = Float64Array.from(lat).sort();
  const sum = (f: (r: H2loadResult) => number): number => parts.reduce((a, r) => a + f(r), 0);
  return {
    reqPerSec: sum((r) => r.reqPerSec),
    succeeded: sum((r) => r.succeeded),
    failed: sum((r) => r.failed),
    errored: sum((r) => r.errored),
    non2xx: sum((r) => r.non2xx),
    meanMs: mean,
    sdMs: sd,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
  };
}

/** Standard headers of a gRPC call as h2load must send them. */
export const GRPC_HEADERS = ['content-type: application/grpc', 'te: trailers'];
