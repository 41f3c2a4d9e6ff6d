/**
 * Issue 13, items 3 and 4: many sidecars on one etcd cluster, and the etcd API of a sidecar on it.
 * - sidecars of different app ids see each other's writes by Dapr's key-prefix rules; etags are cluster revisions;
 *   etag and first-write conflicts are decided by the cluster;
 * - a Dapr lock on `lock.etcd` is exclusive across sidecars and released by lease expiry when its holder is killed;
 * - the sidecar's etcd API answers with the real cluster's identity (headers, MemberList, Status).
 * One 3-member cluster for the file.
 */
import * as grpc from '@grpc/grpc-js';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';

const describeIf = haveEtcd() ? describe : describe.skip;

describeIf('many sidecars on one etcd cluster', () => {
  let cluster: EtcdCluster;
  const sidecars: Sidecar[] = [];
  let direct: EtcdGrpcClient;

  beforeAll(async () => {
    cluster = await startEtcdCluster();
    direct = new EtcdGrpcClient(cluster.endpoints()[0]!);
  }, 90_000);

  afterAll(async () => {
    direct?.close();
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster?.destroy();
  });

  /** A sidecar of `appId` with a state store and a lock store on the cluster under `prefix`. */
  async function sidecar(
    appId: string,
    prefix: string,
    extra: Record<string, string> = {},
  ): Promise<Sidecar> {
    // Components on one cluster and prefix share one engine, opened with the settings of the first: all get `extra`.
    const meta = { endpoints: cluster.endpointList(), keyPrefixPath: prefix, ...extra };
    const sc = await startSidecar({
      appId,
      etcdPort: true,
      components: {
        'statestore.yaml': stateComponent('statestore', 'state.etcd', meta),
        'shared.yaml': stateComponent('shared', 'state.etcd', { ...meta, keyPrefix: 'none' }),
        'lockstore.yaml': stateComponent('lockstore', 'lock.etcd', meta),
      },
    });
    sidecars.push(sc);
    return sc;
  }

  const save = (sc: Sidecar, store: string, items: object[]) =>
    fetch(`${sc.httpUrl}/v1.0/state/${store}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(items),
    });
  const get = (sc: Sidecar, store: string, key: string) => fetch(`${sc.httpUrl}/v1.0/state/${store}/${key}`);

  /** The key as the cluster stores it, read directly. */
  async function clusterKv(key: string): Promise<{ mod_revision: string; value: Buffer } | undefined> {
    const res = await direct.ok('KV', 'Range', { key: Buffer.from(key) });
    return (res.kvs as Array<{ mod_revision: string; value: Buffer }>)[0];
  }

  test('app ids see each other by Dapr key prefixes; etags are the cluster revisions; the cluster decides conflicts', async () => {
    const a = await sidecar('app-a', 'dapr');
    const b = await sidecar('app-b', 'dapr');

    // Default keyPrefix (appid): each app has its own key, as daprd lays it out on etcd: <keyPrefixPath>/<appId>||k.
    expect((await save(a, 'statestore', [{ key: 'k', value: 'from a' }])).status).toBe(204);
    expect((await get(b, 'statestore', 'k')).status).toBe(204);
    const stored = await clusterKv('dapr/app-a||k');
    expect(stored).toBeDefined();
    const etag = (await get(a, 'statestore', 'k')).headers.get('etag');
    expect(etag).toBe(stored!.mod_revision);

    // keyPrefix none: both apps read and write the same key.
    expect((await save(a, 'shared', [{ key: 'common', value: 1 }])).status).toBe(204);
    const seen = await get(b, 'shared', 'common');
    expect(seen.status).toBe(200);
    expect(await seen.json()).toBe(1);
    const sharedEtag = seen.headers.get('etag')!;
    expect(sharedEtag).toBe((await clusterKv('dapr/common'))!.mod_revision);

    // Both sidecars race a write with the same etag: exactly one wins, the other gets Dapr's etag mismatch.
    const race = await Promise.all([
      save(a, 'shared', [{ key: 'common', value: 'a', etag: sharedEtag }]),
      save(b, 'shared', [{ key: 'common', value: 'b', etag: sharedEtag }]),
    ]);
    expect(race.map((r) => r.status).sort()).toEqual([204, 409]);
    // First-write on a fresh key from both: one creates it, the other conflicts.
    const first = await Promise.all([
      save(a, 'shared', [{ key: 'fresh', value: 'a', options: { concurrency: 'first-write' } }]),
      save(b, 'shared', [{ key: 'fresh', value: 'b', options: { concurrency: 'first-write' } }]),
    ]);
    expect(first.map((r) => r.status).sort()).toEqual([204, 409]);
  }, 120_000);

  test('a lock on lock.etcd is exclusive across sidecars and released by lease expiry when its holder is killed', async () => {
    // Two replicas of one app (Dapr's lock keys carry the app id, as its state keys do).
    const holder = await sidecar('locker', 'locks');
    const other = await sidecar('locker', 'locks');
    const lock = (sc: Sidecar, owner: string) =>
      fetch(`${sc.httpUrl}/v1.0-alpha1/lock/lockstore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resourceId: 'job', lockOwner: owner, expiryInSeconds: 4 }),
      }).then(async (r) => ((await r.json()) as { success: boolean }).success);

    expect(await lock(holder, 'one')).toBe(true);
    expect(await lock(other, 'two')).toBe(false);
    const killedAt = Date.now();
    holder.proc.child.kill('SIGKILL');
    await holder.proc.exited;
    // The lease of the dead holder expires on the cluster; nobody is left to release it.
    let got = false;
    while (!got && Date.now() - killedAt < 30_000) {
      got = await lock(other, 'two');
      if (!got) await new Promise((r) => setTimeout(r, 250));
    }
    expect(got).toBe(true);
    const waitedS = (Date.now() - killedAt) / 1000;
    console.log(`lock.etcd: released ${waitedS.toFixed(1)} s after its holder was SIGKILLed (expiry 4 s)`);
    expect(waitedS).toBeGreaterThan(2);
  }, 120_000);

  test("the sidecar's etcd API answers with the real cluster's identity", async () => {
    const sc = await sidecar('ident', 'ident');
    const api = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort}`);
    try {
      const leader = await cluster.leader();
      const truth = (await cluster.status(leader.index))!;
      const put = await api.ok('KV', 'Put', { key: Buffer.from('x'), value: Buffer.from('1') });
      const h = put.header as { cluster_id: string; member_id: string; raft_term: string; revision: string };
      expect(BigInt(h.cluster_id)).toBe(BigInt(truth.clusterId));
      const memberIds = await Promise.all(
        cluster.members.map(async (_, i) => (await cluster.status(i))!.memberId),
      );
      expect(memberIds.map((m) => BigInt(m))).toContainEqual(BigInt(h.member_id));
      expect(Number(h.raft_term)).toBe(truth.raftTerm);
      // The revision is the cluster's: the key is <prefix>/x on the cluster, at that revision.
      expect((await clusterKv('ident/x'))!.mod_revision).toBe(h.revision);

      const list = await api.ok('Cluster', 'MemberList', {});
      const members = list.members as Array<{ ID: string; clientURLs: string[] }>;
      expect(members.map((m) => BigInt(m.ID)).sort()).toEqual(memberIds.map((m) => BigInt(m)).sort());
      const status = await api.ok('Maintenance', 'Status', {});
      expect(BigInt(status.leader as string)).toBe(BigInt(truth.leaderId));
      expect(status.version).toMatch(/^3\./);
    } finally {
      api.close();
    }
  }, 120_000);

  test('the etcd API of a sidecar cut off from the cluster fails UNAVAILABLE within the request deadline', async () => {
    const sc = await sidecar('deadline', 'deadline', { requestTimeout: '2s' });
    const api = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort}`);
    try {
      await api.ok('KV', 'Put', { key: Buffer.from('before'), value: Buffer.from('1') });
      // Two of three members gone: no quorum, no leader; requests must not hang.
      await cluster.kill(1);
      await cluster.kill(2);
      const t0 = Date.now();
      const r = await api.call('KV', 'Put', { key: Buffer.from('during'), value: Buffer.from('1') }, 30_000);
      const took = Date.now() - t0;
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.code).toBe(grpc.status.UNAVAILABLE);
      expect(took).toBeLessThan(10_000);
      console.log(
        `etcd API Put without quorum: UNAVAILABLE after ${(took / 1000).toFixed(1)} s (deadline 2 s)`,
      );
    } finally {
      api.close();
      await cluster.restartMember(1, { waitReady: false });
      await cluster.restartMember(2);
    }
  }, 180_000);
});
