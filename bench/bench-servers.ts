import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../test/support/etcd-server';
import { freePort, waitForPort } from '../test/support/ports';
import { startProcess, type TestProcess } from '../test/support/processes';

/**
 * The servers the end-to-end benchmark loads, each in its own process so its CPU and RSS are its own: statecar
 * (the built CLI, durable `state.embedded` store), a real etcd, and the do-nothing floors in `bench/floors/`.
 */

/** A running server under test. */
export interface BenchServer {
  readonly name: string;
  readonly pid: number;
  /** `127.0.0.1:<port>` of its gRPC (or etcd) endpoint, if any. */
  readonly grpc?: string;
  /** `127.0.0.1:<port>` of its etcd v3 endpoint, if any. */
  readonly etcd?: string;
  /** `http://127.0.0.1:<port>` of its HTTP endpoint, if any. */
  readonly http?: string;
  stop(): Promise<void>;
}

/** Compiled `dist/` directory (this file runs as `dist/bench/bench-servers.js`). */
const distDir = path.resolve(__dirname, '..');
/** Repository root: the CLI runs from there, as `npm start` does. */
const repoRoot = path.resolve(distDir, '..');

/** Node flags for a profiled server: `--cpu-prof` into `dir` (written when the process exits). */
function profileFlags(profileDir: string | undefined, name: string): string[] {
  if (!profileDir) return [];
  // Several statecars may be profiled in one run: the name keeps their profiles apart.
  name = name.replace(/[^\w.-]+/g, '_');
  fs.mkdirSync(profileDir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`];
}

/** Start one of the floors (`bench/floors/<file>.js`) serving `value`; resolves once it printed its port. */
export async function startFloor(
  name: string,
  file: 'grpc-js-floor' | 'http2-floor' | 'fastify-floor',
  value: string,
  profileDir?: string,
): Promise<BenchServer> {
  const script = path.join(distDir, 'bench', 'floors', `${file}.js`);
  const proc = startProcess(process.execPath, [...profileFlags(profileDir, file), script, value]);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start:\n${proc.output()}`)), 15_000);
    const poll = setInterval(() => {
      const m = /READY (\d+)/.exec(proc.output());
      if (m) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(Number(m[1]));
      }
    }, 20);
    void proc.exited.then((code) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`${file} exited (${code}):\n${proc.output()}`));
    });
  });
  const addr = `127.0.0.1:${port}`;
  return {
    name,
    pid: proc.child.pid!,
    grpc: file === 'fastify-floor' ? undefined : addr,
    http: file === 'fastify-floor' ? `http://${addr}` : undefined,
    stop: async () => void (await proc.stop(3000)),
  };
}

/**
 * The component file of the benchmarked store, also served on the etcd API: the durable embedded engine, or
 * (`memory`) the in-memory one.
 */
function storeComponent(dataDir: string, memory = false): string {
  const dataDirLine = memory ? '' : `\n    - name: dataDir\n      value: ${JSON.stringify(dataDir)}`;
  return `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: ${memory ? 'state.in-memory' : 'state.embedded'}
  version: v1
  metadata:${dataDirLine}
    - name: etcdAPI
      value: "true"
`;
}

/** How {@link startStatecar} runs the sidecar beyond daprd's flags. */
export interface StatecarVariant {
  /** The in-memory store instead of the durable one. */
  memory?: boolean;
  /** Node flags instead of {@link STATECAR_NODE_FLAGS} (bench/flags-compare.ts). */
  nodeFlags?: string[];
}

/**
 * Node flags of every benchmarked sidecar: the deployment's (deploy/Dockerfile's NODE_OPTIONS less the heap cap;
 * BENCH_STATECAR_NODE_FLAGS overrides, space-separated, '' for Node's defaults).
 */
export const STATECAR_NODE_FLAGS: string[] = (
  process.env.BENCH_STATECAR_NODE_FLAGS ?? '--max-semi-space-size=4'
)
  .split(' ')
  .filter((f) => f !== '');

/**
 * Environment every benchmarked sidecar gets on top of the bench's own: the deployment's malloc setting
 * (deploy/Dockerfile's `MALLOC_MMAP_THRESHOLD_`; BENCH_STATECAR_MALLOC_ENV overrides, space-separated NAME=value
 * pairs, '' for glibc's defaults).
 */
export const STATECAR_ENV: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_STATECAR_MALLOC_ENV ?? 'MALLOC_MMAP_THRESHOLD_=131072')
    .split(' ')
    .filter((p) => p.includes('='))
    .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
);

/**
 * Start statecar from `dist/src/cli.js` with daprd's flags on free ports, a durable store in a temp directory and
 * `--etcd-port`; resolves once /v1.0/healthz answers 204. Metrics stay enabled (daprd's default).
 */
export async function startStatecar(
  appId: string,
  profileDir?: string,
  extraArgs: string[] = [],
  name = 'statecar',
  variant: StatecarVariant = {},
): Promise<BenchServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-bench-e2e-'));
  const resources = path.join(dir, 'components');
  fs.mkdirSync(resources);
  fs.writeFileSync(
    path.join(resources, 'statestore.yaml'),
    storeComponent(path.join(dir, 'data'), variant.memory),
  );
  const [httpPort, grpcPort, metricsPort, etcdPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const proc: TestProcess = startProcess(
    process.execPath,
    [
      ...(variant.nodeFlags ?? STATECAR_NODE_FLAGS),
      ...profileFlags(profileDir, name),
      path.join(distDir, 'src', 'cli.js'),
      '--app-id',
      appId,
      '--dapr-http-port',
      String(httpPort),
      '--dapr-grpc-port',
      String(grpcPort),
      '--metrics-port',
      String(metricsPort),
      '--etcd-port',
      String(etcdPort),
      '--resources-path',
      resources,
      '--log-level',
      'warn',
      ...extraArgs,
    ],
    { cwd: repoRoot, env: { ...process.env, ...STATECAR_ENV } },
  );
  const stop = async (): Promise<void> => {
    await proc.stop(10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitForPort(httpPort),
      proc.exited.then((code) => {
        throw new Error(`statecar exited (${code}):\n${proc.output()}`);
      }),
    ]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1.0/healthz`).catch(() => undefined);
      if (res?.status === 204) break;
      if (Date.now() > deadline) throw new Error(`statecar not healthy:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name,
    pid: proc.child.pid!,
    grpc: `127.0.0.1:${grpcPort}`,
    etcd: `127.0.0.1:${etcdPort}`,
    http: `http://127.0.0.1:${httpPort}`,
    stop,
  };
}

/** Start a real etcd 3.4 on loopback with a fresh data directory (default settings: fsync on every commit). */
export async function startRealEtcd(): Promise<BenchServer> {
  const etcd = await startEtcd();
  return { name: 'etcd 3.4', pid: etcd.proc.child.pid!, etcd: etcd.endpoint, stop: () => etcd.stop() };
}
