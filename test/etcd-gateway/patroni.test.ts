/**
 * Patroni on statecar: two Patroni nodes (Debian's patroni and PostgreSQL) on loopback with statecar's etcd port as
 * their `etcd3` DCS — Patroni speaks etcd's JSON gateway only. The run: the first node bootstraps and takes the
 * leader key, the second joins as a replica that streams, then the leader's Patroni and PostgreSQL are SIGKILLed
 * (the machine dies) and the replica must be promoted and take writes, with the data written before the crash.
 * The same run on a real etcd 3.4 gives the reference; the bootstrap and failover seconds of both are printed side
 * by side. Times are printed, not asserted: every wait is on readiness, with generous bounds.
 */
import fs from 'node:fs';
import { haveEtcd, startEtcd } from '../support/etcd-server';
import { startSidecar, stateComponent } from '../support/sidecar';
import { clusterDir, havePatroni, PatroniNode, until } from './support/patroni';

jest.setTimeout(600_000);

/** What one run measured, in seconds. */
interface RunTimes {
  bootstrap: number;
  replicaStreaming: number;
  failover: number;
}

const seconds = (ms: number): number => Math.round(ms / 100) / 10;

/** The whole scenario against the DCS at `dcs` (`host:port`). */
async function runCluster(dcs: string, scope: string): Promise<RunTimes> {
  const dir = clusterDir();
  const nodes = [
    await PatroniNode.create(dir, scope, 'node1', dcs),
    await PatroniNode.create(dir, scope, 'node2', dcs),
  ];
  const [first, second] = nodes;
  try {
    const t0 = Date.now();
    first.start();
    await until(async () => (await first.rest('/primary')) === 200, 120_000, 'node1 leader');
    await until(async () => (await first.sql('select 1')) === '1', 60_000, 'node1 accepting SQL');
    const bootstrap = Date.now() - t0;
    await first.sql('create table ha_probe(n int primary key, at timestamptz default now())');
    await first.sql('insert into ha_probe(n) values (1)');

    const t1 = Date.now();
    second.start();
    await until(async () => (await second.rest('/replica')) === 200, 120_000, 'node2 replica');
    await until(
      async () =>
        (await first.sql("select count(*) from pg_stat_replication where state = 'streaming'")) === '1',
      60_000,
      'streaming replication',
    );
    await first.sql('insert into ha_probe(n) values (2)');
    await until(
      async () => (await second.sql('select count(*) from ha_probe')) === '2',
      60_000,
      'rows on replica',
    );
    const replicaStreaming = Date.now() - t1;

    const t2 = Date.now();
    first.kill();
    await until(async () => (await second.rest('/primary')) === 200, 120_000, 'node2 promoted');
    // Promotion takes a moment after Patroni holds the key: the first write that succeeds is the end of failover.
    await until(
      async () => {
        await second.sql('insert into ha_probe(n) values (3)');
        return true;
      },
      60_000,
      'a write on the new leader',
    );
    const failover = Date.now() - t2;
    expect(await second.sql("select string_agg(n::text, ',' order by n) from ha_probe")).toBe('1,2,3');
    expect(await second.sql('select pg_is_in_recovery()')).toBe('f');
    return {
      bootstrap: seconds(bootstrap),
      replicaStreaming: seconds(replicaStreaming),
      failover: seconds(failover),
    };
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n--- node1\n${first.output().slice(-4000)}\n--- node2\n${second.output().slice(-4000)}`,
    );
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const describeIfPatroni = havePatroni() ? describe : describe.skip;

describeIfPatroni('Patroni with statecar as its etcd3 DCS (beside a real etcd 3.4)', () => {
  test('bootstrap, a streaming replica, the leader killed, the replica promoted and writable', async () => {
    const results: [string, RunTimes][] = [];

    const sc = await startSidecar({
      etcdPort: true,
      components: { 'statestore.yaml': stateComponent('statestore', 'state.in-memory', { etcdAPI: 'true' }) },
    });
    try {
      results.push([
        'statecar (embedded engine, --etcd-port)',
        await runCluster(`127.0.0.1:${sc.etcdPort!}`, 'statecar-ha'),
      ]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- statecar\n${sc.proc.output().slice(-4000)}`);
    } finally {
      await sc.stop();
    }

    if (haveEtcd()) {
      const etcd = await startEtcd();
      try {
        results.push(['etcd 3.4 (one member)', await runCluster(etcd.endpoint, 'etcd-ha')]);
      } finally {
        await etcd.stop();
      }
    }

    const rows = results.map(
      ([name, t]) =>
        `${name.padEnd(42)} ${`${t.bootstrap} s`.padStart(9)} ${`${t.replicaStreaming} s`.padStart(9)} ${`${t.failover} s`.padStart(9)}`,
    );
    console.log(
      ['Patroni 2 nodes, ttl 10 s, loop_wait 2 s   bootstrap   replica  failover', ...rows].join('\n'),
    );
  });
});
