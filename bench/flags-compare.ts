import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startFloor, startStatecar, type BenchServer } from './bench-servers';
import type { BenchResult } from './engine-bench';
import { encodeMessage, frameFiles, grpcCall, grpcFrame, readRequestFiles } from './grpc-frames';
import { GRPC_HEADERS, runH2load, type H2loadOptions } from './h2load';
import { rssBytes, watchProcess } from './proc-stats';

/**
 * The sidecar's Node flags side by side (BENCH_ONLY=flags): for each set of flags, a statecar process (durable
 * store, metrics on) measured for RSS 2 s after start and the two writes that seed its keys, RSS and CPU at Dapr's
 * fixed rate (GetState, 1,000 req/s over 16 connections), and saturated GetState and etcd Range throughput (128
 * streams) with requests per CPU-second, beside the grpc-js floor's GetState in the same rounds. The variants run
 * alternately, round after round, so the machine's load falls on all of them alike; throughput is each variant's
 * best round.
 *
 * BENCH_FLAG_VARIANTS: flag sets separated by `;` (default: semi-spaces of 2 MB (also with `--optimize-for-size`),
 * 4 MB (the deployment's) and 8 MB).
 */

const MB = 1048576;
const STORE = 'statestore';
const VALUE_JSON = JSON.stringify({ id: 'bench', payload: 'x'.repeat(40), n: 12345 });
const DEFAULT_VARIANTS =
  '--max-semi-space-size=2;--max-semi-space-size=2 --optimize-for-size;--max-semi-space-size=4;--max-semi-space-size=8';

export interface FlagsCompareOptions {
  fixedSeconds: number;
  seconds: number;
  rounds: number;
  progress: (msg: string) => void;
}

interface VariantFigures {
  flags: string;
  restMB: number[];
  fixedPeakMB: number[];
  fixedMcpu: number[];
  getState: { rps: number; perCpu: number }[];
  range: { rps: number; perCpu: number }[];
  grpcJsGetState: number[];
}

/** One h2load run against `pid`'s server, with its CPU. */
async function load(
  pid: number,
  o: Omit<H2loadOptions, 'warmupSeconds'> & { warmupSeconds: number },
): Promise<{ rps: number; mcpu: number; peakMB: number }> {
  const watch = watchProcess(pid);
  let started = false;
  const res = await runH2load(o, () => {
    started = true;
    watch.start();
  });
  if (!started) watch.start();
  const w = watch.stop();
  return { rps: res.reqPerSec, mcpu: w.mcpu, peakMB: w.peakRss / MB };
}

