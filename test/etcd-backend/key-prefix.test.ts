/**
 * The etcd backend's key prefix (docs/etcd-backend.md#keys): every range the contract can express stays inside
 * `<keyPrefixPath>/`, keys come back without the prefix, and stores on neighbouring prefixes of one cluster never see
 * each other. The conformance suite runs on the whole key space; this file covers the mapping itself.
 */
import { createEtcdEngine } from '../../src/engine/etcd';
import type { Engine, WatchMessage } from '../../src/engine';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';

const describeIf = haveEtcd() ? describe : describe.skip;
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const NUL = b('\0');
const keys = (kvs: { key: Buffer }[]): string[] => kvs.map((k) => k.key.toString('latin1'));

describeIf('etcd backend: the key prefix', () => {
  let cluster: EtcdCluster;
  let direct: EtcdGrpcClient;
  let app: Engine;
  let neighbour: Engine;
  let nested: Engine;

  beforeAll(async () => {
    cluster = await startEtcdCluster();
    direct = new EtcdGrpcClient(cluster.endpoints()[0]!);
    const endpoints = cluster.endpointList();
    // "app/", "app0/" and "app/x/": neighbours in byte order, and one prefix inside another's key space.
    app = await createEtcdEngine({ endpoints, keyPrefixPath: 'app' });
    neighbour = await createEtcdEngine({ endpoints, keyPrefixPath: 'app0' });
    nested = await createEtcdEngine({ endpoints, keyPrefixPath: 'app/x' });
    // Keys just outside the prefix on either side, written directly.
    for (const k of ['app', 'app.', 'ap', 'b'])
      await direct.ok('KV', 'Put', { key: b(k), value: b('outside') });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([app, neighbour, nested].map((e) => e?.close()));
    direct?.close();
    await cluster?.destroy();
  });

  test('keys are stored under <keyPrefixPath>/ and come back without it', async () => {
    const put = await app.put({ key: b('k1'), value: b('v') });
    const raw = await direct.ok('KV', 'Range', { key: b('app/k1') });
    expect((raw.kvs as { mod_revision: string }[])[0]!.mod_revision).toBe(String(put.header.revision));
    expect(keys((await app.range({ key: b('k1') })).kvs)).toEqual(['k1']);
  });

  test('every key, from-key and prefix ranges stay inside the prefix', async () => {
    await app.put({ key: b('\xff\xff'), value: b('high') });
    await app.put({ key: b('a'), value: b('1') });
    await neighbour.put({ key: b('a'), value: b('neighbour') });
    await nested.put({ key: b('n'), value: b('nested') });
    const all = keys((await app.range({ key: NUL, rangeEnd: NUL })).kvs);
    expect(all).toEqual(['a', 'k1', 'x/n', '\xff\xff']);
    expect(keys((await app.range({ key: b('k'), rangeEnd: NUL })).kvs)).toEqual(['k1', 'x/n', '\xff\xff']);
    expect(keys((await app.range({ key: b('x/'), rangeEnd: b('x0') })).kvs)).toEqual(['x/n']);
    expect(keys((await neighbour.range({ key: NUL, rangeEnd: NUL })).kvs)).toEqual(['a']);
    expect(keys((await nested.range({ key: NUL, rangeEnd: NUL })).kvs)).toEqual(['n']);
    expect((await app.range({ key: NUL, rangeEnd: NUL, countOnly: true })).count).toBe(4);
    expect((await app.status()).keys).toBe(4);
  });

  test('a from-key delete and a txn compare over a range stay inside the prefix', async () => {
    await neighbour.put({ key: b('z'), value: b('1') });
    const del = await neighbour.deleteRange({ key: b('y'), rangeEnd: NUL, prevKv: true });
    expect(keys(del.prevKvs)).toEqual(['z']);
    const txn = await app.txn({
      compare: [{ key: b('a'), rangeEnd: b('b'), target: 'VERSION', result: 'GREATER', version: 0 }],
      success: [{ range: { key: NUL, rangeEnd: NUL, keysOnly: true } }],
    });
    expect(txn.succeeded).toBe(true);
    expect(keys(txn.responses[0]!.range!.kvs)).toEqual(['a', 'k1', 'x/n', '\xff\xff']);
    // The keys outside every prefix are untouched.
    const outside = await direct.ok('KV', 'Range', { key: b('\0'), range_end: b('app/') });
    expect(keys(outside.kvs as { key: Buffer }[])).toEqual(['ap', 'app', 'app.']);
  });

  test('a watch over every key sees this store only, keys without the prefix', async () => {
    const got: WatchMessage[] = [];
    const w = neighbour.watch({ key: NUL, rangeEnd: NUL }, (m) => (got.push(m), true));
    await app.put({ key: b('w'), value: b('app') });
    await direct.ok('KV', 'Put', { key: b('app0'), value: b('outside') });
    const mine = await neighbour.put({ key: b('w'), value: b('mine') });
    const deadline = Date.now() + 10_000;
    while (!got.some((m) => m.type === 'events') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    w.cancel();
    const events = got.flatMap((m) => (m.type === 'events' ? m.events : []));
    expect(events.map((e) => `${e.kv.key.toString()}@${e.kv.modRevision}`)).toEqual([
      `w@${mine.header.revision}`,
    ]);
  });

  test('lease keys are listed per store', async () => {
    const lease = await app.leaseGrant({ ttl: 30 });
    await app.put({ key: b('leased'), value: b('1'), lease: lease.id });
    const ttl = await app.leaseTimeToLive(lease.id, true);
    expect(keys(ttl.keys.map((key) => ({ key })))).toEqual(['leased']);
    await app.leaseRevoke(lease.id);
    expect((await app.range({ key: b('leased') })).kvs).toEqual([]);
  });

  test('compaction of the shared cluster is refused unless the component allows it', async () => {
    await expect(app.compact({ revision: 2 })).rejects.toMatchObject({ code: 'COMPACTION_DISABLED' });
  });
});
