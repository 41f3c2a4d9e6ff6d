/**
 * The `etcd3` npm client (microsoft/etcd3 1.1.2) against statecar: KV, watch (live and from a past revision),
 * lease, lock and election — all through its own client-side recipes over KV/Watch/Lease.
 */
import { Etcd3, EtcdLockFailedError, EtcdLeaseInvalidError } from 'etcd3';
import { startStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(30_000);

/** Resolve when `check` is true, polling. */
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('etcd3 npm client against statecar', () => {
  let statecar: StatecarTarget;
  let client: Etcd3;

  beforeAll(async () => {
    statecar = await startStatecar();
    client = new Etcd3({ hosts: statecar.endpoint });
  });

  afterAll(async () => {
    client?.close();
    await statecar?.stop();
  });

  test('KV: put, get, getAll, prefix, delete, txn-style if', async () => {
    await client.put('kv/a').value('1');
    await client.put('kv/b').value('2');
    await client.put('kv/c').value('3');
    expect(await client.get('kv/a').string()).toBe('1');
    expect(await client.getAll().prefix('kv/').strings()).toEqual({ 'kv/a': '1', 'kv/b': '2', 'kv/c': '3' });
    expect(await client.getAll().prefix('kv/').sort('Value', 'Descend').limit(2).keys()).toEqual([
      'kv/c',
      'kv/b',
    ]);
    expect(await client.getAll().prefix('kv/').count()).toBe(3);
    const res = await client
      .if('kv/a', 'Value', '==', '1')
      .then(client.put('kv/a').value('one'))
      .else(client.put('kv/a').value('other'))
      .commit();
    expect(res.succeeded).toBe(true);
    expect(await client.get('kv/a').string()).toBe('one');
    const del = await client.delete().prefix('kv/');
    expect(del.deleted).toBe('3');
    expect(await client.get('kv/a').string()).toBeNull();
  });

  test('watch: live events with prev values, and replay from a past revision', async () => {
    const watcher = await client.watch().prefix('wa/').withPreviousKV().create();
    const seen: string[] = [];
    watcher.on('put', (kv, prev) =>
      seen.push(`put ${kv.key.toString()}=${kv.value.toString()} prev=${prev?.value.toString() ?? '-'}`),
    );
    watcher.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}`));
    const first = await client.put('wa/x').value('1').exec();
    await client.put('wa/x').value('2');
    await client.delete().key('wa/x');
    await until(() => seen.length === 3);
    expect(seen).toEqual(['put wa/x=1 prev=-', 'put wa/x=2 prev=1', 'delete wa/x']);
    await watcher.cancel();

    const replay = await client.watch().prefix('wa/').startRevision(first.header.revision).create();
    const replayed: string[] = [];
    replay.on('put', (kv) => replayed.push(`put ${kv.value.toString()} @${kv.mod_revision}`));
    replay.on('delete', (kv) => replayed.push(`delete @${kv.mod_revision}`));
    await until(() => replayed.length === 3);
    const r0 = Number(first.header.revision);
    expect(replayed).toEqual([`put 1 @${r0}`, `put 2 @${r0 + 1}`, `delete @${r0 + 2}`]);
    await replay.cancel();
  });

  test('lease: grant, attach, keepalive, revoke deletes attached keys, lost on unknown', async () => {
    const lease = client.lease(10);
    const id = await lease.grant();
    expect(BigInt(id)).toBeGreaterThan(0n);
    await lease.put('le/a').value('1');
    const ka = await lease.keepaliveOnce();
    expect(ka.TTL).toBe('10');
    const ttl = await client.get('le/a').exec();
    expect(ttl.kvs[0]!.lease).toBe(id);
    await lease.revoke();
    expect(await client.get('le/a').string()).toBeNull();
    await expect(client.put('le/b').value('x').lease(id).exec()).rejects.toBeInstanceOf(
      EtcdLeaseInvalidError,
    );
  });

  test('lock: acquire, contention fails fast, release lets the next one in', async () => {
    const a = client.lock('locks/one');
    await a.acquire();
    await expect(client.lock('locks/one').acquire()).rejects.toBeInstanceOf(EtcdLockFailedError);
    await a.release();
    const ran = await client.lock('locks/one').do(async () => 'inside');
    expect(ran).toBe('inside');
  });

  test('election: campaign, leader, observe changes, resign hands over', async () => {
    const election = client.election('elect/one', 5);
    const first = election.campaign('candidate-1');
    await new Promise<void>((resolve, reject) => {
      first.on('elected', () => resolve());
      first.on('error', reject);
    });
    expect(await election.leader()).toBe('candidate-1');
    const observer = await election.observe();
    const changes: (string | undefined)[] = [];
    observer.on('change', (v) => changes.push(v));
    const second = client.election('elect/one', 5).campaign('candidate-2');
    let secondElected = false;
    second.on('elected', () => (secondElected = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(secondElected).toBe(false);
    await first.proclaim('candidate-1b');
    await until(() => changes.includes('candidate-1b'));
    await first.resign();
    await until(() => secondElected);
    await until(() => changes.includes('candidate-2'));
    expect(await election.leader()).toBe('candidate-2');
    await second.resign();
    await observer.cancel();
  });
});
