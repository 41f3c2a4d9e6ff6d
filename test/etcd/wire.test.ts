/**
 * etcd gRPC behaviours of statecar that the differential tests cannot pin down (blocking, streaming, flow
 * control, 64-bit IDs): the Lock/Election servers' waiting and cancellation, Observe, watch fragments and
 * backpressure, keepalive pings.
 */
import * as grpc from '@grpc/grpc-js';
import { EtcdGrpcClient, b } from './support/etcd-grpc-client';
import { startStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(30_000);

describe('etcd gRPC API on statecar: streams, blocking calls, limits', () => {
  let statecar: StatecarTarget;
  let c: EtcdGrpcClient;

  beforeAll(async () => {
    statecar = await startStatecar();
    c = new EtcdGrpcClient(statecar.endpoint);
  });

  afterAll(async () => {
    c?.close();
    await statecar?.stop();
  });

  test('sidecar: state saved through the Dapr API is the raw key app||key; the Dapr gRPC port serves etcd too', async () => {
    const sc = statecar.sidecar;
    if (!sc) return; // the standalone test server has no Dapr API
    const res = await fetch(`${statecar.httpUrl}/v1.0/state/${statecar.store}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ key: 'order-1', value: { qty: 3 } }]),
    });
    expect(res.status).toBe(204);
    const viaEtcdPort = (await c.ok('KV', 'Range', { key: b(`${sc.appId}||order-1`) })) as {
      kvs: { value: Buffer }[];
    };
    expect(viaEtcdPort.kvs).toHaveLength(1);
    const dapr = new EtcdGrpcClient(sc.daprGrpcEndpoint);
    try {
      const viaDaprPort = (await dapr.ok('KV', 'Range', { key: b(`${sc.appId}||order-1`) })) as {
        kvs: { value: Buffer }[];
      };
      expect(viaDaprPort.kvs[0]!.value).toEqual(viaEtcdPort.kvs[0]!.value);
    } finally {
      dapr.close();
    }
  });

  test('int64 lease IDs round-trip without precision loss', async () => {
    const max = '9223372036854775807';
    const g = await c.ok('Lease', 'LeaseGrant', { ID: max, TTL: '30' });
    expect(g.ID).toBe(max);
    await c.ok('KV', 'Put', { key: b('id/max'), value: b('v'), lease: max });
    const r = (await c.ok('KV', 'Range', { key: b('id/max') })) as { kvs: { lease: string }[] };
    expect(r.kvs[0]!.lease).toBe(max);
    const leases = (await c.ok('Lease', 'LeaseLeases', {})) as { leases: { ID: string }[] };
    expect(leases.leases.map((l) => l.ID)).toContain(max);
    await c.ok('Lease', 'LeaseRevoke', { ID: max });
  });

  test('Lock: a second locker waits for Unlock; lease 0 gets a 60 s server lease', async () => {
    const l1 = await c.ok('Lease', 'LeaseGrant', { TTL: '30' });
    const held = (await c.ok('Lock', 'Lock', { name: b('lk'), lease: l1.ID })) as { key: Buffer };
    expect(held.key.toString()).toBe(`lk/${BigInt(l1.ID as string).toString(16)}`);
    let acquired = false;
    const second = c.call('Lock', 'Lock', { name: b('lk') }).then((r) => {
      acquired = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(acquired).toBe(false);
    await c.ok('Lock', 'Unlock', { key: held.key });
    const r2 = await second;
    expect(r2.ok).toBe(true);
    const key2 = (r2 as unknown as { res: { key: Buffer } }).res.key.toString();
    const lease2 = BigInt('0x' + key2.split('/')[1]!);
    const ttl = (await c.ok('Lease', 'LeaseTimeToLive', { ID: lease2.toString() })) as { grantedTTL: string };
    expect(ttl.grantedTTL).toBe('60');
    await c.ok('Lock', 'Unlock', { key: b(key2) });
  });

  test('Lock: a caller that gives up while waiting leaves no waiter key behind', async () => {
    const l1 = await c.ok('Lease', 'LeaseGrant', { TTL: '30' });
    const held = (await c.ok('Lock', 'Lock', { name: b('lc'), lease: l1.ID })) as { key: Buffer };
    const l2 = await c.ok('Lease', 'LeaseGrant', { TTL: '30' });
    const waiter = await c.call('Lock', 'Lock', { name: b('lc'), lease: l2.ID }, 300);
    expect(waiter).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED });
    await new Promise((r) => setTimeout(r, 200));
    const keys = (await c.ok('KV', 'Range', { key: b('lc/'), range_end: b('lc0'), keys_only: true })) as {
      kvs: { key: Buffer }[];
    };
    expect(keys.kvs.map((k) => k.key.toString())).toEqual([held.key.toString()]);
    await c.ok('Lock', 'Unlock', { key: held.key });
  });

  test('Election: Observe streams the leader, proclamations and the next leader', async () => {
    const la = await c.ok('Lease', 'LeaseGrant', { TTL: '30' });
    const lb = await c.ok('Lease', 'LeaseGrant', { TTL: '30' });
    const observe = c.client('Election').Observe!({ name: b('obs') }) as grpc.ClientReadableStream<{
      kv: { value: Buffer };
    }>;
    const seen: string[] = [];
    observe.on('data', (r) => seen.push(r.kv.value.toString()));
    observe.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const a = (await c.ok('Election', 'Campaign', { name: b('obs'), lease: la.ID, value: b('A') })) as {
      leader: object;
    };
    const bCampaign = c.call('Election', 'Campaign', { name: b('obs'), lease: lb.ID, value: b('B') });
    await c.ok('Election', 'Proclaim', { leader: a.leader, value: b('A2') });
    await c.ok('Election', 'Resign', { leader: a.leader });
    expect((await bCampaign).ok).toBe(true);
    const deadline = Date.now() + 5000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(['A', 'A2', 'B']);
    const leader = (await c.ok('Election', 'Leader', { name: b('obs') })) as { kv: { value: Buffer } };
    expect(leader.kv.value.toString()).toBe('B');
    observe.cancel();
  });

  test('watch fragments: a large replay is split, pieces flagged, no events lost', async () => {
    const big = Buffer.alloc(900_000, 'f');
    const first = (await c.ok('KV', 'Put', { key: b('frag/1'), value: big })) as {
      header: { revision: string };
    };
    await c.ok('KV', 'Put', { key: b('frag/2'), value: big });
    await c.ok('KV', 'Put', { key: b('frag/3'), value: big });
    const w = c.watch();
    w.send({
      create_request: {
        key: b('frag/'),
        range_end: b('frag0'),
        start_revision: first.header.revision,
        fragment: true,
      },
    });
    await w.settle(300);
    const [created, ...pieces] = w.responses as { created: boolean; fragment: boolean; events: unknown[] }[];
    expect(created!.created).toBe(true);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.slice(0, -1).every((p) => p.fragment)).toBe(true);
    expect(pieces.at(-1)!.fragment).toBe(false);
    expect(pieces.flatMap((p) => p.events)).toHaveLength(3);
    w.close();
  });

  test('watch backpressure: a client that stops reading loses nothing and gets everything in order', async () => {
    const w = c.watch();
    w.send({ create_request: { key: b('bp/'), range_end: b('bp0') } });
    await w.waitFor(1);
    w.call.pause();
    const value = Buffer.alloc(64 * 1024, 'v');
    const n = 150;
    for (let i = 0; i < n; i++) await c.ok('KV', 'Put', { key: b(`bp/${i % 7}`), value });
    w.call.resume();
    const deadline = Date.now() + 15_000;
    const count = () =>
      (w.responses.slice(1) as { events: unknown[] }[]).reduce((s, r) => s + r.events.length, 0);
    while (count() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const revs = (w.responses.slice(1) as { events: { kv: { mod_revision: string } }[] }[]).flatMap((r) =>
      r.events.map((e) => Number(e.kv.mod_revision)),
    );
    expect(revs).toHaveLength(n);
    expect(revs.every((r, i) => i === 0 || r === revs[i - 1]! + 1)).toBe(true);
    w.close();
  });

  test('client keepalive pings on an idle watch stream are tolerated', async () => {
    const pinger = new EtcdGrpcClient(statecar.endpoint, {
      'grpc.keepalive_time_ms': 300,
      'grpc.keepalive_timeout_ms': 1000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const w = pinger.watch();
    w.send({ create_request: { key: b('ping') } });
    await w.waitFor(1);
    await new Promise((r) => setTimeout(r, 2000));
    await c.ok('KV', 'Put', { key: b('ping'), value: b('pong') });
    await w.waitFor(2);
    expect(w.error).toBeUndefined();
    w.close();
    pinger.close();
  });
});

describe('etcd watch progress notifications on statecar', () => {
  let statecar: StatecarTarget;
  let c: EtcdGrpcClient;

  beforeAll(async () => {
    statecar = await startStatecar({ metadata: { progressNotifyIntervalMs: '200' } });
    c = new EtcdGrpcClient(statecar.endpoint);
  });

  afterAll(async () => {
    c?.close();
    await statecar?.stop();
  });

  test('an idle synced watcher with progress_notify gets {watch_id, header.revision}, no events', async () => {
    if (!statecar.sidecar) return; // needs the component's engine tuning
    await c.ok('KV', 'Put', { key: b('pn'), value: b('1') });
    const w = c.watch();
    w.send({ create_request: { key: b('pn'), progress_notify: true } });
    w.send({ create_request: { key: b('quiet') } });
    await w.waitFor(4, 5000);
    const responses = w.responses as {
      watch_id: string;
      created: boolean;
      events: unknown[];
      header: { revision: string };
    }[];
    // The first watcher's progress may come before the second one's creation is answered (as from etcd, the two
    // are independent): a tick can fall between the two create requests on a slow machine.
    const [first, second] = responses.filter((r) => r.created);
    const rest = responses.filter((r) => !r.created);
    expect(first!.created && second!.created).toBe(true);
    expect(responses[0]).toBe(first);
    expect(rest.every((r) => r.watch_id === first!.watch_id && r.events.length === 0)).toBe(true);
    expect(rest[0]!.header.revision).toBe(first!.header.revision);
    w.close();
  });
});
