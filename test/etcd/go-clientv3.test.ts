/**
 * etcd's own Go client (clientv3 3.4 from Debian's golang-etcd-server-dev, built offline in GOPATH mode) against
 * statecar and a real etcd side by side: KV and Watch, the concurrency recipes (mutex, election), Maintenance
 * (Status, HashKV, Alarm, Defragment, MoveLeader, Snapshot, member changes) and Auth (users, roles, enable,
 * credentials allowed and denied, disable). The program (test/go/clientv3check) prints a transcript; both must be
 * equal. The binary is built into the OS temp dir, cached by the hash of its source.
 */
import { createHash } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haveEtcd, type RealEtcd } from '../support/etcd-server';
import { repoRoot } from '../support/sidecar';
import { startEtcdAndStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(300_000);

const SOURCE = path.join(repoRoot, 'test', 'go', 'clientv3check', 'main.go');
const GOCODE = '/usr/share/gocode';

function haveGoClient(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return fs.existsSync(path.join(GOCODE, 'src', 'go.etcd.io', 'etcd', 'clientv3'));
  } catch {
    return false;
  }
}

/** Build (or reuse) the program; returns the binary's path. */
function buildProgram(): string {
  const src = fs.readFileSync(SOURCE);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const root = path.join(os.tmpdir(), 'statecar-go-clientv3');
  const bin = path.join(root, `clientv3check-${hash}`);
  if (fs.existsSync(bin)) return bin;
  const gopath = path.join(root, 'gopath');
  const pkg = path.join(gopath, 'src', 'clientv3check');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'main.go'), src);
  execFileSync('go', ['build', '-o', `${bin}.part`, '.'], {
    cwd: pkg,
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${gopath}:${GOCODE}`,
      GOCACHE: path.join(root, 'cache'),
      GOFLAGS: '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 240_000,
  });
  fs.renameSync(`${bin}.part`, bin);
  return bin;
}

function run(bin: string, endpoint: string): Promise<{ code: number; lines: string[]; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, ['-endpoint', endpoint], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
        lines: stdout.split('\n').filter((l) => l !== ''),
        stderr,
      });
    });
  });
}

const describeIfBoth = haveEtcd() && haveGoClient() ? describe : describe.skip;

describeIfBoth('etcd Go clientv3: real etcd vs statecar', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;
  let bin: string;

  beforeAll(async () => {
    bin = buildProgram();
    ({ etcd, statecar } = await startEtcdAndStatecar({ metadata: { etcdBcryptCost: '4' } }));
  });

  afterAll(async () => {
    await Promise.all([etcd?.stop(), statecar?.stop()]);
  });

  test('the same transcript from both servers', async () => {
    const e = await run(bin, etcd.endpoint);
    const s = await run(bin, statecar.endpoint);
    expect(e.code).toBe(0);
    expect(e.lines.length).toBeGreaterThan(40);
    expect(s.lines).toEqual(e.lines);
    expect(s.code).toBe(0);
  });
});
