import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports';
import { startProcess, type TestProcess } from './processes';

/** Repository root (tests run from TypeScript sources, the sidecar from the built `dist/`). */
export const repoRoot = path.resolve(__dirname, '..', '..');
/** The built CLI; `npm test` builds before running jest. */
export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli.js');

export interface SidecarOptions {
  /** Component YAML files to write into a fresh resources directory: file name → content. */
  components?: Record<string, string>;
  /** An existing resources directory (instead of `components`). */
  resourcesPath?: string;
  appId?: string;
  /** Extra CLI arguments. */
  args?: string[];
  /** Extra environment (merged over the test process's environment). */
  env?: Record<string, string>;
  /** Also serve the etcd API on its own port (`--etcd-port`). */
  etcdPort?: boolean;
  /** Wait until /v1.0/healthz answers 204 (default true). */
  waitHealthy?: boolean;
}

export interface Sidecar {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly etcdPort?: number;
  readonly httpUrl: string;
  readonly resourcesPath: string;
  readonly proc: TestProcess;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | string>;
}

/** Start `statecar` as its own process on free loopback ports and wait until it is healthy. */
export async function startSidecar(opts: SidecarOptions = {}): Promise<Sidecar> {
  const [httpPort, grpcPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const etcdPort = opts.etcdPort ? await freePort() : undefined;
  let resourcesPath = opts.resourcesPath;
  if (!resourcesPath) {
    resourcesPath = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-res-'));
    for (const [name, text] of Object.entries(opts.components ?? {})) {
      fs.writeFileSync(path.join(resourcesPath, name), text);
    }
  }
  const args = [
    cliPath,
    '--app-id',
    opts.appId ?? 'testapp',
    '--dapr-http-port',
    String(httpPort),
    '--dapr-grpc-port',
    String(grpcPort),
    '--metrics-port',
    String(metricsPort),
    '--resources-path',
    resourcesPath,
    ...(etcdPort ? ['--etcd-port', String(etcdPort)] : []),
    ...(opts.args ?? []),
  ];
  const proc = startProcess(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
  });
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await Promise.race([
      waitForPort(httpPort),
      proc.exited.then((code) => {
        throw new Error(`sidecar exited (${code}) before listening:\n${proc.output()}`);
      }),
    ]);
    if (opts.waitHealthy !== false) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const res = await fetch(`${httpUrl}/v1.0/healthz`).catch(() => undefined);
        if (res?.status === 204) break;
        if (Date.now() > deadline) throw new Error(`sidecar not healthy:\n${proc.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
  return {
    httpPort,
    grpcPort,
    metricsPort,
    etcdPort,
    httpUrl,
    resourcesPath,
    proc,
    stop: () => proc.stop(),
  };
}

/** A component file for a state store, in Dapr's format; `spec` adds lines under `spec:` (e.g. ignoreErrors). */
export function stateComponent(
  name: string,
  type: string,
  metadata: Record<string, string> = {},
  spec = '',
): string {
  const meta = Object.entries(metadata)
    .map(([k, v]) => `    - name: ${k}\n      value: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ${name}
spec:
  type: ${type}
  version: v1
${spec}  metadata:
${meta || '    []'}
`;
}
