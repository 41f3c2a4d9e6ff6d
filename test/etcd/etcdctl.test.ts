/**
 * The real `etcdctl` 3.4 against statecar. Deterministic commands run against a real etcd 3.4 too and their output
 * must be identical; commands whose output carries server-chosen IDs or timings are checked by pattern.
 */
import { haveEtcd, type RealEtcd } from '../support/etcd-server';
import { CtlProcess, ctl, type CtlResult } from './support/etcdctl';
import { startEtcdAndStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(60_000);

const describeIfEtcd = haveEtcd() ? describe : describe.skip;

describeIfEtcd('etcdctl 3.4 against statecar', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;

  beforeAll(async () => {
    ({ etcd, statecar } = await startEtcdAndStatecar());
  });

  afterAll(async () => {
    await Promise.all([etcd?.stop(), statecar?.stop()]);
  });

  /** etcdctl's JSON log lines carry timestamps and connection IDs; the rest of stderr must match. */
  const withoutLogLines = (r: CtlResult): CtlResult => ({
    ...r,
    // -w json prints the header IDs, which legitimately differ.
    stdout: r.stdout.replace(/"(cluster_id|member_id|raft_term)":\d+/g, '"$1":"?"'),
    stderr: r.stderr
      .split('\n')
      .filter((l) => !l.startsWith('{"level"'))
      .join('\n'),
  });

  /** Run on both; outputs (stdout, stderr without log lines, exit code) must match. Returns statecar's. */
  async function same(args: string[], input?: string): Promise<CtlResult> {
    const e = withoutLogLines(await ctl(etcd.endpoint, args, input));
    const s = withoutLogLines(await ctl(statecar.endpoint, args, input));
    expect({ args, ...s }).toEqual({ args, ...e });
    return s;
  }

  /** `-w json` output without the fields that legitimately differ (IDs, raft term). */
  function jsonWithoutIds(out: string): unknown {
    return JSON.parse(out, (k, v: unknown) =>
      ['cluster_id', 'member_id', 'raft_term'].includes(k) ? undefined : v,
    );
  }

  async function sameJson(args: string[]): Promise<void> {
    const e = await ctl(etcd.endpoint, [...args, '-w', 'json']);
    const s = await ctl(statecar.endpoint, [...args, '-w', 'json']);
    expect(s.code).toBe(e.code);
    expect({ args, out: jsonWithoutIds(s.stdout) }).toEqual({ args, out: jsonWithoutIds(e.stdout) });
  }

  test('put / get: prefix, from-key, limit, rev, sort, keys-only, prev-kv, json', async () => {
    for (const [k, v] of [
      ['foo', 'bar'],
      ['foo/a', '3'],
      ['foo/b', '1'],
      ['foo/c', '2'],
      ['goo', 'x'],
    ]) {
      expect((await same(['put', k!, v!])).stdout).toBe('OK\n');
    }
    await same(['put', 'foo', 'baz', '--prev-kv']);
    await same(['get', 'foo']);
    await same(['get', 'foo', '--prefix']);
    await same(['get', 'foo/', '--from-key']);
    await same(['get', 'foo/a', 'foo/c']);
    await same(['get', 'foo', '--prefix', '--limit=2']);
    await same(['get', 'foo', '--rev=2']);
    await same(['get', 'foo', '--prefix', '--sort-by=VALUE', '--order=DESCEND']);
    await same(['get', 'foo', '--prefix', '--sort-by=MODIFY', '--order=ASCEND']);
    await same(['get', 'foo', '--prefix', '--keys-only']);
    await same(['get', 'foo', '--prefix', '--print-value-only']);
    await same(['get', '', '--prefix', '--consistency=s']);
    await sameJson(['get', 'foo', '--prefix', '--limit=1']);
    await same(['get', 'foo', '--rev=1000']);
    await same(['put', '', 'x']);
    await same(['put', 'nokey', '--ignore-value']);
  });

  test('del: key, range, prefix, prev-kv', async () => {
    for (const k of ['d/a', 'd/b', 'd/c', 'd/d']) await same(['put', k, k]);
    expect((await same(['del', 'd/a'])).stdout).toBe('1\n');
    await same(['del', 'd/a']);
    await same(['del', 'd/b', 'd/c', '--prev-kv']);
    await same(['del', 'd/', '--prefix']);
    await same(['get', 'd/', '--prefix']);
  });

  test('txn (interactive form): success, failure, errors', async () => {
    await same(['put', 'tx', '1']);
    const ok = await same(
      ['txn', '-i'],
      'value("tx") = "1"\nversion("tx") = "1"\n\nput tx 2\nget tx\n\nput tx failed\n\n',
    );
    expect(ok.stdout).toContain('SUCCESS');
    const failed = await same(['txn', '-i'], 'mod("tx") < "3"\n\ndel tx\n\nget tx\nput tx2 v\n\n');
    expect(failed.stdout).toContain('FAILURE');
    await same(['txn', '-i'], 'create("none") = "0"\n\nput t/a 1\nput t/a 2\n\n\n');
    await same(['txn', '-w', 'json'], 'val("tx") != "2"\n\nput x y\n\nget tx\n\n');
  });

  test('watch: live events, --prefix, --rev history with --prev-kv, compacted --rev', async () => {
    const live = new CtlProcess(statecar.endpoint, ['watch', 'w', '--prefix']);
    // etcdctl prints nothing when the watch is created: write a marker until it shows up, then start.
    // The same number of marker writes then goes to etcd, keeping both servers' revisions in step.
    let markers = 0;
    while (!live.stdout.includes('w/ready')) {
      if (markers > 100) throw new Error(`etcdctl watch never started: ${live.stderr}`);
      await ctl(statecar.endpoint, ['put', 'w/ready', 'x']);
      markers++;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < markers; i++) await ctl(etcd.endpoint, ['put', 'w/ready', 'x']);
    await ctl(statecar.endpoint, ['put', 'w/1', 'one']);
    await ctl(statecar.endpoint, ['put', 'w/2', 'two']);
    await ctl(statecar.endpoint, ['del', 'w/1']);
    await live.waitFor(/PUT\nw\/1\none\nPUT\nw\/2\ntwo\nDELETE\nw\/1\n/);
    await live.stop();
    await ctl(etcd.endpoint, ['put', 'w/1', 'one']);
    await ctl(etcd.endpoint, ['put', 'w/2', 'two']);
    await ctl(etcd.endpoint, ['del', 'w/1']);
    // History from the first w/ write, with previous values, on both servers: identical output.
    const first = JSON.parse((await ctl(statecar.endpoint, ['get', 'w/2', '-w', 'json'])).stdout) as {
      kvs: { create_revision: number }[];
    };
    const rev = String(first.kvs[0]!.create_revision - 1);
    const outputs: string[] = [];
    for (const ep of [etcd.endpoint, statecar.endpoint]) {
      const h = new CtlProcess(ep, ['watch', 'w', '--prefix', `--rev=${rev}`, '--prev-kv']);
      await h.waitFor(/DELETE\nw\/1\none\nw\/1\n\n/);
      await h.stop();
      outputs.push(h.stdout);
    }
    expect(outputs[1]).toBe(outputs[0]);
    // A compacted start revision: etcdctl reports the cancel and exits.
    const cur = JSON.parse((await ctl(statecar.endpoint, ['get', 'w/2', '-w', 'json'])).stdout) as {
      header: { revision: number };
    };
    await same(['compaction', String(cur.header.revision)]);
    const results: string[] = [];
    for (const ep of [etcd.endpoint, statecar.endpoint]) {
      const c = new CtlProcess(ep, ['watch', 'w', '--prefix', '--rev=2']);
      const code = await c.exitWithin(5000);
      await c.stop('SIGKILL');
      results.push(`${String(code)}|${c.stdout}|${c.stderr}`);
    }
    expect(results[1]).toBe(results[0]);
  });

  test('watch -i: interactive watch and progress requests', async () => {
    const outputs: string[] = [];
    for (const ep of [etcd.endpoint, statecar.endpoint]) {
      const w = new CtlProcess(ep, ['watch', '-i']);
      w.child.stdin!.write('watch ip\nprogress\n');
      await w.waitFor(/progress notify: \d+\n/);
      await ctl(ep, ['put', 'ip', 'v']);
      await w.waitFor(/PUT\nip\nv\n/);
      w.child.stdin!.end();
      const code = await w.exitWithin(5000);
      await w.stop('SIGKILL');
      outputs.push(`${String(code)}|${w.stdout}|${w.stderr}`);
    }
    expect(outputs[1]).toBe(outputs[0]);
  });

  test('compaction: ok, already compacted, future; reads below the compaction point fail', async () => {
    await same(['put', 'c', '1']);
    await same(['put', 'c', '2']);
    const rev = (
      JSON.parse((await ctl(statecar.endpoint, ['get', 'c', '-w', 'json'])).stdout) as {
        header: { revision: number };
      }
    ).header.revision;
    expect((await same(['compaction', String(rev - 1)])).stdout).toBe(`compacted revision ${rev - 1}\n`);
    await same(['compaction', String(rev - 1)]);
    await same(['compaction', '--physical', String(rev + 100)]);
    await same(['get', 'c', `--rev=${rev - 2}`]);
    await same(['get', 'c', `--rev=${rev - 1}`]);
  });

  test('lease: grant, keep-alive, timetolive, list, revoke, attach', async () => {
    const grant = await ctl(statecar.endpoint, ['lease', 'grant', '60']);
    const m = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$/.exec(grant.stdout);
    expect(m).not.toBeNull();
    const id = m![1]!;
    expect((await ctl(statecar.endpoint, ['put', 'leased', 'v', `--lease=${id}`])).stdout).toBe('OK\n');
    const once = await ctl(statecar.endpoint, ['lease', 'keep-alive', '--once', id]);
    expect(once.stdout).toBe(`lease ${id} keepalived with TTL(60)\n`);
    const ttl = await ctl(statecar.endpoint, ['lease', 'timetolive', id, '--keys']);
    expect(ttl.stdout).toMatch(
      new RegExp(
        `^lease ${id} granted with TTL\\(60s\\), remaining\\(5\\ds\\), attached keys\\(\\[leased\\]\\)\\n$`,
      ),
    );
    const list = await ctl(statecar.endpoint, ['lease', 'list']);
    expect(list.stdout).toContain(`found 1 leases\n${id}\n`);
    // A keep-alive stream renews until stopped.
    const ka = new CtlProcess(statecar.endpoint, ['lease', 'keep-alive', id]);
    await ka.waitFor(new RegExp(`lease ${id} keepalived with TTL\\(60\\)`));
    await ka.stop();
    expect((await ctl(statecar.endpoint, ['lease', 'revoke', id])).stdout).toBe(`lease ${id} revoked\n`);
    expect((await ctl(statecar.endpoint, ['get', 'leased'])).stdout).toBe('');
    expect((await ctl(statecar.endpoint, ['lease', 'timetolive', id])).stdout).toBe(
      `lease ${id} already expired\n`,
    );
    // Errors are the same as etcd's.
    await same(['lease', 'revoke', '1234abcd']);
    await same(['put', 'k', 'v', '--lease=1234abcd']);
    await same(['lease', 'keep-alive', '--once', '1234abcd']);
    await same(['lease', 'timetolive', '1234abcd']);
  });

  test('lock: holder, queued waiter gets the lock when the holder exits; exec mode', async () => {
    const holder = new CtlProcess(statecar.endpoint, ['lock', 'mylock']);
    const [, holderKey] = await holder.waitFor(/^(mylock\/[0-9a-f]+)\n/);
    const waiter = new CtlProcess(statecar.endpoint, ['lock', 'mylock']);
    await new Promise((r) => setTimeout(r, 700));
    expect(waiter.stdout).toBe('');
    await holder.stop('SIGINT');
    const [, waiterKey] = await waiter.waitFor(/^(mylock\/[0-9a-f]+)\n/);
    expect(waiterKey).not.toBe(holderKey);
    await waiter.stop('SIGINT');
    const exec = await ctl(statecar.endpoint, [
      'lock',
      'mylock',
      '--',
      'sh',
      '-c',
      'echo "held $ETCD_LOCK_KEY"',
    ]);
    expect(exec.stdout).toMatch(/^held mylock\/[0-9a-f]+\n$/);
  });

  test('elect: campaign, observe with -l, leadership passes on exit', async () => {
    const first = new CtlProcess(statecar.endpoint, ['elect', 'myelection', 'p1']);
    await first.waitFor(/^myelection\/[0-9a-f]+\np1\n/);
    const observer = new CtlProcess(statecar.endpoint, ['elect', '-l', 'myelection']);
    await observer.waitFor(/myelection\/[0-9a-f]+\np1\n/);
    const second = new CtlProcess(statecar.endpoint, ['elect', 'myelection', 'p2']);
    await new Promise((r) => setTimeout(r, 700));
    expect(second.stdout).toBe('');
    await first.stop('SIGINT');
    await second.waitFor(/^myelection\/[0-9a-f]+\np2\n/);
    await observer.waitFor(/p1\n[\s\S]*p2\n/);
    await Promise.all([second.stop('SIGINT'), observer.stop('SIGINT')]);
  });

  test('endpoint status, endpoint health, member list', async () => {
    const st = await ctl(statecar.endpoint, ['endpoint', 'status', '-w', 'json']);
    expect(st.code).toBe(0);
    const [status] = JSON.parse(st.stdout) as { Endpoint: string; Status: Record<string, unknown> }[];
    expect(status!.Endpoint).toBe(statecar.endpoint);
    const header = status!.Status.header as Record<string, unknown>;
    expect(status!.Status.leader).toBe(header.member_id);
    // The etcd version whose behaviour is served: the installed etcd 3.4's.
    expect(status!.Status.version).toBe('3.4.23');
    const table = await ctl(statecar.endpoint, ['endpoint', 'status']);
    expect(table.stdout).toMatch(
      new RegExp(
        `^${statecar.endpoint}, [0-9a-f]+, 3\\.\\d+\\.\\d+, [\\d.]+ \\w+, true, false, \\d+, \\d+, \\d+, \\n$`,
      ),
    );
    const health = await ctl(statecar.endpoint, ['endpoint', 'health']);
    expect(health.stderr + health.stdout).toMatch(
      new RegExp(`^${statecar.endpoint} is healthy: successfully committed proposal`),
    );
    expect(health.code).toBe(0);
    const members = await ctl(statecar.endpoint, ['member', 'list']);
    expect(members.stdout).toMatch(
      /^[0-9a-f]+, started, statecar, http:\/\/localhost:2380, http:\/\/127\.0\.0\.1:\d+, false\n$/,
    );
    // --cluster dials the members' client URLs from MemberList, sending the whole URL as :authority (the authority
    // front's case).
    const cluster = await ctl(statecar.endpoint, ['endpoint', 'status', '--cluster']);
    expect(cluster.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+, [0-9a-f]+, 3\.4\.23, /);
    expect((await ctl(statecar.endpoint, ['endpoint', 'health', '--cluster'])).code).toBe(0);
  });
});
