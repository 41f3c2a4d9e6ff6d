import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcdCluster, type EtcdCluster, type EtcdMember } from '../test/support/etcd-cluster';
import { freePort, waitForPort } from '../test/support/ports';
import { startProcess, type TestProcess } from '../test/support/processes';
import type { E2eComparison, E2eResults, E2eRow } from './e2e-bench';
import { decodeMessage, encodeMessage, grpcCall, grpcFrame } from './grpc-frames';
import { GRPC_HEADERS, runH2load, type H2loadOptions, type H2loadResult } from './h2load';
import { watchProcess, type ProcWindow } from './proc-stats';

/**
 * What the sidecar hop costs on the etcd backend: Dapr GetState (strong) and SaveState through statecar (its own
 * process, `state.etcd` on a 3-member loopback cluster) beside etcd Range (linearizable) and Put sent by the same
 * load generator (h2load, same shape, same value size) straight to the same cluster member statecar talks to. Both
 * sides pay the cluster's Raft round and fsync; the difference is the hop through statecar. Rounds alternate
 * between the two, and the best round of each is kept (noise on a shared machine only slows a run down).
 */

const STORE = 'statestore';
const APP_ID = 'benchapp';
const VALUE = Buffer.alloc(64, 'v');

/** Knobs (from `npm run bench`'s environment). */
export interface EtcdBackendBenchOptions {
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  progress: (msg: string) => void;
}