/** Start one variant's sidecar and seed the keys the loads read. */
async function startVariant(flags: string[]): Promise<BenchServer> {
  const s = await startStatecar('benchapp', undefined, [], 'statecar', { nodeFlags: flags });
  const save = await fetch(`${s.http}/v1.0/state/${STORE}`, {
    method: 'POST',
    body: JSON.stringify([{ key: 'bench-key', value: JSON.parse(VALUE_JSON) }]),
  });
  if (save.status !== 204) throw new Error(`seeding failed: ${save.status}`);
  const put = await grpcCall(
    s.etcd!,
    '/etcdserverpb.KV/Put',
    grpcFrame(
      encodeMessage('etcdserverpb.PutRequest', {
        key: Buffer.from('bench-range'),
        value: Buffer.alloc(64, 'p'),
      }),
    ),
  );
  if (put.status !== 0) throw new Error(`seeding Range key failed: ${put.status}`);
  return s;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const best = <T>(xs: T[], by: (x: T) => number): T => xs.reduce((a, b) => (by(b) > by(a) ? b : a));

/** Run the comparison; one row per variant and figure. */
export async function benchFlagsCompare(o: FlagsCompareOptions): Promise<BenchResult[]> {
  const variants = (process.env.BENCH_FLAG_VARIANTS ?? DEFAULT_VARIANTS)
    .split(';')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-bench-flags-'));
  const { getStateFile, rangeFile } = readRequestFiles(frameFiles(tmp), STORE);
  const figures: VariantFigures[] = variants.map((flags) => ({
    flags,
    restMB: [],
    fixedPeakMB: [],
    fixedMcpu: [],
    getState: [],
    range: [],
    grpcJsGetState: [],
  }));
  const grpcFloor = await startFloor('grpc-js floor', 'grpc-js-floor', VALUE_JSON);
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const f of figures) {
        o.progress(`flags: round ${round + 1}/${o.rounds}: ${f.flags || "(Node's defaults)"}`);
        const s = await startVariant(f.flags.split(' ').filter((x) => x !== ''));
        try {
          await new Promise((r) => setTimeout(r, 2000));
          f.restMB.push(rssBytes(s.pid) / MB);
          const fixed = await load(s.pid, {
            url: `http://${s.grpc}/dapr.proto.runtime.v1.Dapr/GetState`,
            clients: 16,
            streams: 1,
            rpsPerClient: 62.5,
            staggerClients: true,
            headers: GRPC_HEADERS,
            dataFile: getStateFile,
            seconds: o.fixedSeconds,
            warmupSeconds: 3,
          });
          f.fixedPeakMB.push(fixed.peakMB);
          f.fixedMcpu.push(fixed.mcpu);
          const sat = {
            clients: 4,
            streams: 32,
            headers: GRPC_HEADERS,
            seconds: o.seconds,
            warmupSeconds: 1,
          };
          const gs = await load(s.pid, {
            ...sat,
            url: `http://${s.grpc}/dapr.proto.runtime.v1.Dapr/GetState`,
            dataFile: getStateFile,
          });
          f.getState.push({ rps: gs.rps, perCpu: gs.rps / (gs.mcpu / 1000) });
          const floor = await load(grpcFloor.pid, {
            ...sat,
            url: `http://${grpcFloor.grpc}/dapr.proto.runtime.v1.Dapr/GetState`,
            dataFile: getStateFile,
          });
          f.grpcJsGetState.push(floor.rps);
          const rg = await load(s.pid, {
            ...sat,
            url: `http://${s.etcd}/etcdserverpb.KV/Range`,
            dataFile: rangeFile,
          });
          f.range.push({ rps: rg.rps, perCpu: rg.rps / (rg.mcpu / 1000) });
        } finally {
          await s.stop();
        }
      }
    }
  } finally {
    await grpcFloor.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const out: BenchResult[] = [];
  const base = figures[0];
  for (const f of figures) {
    const label = `flags [${f.flags || "Node's defaults"}]`;
    const gs = best(f.getState, (x) => x.rps);
    const rg = best(f.range, (x) => x.rps);
    const floor = Math.max(...f.grpcJsGetState);
    out.push(
      {
        name: `${label}: RSS 2 s after start and two seeding writes (median of ${f.restMB.length})`,
        value: median(f.restMB),
        unit: 'MB',
        server: 'statecar process',
      },
      {
        name: `${label}: fixed-rate GetState peak RSS (median; CPU ${Math.round(median(f.fixedMcpu))} mCPU)`,
        value: median(f.fixedPeakMB),
        unit: 'MB',
        server: 'statecar process',
        target: { description: '<= 85 MB', met: median(f.fixedPeakMB) <= 85 },
      },
      {
        name: `${label}: GetState 128 streams (${Math.round(gs.perCpu)} req/CPU-s; vs ${base.flags}: ${(gs.rps / best(base.getState, (x) => x.rps).rps).toFixed(2)}x)`,
        value: gs.rps,
        unit: 'req/s',
        server: 'statecar process',
        floor: { name: 'grpc-js floor, same rounds', value: floor },
        ratio: gs.rps / floor,
        target: { description: '>= 1.4x grpc-js floor', met: gs.rps / floor >= 1.4 },
      },
      {
        name: `${label}: etcd Range 128 streams (${Math.round(rg.perCpu)} req/CPU-s; vs ${base.flags}: ${(rg.rps / best(base.range, (x) => x.rps).rps).toFixed(2)}x)`,
        value: rg.rps,
        unit: 'req/s',
        server: 'statecar process',
      },
    );
  }
  return out;
}
