/**
 * The cluster fixture the etcd-backend tests stand on: it must find the leader, survive the leader's SIGKILL with a
 * new one elected, bring a member back on its data dir, and restart the whole cluster with the data kept.
 */
import { execFileSync } from 'node:child_process';
import { haveEtcd } from '../support/etcd-server';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveOpenssl, makeTestPki } from '../support/etcd-tls';

const describeIf = haveEtcd() ? describe : describe.skip;

function etcdctl(endpoints: string, ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', endpoints, '--command-timeout=10s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    encoding: 'utf8',
  });
}

describeIf('etcd cluster fixture (3 members on loopback)', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  }, 90_000);
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('elects a leader every member agrees on, and serves writes', async () => {
    const leader = await cluster.leader();
    expect(cluster.members).toContain(leader);
    expect(cluster.endpoints()).toHaveLength(3);
    etcdctl(cluster.endpointList(), 'put', 'k', 'v1');
    expect(etcdctl(cluster.endpointList(), 'get', 'k', '--print-value-only').trim()).toBe('v1');
  });

  it('replaces a SIGKILLed leader, and takes the member back on its own data dir', async () => {
    const old = await cluster.leader();
    await cluster.kill(old.index);
    expect(old.running).toBe(false);
    const next = await cluster.leader();
    expect(next.index).not.toBe(old.index);
    etcdctl(cluster.endpointList(), 'put', 'k', 'v2');
    await cluster.restartMember(old.index);
    await cluster.waitReady();
    expect(etcdctl(old.endpoint, 'get', 'k', '--print-value-only').trim()).toBe('v2');
  }, 90_000);

  it('loses quorum with 2 of 3 down and regains it when one returns', async () => {
    const leader = await cluster.leader();
    const others = cluster.members.filter((m) => m !== leader);
    await cluster.kill(others[0].index);
    await cluster.kill(others[1].index);
    await expect(cluster.leader(5000)).rejects.toThrow(/not ready/);
    await cluster.restartMember(others[0].index);
    await cluster.restartMember(others[1].index);
    await cluster.waitReady();
  }, 90_000);

  it('restarts the whole cluster with its data', async () => {
    await cluster.restartAll({ kill: true });
    expect(etcdctl(cluster.endpointList(), 'get', 'k', '--print-value-only').trim()).toBe('v2');
  }, 90_000);
});

(haveEtcd() && haveOpenssl() ? describe : describe.skip)('etcd cluster fixture with TLS', () => {
  it('serves clients over TLS only with a client certificate, and probes on its own plain port', async () => {
    const pki = makeTestPki();
    const cluster = await startEtcdCluster({ tls: pki });
    try {
      const tls = ['--cacert', pki.caFile];
      const cert = ['--cert', `${pki.dir}/client.crt`, '--key', `${pki.dir}/client.key`];
      etcdctl(cluster.endpointList(), ...tls, ...cert, 'put', 'k', 'tls');
      expect(etcdctl(cluster.endpointList(), ...tls, ...cert, 'get', 'k', '--print-value-only').trim()).toBe(
        'tls',
      );
      expect(() =>
        execFileSync(
          'etcdctl',
          [
            '--endpoints',
            cluster.endpointList(),
            '--dial-timeout=2s',
            '--command-timeout=2s',
            ...tls,
            'get',
            'k',
          ],
          {
            env: { ...process.env, ETCDCTL_API: '3' },
            stdio: 'pipe',
          },
        ),
      ).toThrow();
      expect(cluster.members[0]!.clientUrl).toMatch(/^https:/);
    } finally {
      await cluster.destroy();
      pki.remove();
    }
  }, 90_000);
});
