import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, waitForPort } from './ports';
import { startProcess, type TestProcess } from './processes';

/** A real etcd (Debian `etcd-server`, 3.4) started by a test on loopback, for differential tests. */
export interface RealEtcd {
  readonly clientPort: number;
  /** `127.0.0.1:<port>`, as etcdctl's `--endpoints` and grpc-js want it. */
  readonly endpoint: string;
  readonly proc: TestProcess;
  /** Stop the server and delete its data directory. */
  stop(): Promise<void>;
}

/** True when the `etcd` and `etcdctl` binaries are on PATH (the server start uses etcdctl to probe readiness). */
export function haveEtcd(): boolean {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    execFileSync('etcdctl', ['version'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
    return true;
  } catch {
    return false;
  }
}

/**
 * Start a single-member etcd with a fresh temporary data dir on free loopback ports and wait until it serves
 * requests. `extraArgs` are appended (e.g. `--experimental-watch-progress-notify-interval=500ms`).
 */
export async function startEtcd(extraArgs: string[] = []): Promise<RealEtcd> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-etcd-'));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const proc = startProcess('etcd', [
    '--name',
    'default',
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    clientUrl,
    '--advertise-client-urls',
    clientUrl,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    `default=${peerUrl}`,
    '--logger',
    'zap',
    '--log-level',
    'error',
    ...extraArgs,
  ]);
  const stop = async (): Promise<void> => {
    await proc.stop(2000);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitForPort(clientPort),
      proc.exited.then((code) => {
        throw new Error(`etcd exited (${code}):\n${proc.output()}`);
      }),
    ]);
    // The port opens before the member has elected itself; wait until a read succeeds.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        execFileSync(
          'etcdctl',
          ['--endpoints', `127.0.0.1:${clientPort}`, '--command-timeout=1s', 'get', 'x'],
          {
            stdio: 'ignore',
            env: { ...process.env, ETCDCTL_API: '3' },
          },
        );
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { clientPort, endpoint: `127.0.0.1:${clientPort}`, proc, stop };
}
