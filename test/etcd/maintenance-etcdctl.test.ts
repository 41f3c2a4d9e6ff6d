/**
 * etcd Maintenance with etcdctl, statecar (durable embedded store) beside a real etcd 3.4: HashKV after the same
 * history; `snapshot save`, `snapshot status`, a restore into a new data directory served with the same keys,
 * revisions and leases (and the same snapshot restored by etcd); `defrag` shrinking the store after a delete-heavy
 * run; the space quota raising NOSPACE and the alarm cleared as in etcd; MoveLeader and member changes; bad input
 * (snapshots cut off or corrupted, restore over an existing directory).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haveEtcd, startEtcd, type RealEtcd } from '../support/etcd-server';
import { cliPath } from '../support/sidecar';
import { ctl, type CtlResult } from './support/etcdctl';
import { startStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(180_000);

const describeIfEtcd = haveEtcd() ? describe : describe.skip;

/** Run `statecar snapshot ...`. */
function statecarCli(args: string[]): Promise<CtlResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, 'snapshot', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const json = async (endpoint: string, args: string[]): Promise<Record<string, unknown>> => {
  const r = await ctl(endpoint, [...args, '-w', 'json']);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};

/** Keys with their revisions and versions, as `get --from-key -w json` shows them (values decoded). */
async function dump(endpoint: string): Promise<unknown> {
  const r = (await json(endpoint, ['get', '', '--from-key'])) as {
    header: { revision: number };
    kvs?: Array<Record<string, unknown>>;
  };
  return {
    revision: r.header.revision,
    kvs: (r.kvs ?? []).map((kv) => ({
      ...kv,
      key: Buffer.from(String(kv.key), 'base64').toString(),
      value: Buffer.from(String(kv.value ?? ''), 'base64').toString(),
      lease: kv.lease === undefined ? 0 : 1,
    })),
  };
}

async function dbSize(endpoint: string): Promise<number> {
  const r = (await json(endpoint, ['endpoint', 'status'])) as unknown as Array<{
    Status: { dbSize: number };
  }>;
  return r[0].Status.dbSize;
}

const hashkv = async (endpoint: string, rev = 0): Promise<CtlResult> =>
  ctl(endpoint, ['endpoint', 'hashkv', ...(rev ? ['--rev', String(rev)] : [])]);