/** statecar on `state.etcd` with the component pointing at one member, so both sides reach the cluster there. */
async function startStatecarOnEtcd(
  member: EtcdMember,
): Promise<{ proc: TestProcess; grpc: string; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-bench-etcd-'));
  fs.writeFileSync(
    path.join(dir, 'statestore.yaml'),
    `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ${STORE}
spec:
  type: state.etcd
  version: v1
  metadata:
    - name: endpoints
      value: ${JSON.stringify(member.endpoint)}
    - name: keyPrefixPath
      value: statecar-bench
`,
  );
  const [httpPort, grpcPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const cli = path.resolve(__dirname, '..', 'src', 'cli.js');
  // BENCH_CPU_PROF=<dir>: a `--cpu-prof` profile of the sidecar, as the e2e rows write them.
  const prof = process.env.BENCH_CPU_PROF;
  const proc = startProcess(process.execPath, [
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
    cli,
    '--app-id',
    APP_ID,
    '--dapr-http-port',
    String(httpPort),
    '--dapr-grpc-port',
    String(grpcPort),
    '--metrics-port',
    String(metricsPort),
    '--resources-path',
    dir,
    '--log-level',
    'warn',
  ]);
  const stop = async (): Promise<void> => {
    await proc.stop(10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitForPort(httpPort, '127.0.0.1', 30_000),
      proc.exited.then((code) => {
        throw new Error(`statecar exited (${code}):\n${proc.output()}`);
      }),
    ]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1.0/healthz`).catch(() => undefined);
      if (res?.status === 204) break;
      if (Date.now() > deadline) throw new Error(`statecar on etcd not healthy:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { proc, grpc: `127.0.0.1:${grpcPort}`, stop };
}

/** One unary call before the load: h2load sees only HTTP 200, so a gRPC error must be caught here. */
async function expectOk(
  authority: string,
  method: string,
  frame: Buffer,
  check?: (b: Buffer) => string | undefined,
) {
  const res = await grpcCall(authority, method, frame);
  if (res.status !== 0)
    throw new Error(`${authority}${method}: grpc-status ${res.status} ${res.message ?? ''}`);
  const problem = check?.(res.body ?? Buffer.alloc(0));
  if (problem) throw new Error(`${authority}${method}: ${problem}`);
}

/** Run the etcd-backend rows: GetState vs Range, SaveState vs Put, each as a ratio. */
export async function runEtcdBackendBench(o: EtcdBackendBenchOptions): Promise<E2eResults> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-bench-etcd-frames-'));
  const frameFile = (name: string, type: string, fields: Record<string, unknown>): string => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, grpcFrame(encodeMessage(type, fields)));
    return p;
  };
  const files = {
    getState: frameFile('getstate.bin', 'dapr.proto.runtime.v1.GetStateRequest', {
      store_name: STORE,
      key: 'bench-key',
      // StateOptions.StateConsistency.CONSISTENCY_STRONG (protobufjs' verify wants the number).
      consistency: 2,
    }),
    saveState: frameFile('savestate.bin', 'dapr.proto.runtime.v1.SaveStateRequest', {
      store_name: STORE,
      states: [{ key: 'bench-put', value: VALUE }],
    }),
    range: frameFile('range.bin', 'etcdserverpb.RangeRequest', {
      key: Buffer.from('bench-direct/bench-key'),
    }),
    put: frameFile('put.bin', 'etcdserverpb.PutRequest', {
      key: Buffer.from('bench-direct/bench-put'),
      value: VALUE,
    }),
    seed: frameFile('seed.bin', 'etcdserverpb.PutRequest', {
      key: Buffer.from('bench-direct/bench-key'),
      value: VALUE,
    }),
    seedState: frameFile('seedstate.bin', 'dapr.proto.runtime.v1.SaveStateRequest', {
      store_name: STORE,
      states: [{ key: 'bench-key', value: VALUE }],
    }),
  };
  let cluster: EtcdCluster | undefined;
  let statecar: Awaited<ReturnType<typeof startStatecarOnEtcd>> | undefined;
  try {
    o.progress('etcd-backend: starting a 3-member etcd cluster and statecar on state.etcd');
    cluster = await startEtcdCluster({ size: 3 });
    // The leader: a follower would forward every write to it, adding a hop to both sides alike.
    const member = await cluster.leader();
    statecar = await startStatecarOnEtcd(member);
    const etcdPid = member.proc!.child.pid!;
    const GET_STATE = '/dapr.proto.runtime.v1.Dapr/GetState';
    const SAVE_STATE = '/dapr.proto.runtime.v1.Dapr/SaveState';
    const RANGE = '/etcdserverpb.KV/Range';
    const PUT = '/etcdserverpb.KV/Put';
    await expectOk(member.endpoint, PUT, fs.readFileSync(files.seed));
    await expectOk(statecar.grpc, SAVE_STATE, fs.readFileSync(files.seedState));
    await expectOk(member.endpoint, RANGE, fs.readFileSync(files.range), (b) =>
      (decodeMessage('etcdserverpb.RangeResponse', b).kvs as unknown[]).length === 1 ? undefined : 'no key',
    );
    await expectOk(statecar.grpc, GET_STATE, fs.readFileSync(files.getState), (b) =>
      (decodeMessage('dapr.proto.runtime.v1.GetStateResponse', b).data as Buffer).equals(VALUE)
        ? undefined
        : 'GetState did not return the seeded value',
    );
    await expectOk(statecar.grpc, SAVE_STATE, fs.readFileSync(files.saveState));
    await expectOk(member.endpoint, PUT, fs.readFileSync(files.put));

    const shape: Omit<H2loadOptions, 'url' | 'seconds' | 'dataFile'> = {
      clients: 4,
      streams: 16,
      headers: GRPC_HEADERS,
    };
    const loadText = `-c ${shape.clients} -m ${shape.streams}`;
    const pairs = [
      {
        title:
          'etcd backend: Dapr GetState (strong) via statecar vs etcd Range (linearizable) direct (64 streams)',
        name: 'GetState via statecar vs Range direct, same cluster',
        sides: [
          {
            server: 'statecar on state.etcd',
            pid: statecar.proc.child.pid!,
            url: `http://${statecar.grpc}${GET_STATE}`,
            file: files.getState,
          },
          {
            server: `etcd 3.4 leader ${member.name}`,
            pid: etcdPid,
            url: `http://${member.endpoint}${RANGE}`,
            file: files.range,
          },
        ],
      },
      {
        title: 'etcd backend: Dapr SaveState via statecar vs etcd Put direct (64 streams)',
        name: 'SaveState via statecar vs Put direct, same cluster',
        sides: [
          {
            server: 'statecar on state.etcd',
            pid: statecar.proc.child.pid!,
            url: `http://${statecar.grpc}${SAVE_STATE}`,
            file: files.saveState,
          },
          {
            server: `etcd 3.4 leader ${member.name}`,
            pid: etcdPid,
            url: `http://${member.endpoint}${PUT}`,
            file: files.put,
          },
        ],
      },
    ];
    const rows: E2eRow[] = [];
    const comparisons: E2eComparison[] = [];
    for (const pair of pairs) {
      const best: Array<[H2loadResult, ProcWindow] | undefined> = [undefined, undefined];
      const rounds: number[][] = [[], []];
      for (let r = 0; r < o.rounds; r++) {
        for (const [i, side] of pair.sides.entries()) {
          o.progress(
            `etcd-backend: ${pair.title}: ${side.server}, round ${r + 1}/${o.rounds} (${o.seconds} s)`,
          );
          const watch = watchProcess(side.pid);
          let watching = false;
          const res = await runH2load(
            {
              ...shape,
              url: side.url,
              dataFile: side.file,
              seconds: o.seconds,
              warmupSeconds: o.warmupSeconds,
            },
            () => {
              watching = true;
              watch.start();
            },
          );
          if (!watching) watch.start();
          const proc = watch.stop();
          rounds[i]!.push(res.reqPerSec);
          if (!best[i] || res.reqPerSec > best[i]![0].reqPerSec) best[i] = [res, proc];
        }
      }
      const pairRows = pair.sides.map((side, i): E2eRow => {
        const [res, proc] = best[i]!;
        return {
          workload: pair.title,
          server: side.server,
          load: loadText,
          reqPerSec: res.reqPerSec,
          rounds: rounds[i]!,
          meanMs: res.meanMs,
          p50Ms: res.p50Ms,
          p90Ms: res.p90Ms,
          p99Ms: res.p99Ms,
          mcpu: proc.mcpu,
          rssMB: proc.peakRss / 1048576,
          errors: res.failed + res.errored + res.non2xx,
          reqPerCpuSec: proc.mcpu > 0 ? res.reqPerSec / (proc.mcpu / 1000) : NaN,
        };
      });
      rows.push(...pairRows);
      const [via, direct] = pairRows as [E2eRow, E2eRow];
      // Per CPU-second: requests per CPU-second of statecar beside those of the etcd member answering directly.
      const cpuRatio = via.reqPerCpuSec / direct.reqPerCpuSec;
      comparisons.push({
        name: `${pair.name}: throughput`,
        subject: `${via.server}, ${pair.title}`,
        reference: `${direct.server}, ${pair.title}`,
        ratio: via.reqPerSec / direct.reqPerSec,
        cpuRatio: Number.isFinite(cpuRatio) ? cpuRatio : undefined,
      });
      comparisons.push({
        name: `${pair.name}: p50 latency (${via.p50Ms.toFixed(2)} ms vs ${direct.p50Ms.toFixed(2)} ms)`,
        subject: `${via.server}, ${pair.title}`,
        reference: `${direct.server}, ${pair.title}`,
        ratio: via.p50Ms / direct.p50Ms,
      });
    }
    return {
      rows,
      comparisons,
      settings: { seconds: o.seconds, warmupSeconds: o.warmupSeconds, rounds: o.rounds, fixedRateSeconds: 0 },
    };
  } finally {
    o.progress('etcd-backend: stopping statecar and the cluster');
    await statecar?.stop();
    await cluster?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
