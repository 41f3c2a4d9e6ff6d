/**
 * One process per `dataDir`: a second statecar on a held data directory refuses to start (naming the directory and
 * the holder's PID, before binding any port), the holder keeps serving, a SIGKILLed holder leaves nothing locked,
 * and no acknowledged write is lost on either path. Components of one process sharing the directory keep working.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { lockComponent } from './support/components';
import { portArgs, runCli } from '../support/cli-run';
import { request } from './support/http';

let tmp: string;
const started: Sidecar[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-datadir-'));
});

afterAll(async () => {
  for (const s of started) await s.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A resources directory with two state stores and a lock, all on `dataDir`. */
function resources(name: string, dataDir: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'a.yaml'), stateComponent('store-a', 'state.embedded', { dataDir }));
  fs.writeFileSync(
    path.join(dir, 'b.yaml'),
    stateComponent('store-b', 'state.embedded', { dataDir, keyPrefix: 'name' }),
  );
  fs.writeFileSync(path.join(dir, 'lock.yaml'), lockComponent('locks', 'lock.embedded', { dataDir }));
  return dir;
}

async function save(sc: Sidecar, store: string, key: string, value: string): Promise<void> {
  const r = await request(sc.httpUrl, 'POST', `/v1.0/state/${store}`, [{ key, value }]);
  expect(r.status).toBe(204);
}

test('a second process on a held dataDir exits 1 naming it and the holder; after SIGKILL a restart has every write', async () => {
  const dataDir = path.join(tmp, 'data');
  const res = resources('res', dataDir);
  const holder = await startSidecar({ resourcesPath: res });
  started.push(holder);
  const acknowledged = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    await save(holder, 'store-a', `k${i}`, `v${i}`);
    acknowledged.set(`k${i}`, `v${i}`);
  }
  // Components of one process on one directory share it: the second store and the lock work too.
  await save(holder, 'store-b', 'b', 'from b');
  const lock = await request(holder.httpUrl, 'POST', '/v1.0-alpha1/lock/locks', {
    resourceId: 'r',
    lockOwner: 'me',
    expiryInSeconds: 30,
  });
  expect(lock.json).toEqual({ success: true });

  const real = fs.realpathSync(dataDir);
  const pid = holder.proc.child.pid;
  // Same ports as the holder: the data directory is refused first, so nothing tried to bind those ports.
  const samePorts = await runCli([
    '--resources-path',
    res,
    ...portArgs(holder.httpPort, holder.grpcPort, holder.metricsPort),
  ]);
  expect(samePorts.code).toBe(1);
  expect(samePorts.stderr).toContain(`data directory ${real} is held by PID ${pid}`);
  expect(samePorts.stderr).not.toMatch(/already in use/);
  expect(samePorts.stderr.trim().split('\n')).toHaveLength(1);

  // The same directory through a symlink is the same directory.
  const link = path.join(tmp, 'data-link');
  fs.symlinkSync(dataDir, link);
  const linked = await runCli([
    '--resources-path',
    resources('res-link', link),
    ...portArgs(await freePort(), await freePort(), await freePort()),
  ]);
  expect(linked.code).toBe(1);
  expect(linked.stderr).toContain(`data directory ${real} is held by PID ${pid}`);

  // The holder never noticed: everything it acknowledged is there, and it keeps accepting writes.
  for (const [k, v] of acknowledged) {
    expect((await request(holder.httpUrl, 'GET', `/v1.0/state/store-a/${k}`)).json).toBe(v);
  }
  for (let i = 20; i < 30; i++) {
    await save(holder, 'store-a', `k${i}`, `v${i}`);
    acknowledged.set(`k${i}`, `v${i}`);
  }
  const lastEtag = Number(
    (await request(holder.httpUrl, 'GET', '/v1.0/state/store-a/k29')).headers.get('etag'),
  );

  // SIGKILL leaves no lock behind: a restart on the same directory starts and has every acknowledged write.
  holder.proc.child.kill('SIGKILL');
  expect(await holder.proc.exited).toBe('SIGKILL');
  const restarted = await startSidecar({ resourcesPath: res });
  started.push(restarted);
  for (const [k, v] of acknowledged) {
    expect((await request(restarted.httpUrl, 'GET', `/v1.0/state/store-a/${k}`)).json).toBe(v);
  }
  expect((await request(restarted.httpUrl, 'GET', '/v1.0/state/store-b/b')).json).toBe('from b');
  // Revisions go on from where the holder stopped, never back.
  await save(restarted, 'store-a', 'after', 'restart');
  const etag = Number(
    (await request(restarted.httpUrl, 'GET', '/v1.0/state/store-a/after')).headers.get('etag'),
  );
  expect(etag).toBeGreaterThan(lastEtag);
  // The lock file names the process that holds the directory now.
  const holderNow = JSON.parse(fs.readFileSync(path.join(real, 'statecar.lock'), 'utf8')) as { pid: number };
  expect(holderNow.pid).toBe(restarted.proc.child.pid);
}, 120_000);