describeIfEtcd('etcdctl maintenance: real etcd vs statecar', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-maint-'));
  const others: Array<{ stop(): Promise<unknown> }> = [];

  beforeAll(async () => {
    [etcd, statecar] = await Promise.all([
      startEtcd(),
      startStatecar({ type: 'state.embedded', metadata: { dataDir: path.join(tmp, 'main') } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([etcd?.stop(), statecar?.stop(), ...others.map((o) => o.stop())]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Same etcdctl command on both; returns both results. */
  const both = async (args: string[], input?: string): Promise<[CtlResult, CtlResult]> => [
    await ctl(etcd.endpoint, args, input),
    await ctl(statecar.endpoint, args, input),
  ];

  const hashOf = (r: CtlResult): string => r.stdout.trim().split(', ')[1];

  test('HashKV equals real etcd after the same history, before and after compaction', async () => {
    const lease = await Promise.all(
      [etcd, statecar].map(
        async (t) => ((await json(t.endpoint, ['lease', 'grant', '600'])) as { ID: number }).ID,
      ),
    );
    for (let i = 0; i < 40; i++) await both(['put', `h/${i % 7}`, `value-${i}`]);
    await both(['del', 'h/3']);
    await both(['txn'], 'version("h/1") > "0"\n\nput h/a 1\nput h/b 2\ndel h/0\n\nput h/c 3\n\n');
    await ctl(etcd.endpoint, ['put', 'h/leased', 'x', `--lease=${lease[0].toString(16)}`]);
    await ctl(statecar.endpoint, ['put', 'h/leased', 'x', `--lease=${lease[1].toString(16)}`]);
    for (const rev of [0, 5, 20, 44]) {
      const [e, s] = await Promise.all([hashkv(etcd.endpoint, rev), hashkv(statecar.endpoint, rev)]);
      if (rev === 0 || rev === 44) {
        // The leased key's value carries the lease ID, which differs: compare before it was written.
        continue;
      }
      expect({ rev, hash: hashOf(s) }).toEqual({ rev, hash: hashOf(e) });
    }
    const [ce, cs] = await both(['compaction', '--physical', '30']);
    expect(cs).toEqual(ce);
    for (const rev of [31, 40, 43]) {
      const [e, s] = await Promise.all([hashkv(etcd.endpoint, rev), hashkv(statecar.endpoint, rev)]);
      expect({ rev, hash: hashOf(s), code: s.code }).toEqual({ rev, hash: hashOf(e), code: e.code });
    }
    const [e, s] = await Promise.all([hashkv(etcd.endpoint, 29), hashkv(statecar.endpoint, 29)]);
    expect({ code: s.code, err: s.stderr.split('\n').pop() }).toEqual({
      code: e.code,
      err: e.stderr.split('\n').pop(),
    });
  });

  test('snapshot save, status, restore into a new data dir: same keys, revisions and leases', async () => {
    const file = path.join(tmp, 'statecar.db');
    const saved = await ctl(statecar.endpoint, ['snapshot', 'save', file]);
    expect(saved.stdout).toContain(`Snapshot saved at ${file}`);
    expect(saved.code).toBe(0);
    const status = await ctl(statecar.endpoint, ['snapshot', 'status', file, '-w', 'json']);
    expect(status.code).toBe(0);
    const st = JSON.parse(status.stdout) as { revision: number; totalKey: number };
    const before = (await dump(statecar.endpoint)) as { revision: number };
    expect(st.revision).toBe(before.revision);

    const restored = await statecarCli(['restore', file, '--data-dir', path.join(tmp, 'restored')]);
    expect(restored).toMatchObject({ code: 0 });
    const again = await startStatecar({
      type: 'state.embedded',
      metadata: { dataDir: path.join(tmp, 'restored') },
    });
    others.push(again);
    expect(await dump(again.endpoint)).toEqual(await dump(statecar.endpoint));
    expect((await hashkv(again.endpoint)).stdout.split(', ')[1]).toBe(
      (await hashkv(statecar.endpoint)).stdout.split(', ')[1],
    );
    const leases = await Promise.all(
      [again, statecar].map(async (t) => (await ctl(t.endpoint, ['lease', 'list'])).stdout),
    );
    expect(leases[0]).toBe(leases[1]);
    expect(leases[0]).toMatch(/found 1 leases/);

    // etcd itself restores statecar's snapshot to the same keys and revisions.
    const etcdDir = path.join(tmp, 'etcd-restored');
    const er = await ctl(statecar.endpoint, ['snapshot', 'restore', file, '--data-dir', etcdDir]);
    expect(er.code).toBe(0);
    const fromSnap = await startEtcd(['--data-dir', etcdDir]);
    others.push(fromSnap);
    const d = (await dump(fromSnap.endpoint)) as { kvs: unknown };
    expect(d.kvs).toEqual(((await dump(statecar.endpoint)) as { kvs: unknown }).kvs);

    // And statecar restores etcd's snapshot.
    const etcdFile = path.join(tmp, 'etcd.db');
    expect((await ctl(etcd.endpoint, ['snapshot', 'save', etcdFile])).code).toBe(0);
    expect((await statecarCli(['restore', etcdFile, '--data-dir', path.join(tmp, 'from-etcd')])).code).toBe(
      0,
    );
    const fromEtcd = await startStatecar({
      type: 'state.embedded',
      metadata: { dataDir: path.join(tmp, 'from-etcd') },
    });
    others.push(fromEtcd);
    const a = (await dump(fromEtcd.endpoint)) as { kvs: unknown; revision: number };
    const b = (await dump(etcd.endpoint)) as { kvs: unknown; revision: number };
    expect(a).toEqual(b);
  });

  test('bad snapshots: cut off, corrupted, restored over an existing dir: errors, nothing left behind', async () => {
    const file = path.join(tmp, 'statecar.db');
    const whole = fs.readFileSync(file);
    const cut = path.join(tmp, 'cut.db');
    fs.writeFileSync(cut, whole.subarray(0, 40_000));
    const r1 = await statecarCli(['restore', cut, '--data-dir', path.join(tmp, 'bad1')]);
    expect(r1).toMatchObject({
      code: 1,
      stderr: 'Error: snapshot missing hash but --skip-hash-check=false\n',
    });
    const r1b = await statecarCli([
      'restore',
      cut,
      '--skip-hash-check',
      '--data-dir',
      path.join(tmp, 'bad1'),
    ]);
    expect(r1b.code).toBe(1);
    expect(r1b.stderr).toMatch(/^Error: snapshot file integrity check failed/);
    const bad = Buffer.from(whole);
    bad[5000] ^= 0xff;
    const corrupt = path.join(tmp, 'corrupt.db');
    fs.writeFileSync(corrupt, bad);
    const r2 = await statecarCli(['restore', corrupt, '--data-dir', path.join(tmp, 'bad2')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/^Error: expected sha256 \[[\d ]+\], got \[[\d ]+\]\n$/);
    const e2 = await ctl(etcd.endpoint, [
      'snapshot',
      'restore',
      corrupt,
      '--data-dir',
      path.join(tmp, 'bad-etcd'),
    ]);
    expect(e2.stderr).toMatch(/expected sha256 \[[\d ]+\], got \[[\d ]+\]/);
    const r3 = await statecarCli(['restore', file, '--data-dir', path.join(tmp, 'restored')]);
    expect(r3).toMatchObject({ code: 1, stderr: `Error: data-dir "${path.join(tmp, 'restored')}" exists\n` });
    // statecar leaves nothing behind (etcd's own restore leaves its half-made directory: not compared).
    expect(fs.readdirSync(tmp).filter((f) => /^bad\d/.test(f) || f.includes('.restoring-'))).toEqual([]);
  });

  test('a snapshot stream cut off mid-way ends cleanly and the server keeps serving', async () => {
    for (let i = 0; i < 50; i++) await ctl(statecar.endpoint, ['put', `big/${i}`, 'x'.repeat(20_000)]);
    const child = execFile(
      'etcdctl',
      [`--endpoints=${statecar.endpoint}`, 'snapshot', 'save', path.join(tmp, 'x.db')],
      {
        env: { ...process.env, ETCDCTL_API: '3' },
      },
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const r = await ctl(statecar.endpoint, ['snapshot', 'save', path.join(tmp, 'y.db')]);
    expect(r.code).toBe(0);
    expect((await ctl(statecar.endpoint, ['put', 'after-cut', 'ok'])).stdout).toBe('OK\n');
  });

  test('defrag shrinks the durable store after a delete-heavy run', async () => {
    for (let i = 0; i < 200; i++) await ctl(statecar.endpoint, ['put', `frag/${i % 20}`, 'y'.repeat(30_000)]);
    await ctl(statecar.endpoint, ['del', 'frag/', '--prefix']);
    const st = (await json(statecar.endpoint, ['get', 'x'])) as { header: { revision: number } };
    await ctl(statecar.endpoint, ['compaction', '--physical', String(st.header.revision)]);
    const before = await dbSize(statecar.endpoint);
    const r = await ctl(statecar.endpoint, ['defrag']);
    expect(r.stdout).toBe(`Finished defragmenting etcd member[${statecar.endpoint}]\n`);
    const after = await dbSize(statecar.endpoint);
    expect(after).toBeLessThan(before / 4);
    // Still whole, and writes go on.
    expect((await ctl(statecar.endpoint, ['put', 'after-defrag', 'ok'])).stdout).toBe('OK\n');
    expect((await ctl(statecar.endpoint, ['get', 'after-cut', '--print-value-only'])).stdout).toBe('ok\n');
  });

  test('MoveLeader and member changes answer as a single etcd member does', async () => {
    const ids = await Promise.all(
      [etcd, statecar].map(async (t) => {
        const r = (await json(t.endpoint, ['endpoint', 'status'])) as unknown as Array<{
          Status: { header: { member_id: number } };
        }>;
        return BigInt(r[0].Status.header.member_id).toString(16);
      }),
    );
    // etcd's JSON printer loses precision on 64-bit IDs; take them from member list instead.
    const hex = await Promise.all(
      [etcd, statecar].map(async (t) => (await ctl(t.endpoint, ['member', 'list'])).stdout.split(',')[0]),
    );
    expect(ids.length).toBe(2);
    const norm = (r: CtlResult, h: string): CtlResult => ({
      ...r,
      stdout: r.stdout.replaceAll(h, '<id>').replace(/[0-9a-f]{16}/g, '<id>'),
      stderr: r.stderr.replace(/^\{"level".*\n/gm, '').replaceAll(h, '<id>'),
    });
    const cmp = async (args: (h: string) => string[]): Promise<void> => {
      const e = norm(await ctl(etcd.endpoint, args(hex[0])), hex[0]);
      const s = norm(await ctl(statecar.endpoint, args(hex[1])), hex[1]);
      expect({ args: args('<id>'), ...s }).toEqual({ args: args('<id>'), ...e });
    };
    await cmp((h) => ['move-leader', h]);
    await cmp(() => ['move-leader', '1234']);
    await cmp(() => ['member', 'promote', '1234']);
    await cmp((h) => ['member', 'promote', h]);
    await cmp(() => ['member', 'remove', '1234']);
    await cmp(() => ['member', 'update', '1234', '--peer-urls=http://127.0.0.1:1']);
    await cmp(() => ['member', 'add', 'x', '--peer-urls=notaurl']);
    const removeSelf = await ctl(statecar.endpoint, ['member', 'remove', hex[1]]);
    expect(removeSelf.stderr).toMatch(
      /Error: etcdserver: re-configuration failed due to not enough started members/,
    );
    const add = await ctl(statecar.endpoint, ['member', 'add', 'x', '--peer-urls=http://127.0.0.1:2']);
    expect(add.stderr).toMatch(
      /Error: etcdserver: re-configuration failed due to not enough started members/,
    );
    const upd = await ctl(statecar.endpoint, ['member', 'update', hex[1], '--peer-urls=http://127.0.0.1:9']);
    expect(upd.stdout).toMatch(/^Member +[0-9a-f]+ updated in cluster +[0-9a-f]+\n$/);
    expect((await ctl(statecar.endpoint, ['member', 'list'])).stdout).toContain('http://127.0.0.1:9');
  });
});

describeIfEtcd('space quota: NOSPACE raised and cleared as in etcd', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-quota-'));
  const quota = 2 * 1024 * 1024;

  beforeAll(async () => {
    [etcd, statecar] = await Promise.all([
      startEtcd([`--quota-backend-bytes=${quota}`]),
      startStatecar({
        type: 'state.embedded',
        metadata: { dataDir: path.join(tmp, 'q'), quotaBackendBytes: String(quota) },
      }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([etcd?.stop(), statecar?.stop()]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The same step on both; outputs compared with member IDs and endpoints masked. */
  async function same(args: string[]): Promise<CtlResult> {
    const mask = (r: CtlResult): CtlResult => ({
      code: r.code,
      stdout: r.stdout.replace(/memberID:\d+/g, 'memberID:<id>').replace(/127\.0\.0\.1:\d+/g, '<ep>'),
      stderr: r.stderr
        .replace(/^\{"level".*\n/gm, '')
        .replace(/memberID:\d+/g, 'memberID:<id>')
        .replace(/127\.0\.0\.1:\d+/g, '<ep>'),
    });
    const e = mask(await ctl(etcd.endpoint, args));
    const s = mask(await ctl(statecar.endpoint, args));
    expect({ args, ...s }).toEqual({ args, ...e });
    return s;
  }

  /** Overwrite one key with 100 KB values until the quota answers; returns the error output. */
  async function fill(endpoint: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const r = await ctl(endpoint, ['put', 'fill', String(i).padEnd(100_000, 'z')]);
      if (r.code !== 0) return r.stderr.split('\n').filter((l) => l.startsWith('Error'))[0];
    }
    return 'never full';
  }

  test('writes past the quota fail, the alarm stops puts, compaction + defrag + disarm clear it', async () => {
    const [e, s] = await Promise.all([fill(etcd.endpoint), fill(statecar.endpoint)]);
    expect(s).toBe(e);
    expect(s).toBe('Error: etcdserver: mvcc: database space exceeded');
    await same(['alarm', 'list']);
    await same(['put', 'tiny', '1']);
    await same(['get', 'tiny']);
    await same(['del', 'nothing']);
    await same(['lease', 'grant', '10']);
    const statuses = await Promise.all(
      [etcd, statecar].map(async (t) => (await ctl(t.endpoint, ['endpoint', 'status'])).stdout),
    );
    for (const st of statuses) expect(st).toMatch(/memberID:\d+ alarm:NOSPACE/);
    for (const t of [etcd, statecar]) {
      const r = (await json(t.endpoint, ['get', 'fill'])) as { header: { revision: number } };
      await ctl(t.endpoint, ['compaction', '--physical', String(r.header.revision)]);
      await ctl(t.endpoint, ['defrag']);
    }
    await same(['alarm', 'disarm']);
    await same(['alarm', 'list']);
    await same(['put', 'tiny', '2']);
  });
});
