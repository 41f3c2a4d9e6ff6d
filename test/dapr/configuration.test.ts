/**
 * The Configuration API on every backend, against a sidecar process: the official SDK's get / subscribeWithKeys /
 * subscribe / stop over gRPC on a view of a state store (`stateStore:`), the wire protocol of the stream (first
 * message, Alpha1 names, unsubscribe, deletes, resume from a version with every change exactly once and in order),
 * a configuration store of its own set with the real etcdctl, HTTP get / subscribe with deliveries to the app on
 * --app-port, Dapr's errors, and a subscriber that stops reading holding up nobody.
 */
import { randomUUID } from 'node:crypto';
import type { DaprClient } from '@dapr/dapr';
import { status } from '@grpc/grpc-js';
import { ctl } from '../etcd/support/etcdctl';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { RawSubscription, RecordingApp, type WireItem } from './support/config-clients';
import { daprGrpc, grpcFailure, reasonOf, type DaprGrpc } from './support/dapr-grpc-client';
import { configurationStoreOn, freshSpace, sidecarBackends, stateStoreOn } from './support/sidecar-backends';
import { sdkClient, stateWriter } from './support/state-client';

jest.setTimeout(60_000);

type SdkItems = Record<
  string,
  { key: string; value: string; version: string; metadata: Record<string, string> }
>;

describe.each(sidecarBackends)('configuration on $type', (backend) => {
  let sc: Sidecar;
  let app: RecordingApp;
  let client: DaprClient;
  let raw: DaprGrpc;
  const subs: RawSubscription[] = [];
  const uid = () => randomUUID().slice(0, 8);

  const writer = stateWriter(() => sc.httpUrl);
  const { save, del } = writer;
  const etagOf = async (key: string) => (await writer.etagOf(key))!;
  const subscribe = (
    request: { storeName: string; keys?: string[]; metadata?: Record<string, string> },
    method?: string,
  ) => {
    const s = new RawSubscription(sc.grpcPort, request, method);
    subs.push(s);
    return s;
  };
  const subscribed = async (request: Parameters<typeof subscribe>[0], method?: string) => {
    const s = subscribe(request, method);
    await s.until(() => s.id !== undefined, 'first message');
    return s;
  };
  const get = async (path: string) => {
    const res = await fetch(`${sc.httpUrl}${path}`);
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  const etcdctl = (...args: string[]) => ctl(`127.0.0.1:${sc.grpcPort}`, args);

  beforeAll(async () => {
    await backend.setup();
    app = await new RecordingApp().start();
    sc = await startSidecar({
      appId: 'configapp',
      args: ['--app-port', String(app.port)],
      components: {
        'statestore.yaml': stateStoreOn(backend, 'statestore', freshSpace()),
        'appconfig.yaml': configurationStoreOn(backend, 'appconfig', undefined, { stateStore: 'statestore' }),
        // A store of its own, served on the etcd API: operators set its items with etcdctl.
        'opsconfig.yaml': configurationStoreOn(backend, 'opsconfig', freshSpace(), { etcdAPI: 'true' }),
      },
    });
    client = await sdkClient(sc.grpcPort);
    raw = daprGrpc(sc.grpcPort);
  });

  afterEach(() => {
    for (const s of subs.splice(0)) s.close();
  });

  afterAll(async () => {
    await client?.stop();
    raw?.close();
    await sc?.stop();
    await app?.stop();
    await backend.teardown();
  });

  test('SDK get: the state store’s keys as its app sees them, versions are etags', async () => {
    const [k1, k2] = [`g1-${uid()}`, `g2-${uid()}`];
    await save([
      { key: k1, value: { color: 'blue' } },
      { key: k2, value: 'plain text' },
    ]);
    const { items } = (await client.configuration.get('appconfig', [k1, k2, 'missing'])) as {
      items: SdkItems;
    };
    expect(Object.keys(items).sort()).toEqual([k1, k2].sort());
    expect(items[k1]).toMatchObject({ key: k1, value: '{"color":"blue"}', version: await etagOf(k1) });
    expect(items[k2]).toMatchObject({ value: '"plain text"', version: await etagOf(k2) });
    // No keys: every item.
    const all = (await client.configuration.get('appconfig', [])) as { items: SdkItems };
    expect(Object.keys(all.items)).toEqual(expect.arrayContaining([k1, k2]));
  });

  test('SDK subscribeWithKeys and subscribe: one callback per change, deletes as Dapr reports them, none after stop', async () => {
    const [k1, k2] = [`s1-${uid()}`, `s2-${uid()}`];
    const got: SdkItems[] = [];
    const gotAll: SdkItems[] = [];
    const withKeys = await client.configuration.subscribeWithKeys('appconfig', [k1], async (c) => {
      got.push(c.items as SdkItems);
    });
    const everything = await client.configuration.subscribe('appconfig', async (c) => {
      gotAll.push(c.items as SdkItems);
    });
    // A second stream on the same key gets the same updates.
    const twin: SdkItems[] = [];
    const second = await client.configuration.subscribeWithKeys('appconfig', [k1], async (c) => {
      twin.push(c.items as SdkItems);
    });
    const until = async (pred: () => boolean, what: string) => {
      const deadline = Date.now() + 10_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`no ${what}: ${JSON.stringify({ got, gotAll, twin })}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // The SDK returns before its stream is set up: write probes until every stream delivered one, then wait for
    // the last probe on each (a stream delivers in order), and look only at what comes after it.
    let probes = 0;
    while (got.length === 0 || twin.length === 0 || gotAll.length === 0) {
      await save([{ key: k1, value: `probe-${probes++}` }]);
      await new Promise((r) => setTimeout(r, 50));
    }
    const last = JSON.stringify(`probe-${probes - 1}`);
    await until(
      () => [got, twin, gotAll].every((xs) => xs.some((items) => items[k1]?.value === last)),
      'the last probe',
    );
    for (const xs of [got, twin, gotAll])
      xs.splice(0, xs.findIndex((items) => items[k1]?.value === last) + 1);
    await save([{ key: k1, value: 'mynewvalue' }]);
    await save([{ key: k2, value: 'other' }]);
    await del(k1);
    await until(() => got.length >= 2 && twin.length >= 2 && gotAll.length >= 3, 'updates');
    expect(got.map((items) => Object.keys(items))).toEqual([[k1], [k1]]);
    expect(got[0][k1]).toMatchObject({ value: '"mynewvalue"', version: expect.stringMatching(/^\d+$/) });
    // A deleted key: empty value and version, as Dapr's stores report it, plus the revision of the delete.
    expect(got[1][k1]).toMatchObject({ value: '', version: '', metadata: { deleted: 'true' } });
    expect(Number(got[1][k1].metadata.deletedVersion)).toBeGreaterThan(Number(got[0][k1].version));
    expect(twin).toEqual(got);
    expect(gotAll.map((items) => Object.keys(items)[0])).toEqual([k1, k2, k1]);

    await withKeys.stop();
    await save([{ key: k1, value: 'after stop' }]);
    // The twin sees this change; by then the stopped one would have seen it too.
    await until(() => twin.length >= 3, 'the change after stop');
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toHaveLength(2);
    await second.stop();
    await everything.stop();
  });

  test('the stream: first message is the id alone, Alpha1 names, unsubscribe ends it with OK', async () => {
    const key = `w-${uid()}`;
    for (const method of ['SubscribeConfiguration', 'SubscribeConfigurationAlpha1']) {
      const s = await subscribed({ storeName: 'appconfig', keys: [key] }, method);
      expect(s.messages[0]).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), items: {} });
      await save([{ key, value: method }]);
      await s.until(() => s.updates.length === 1, 'update');
      expect(s.updates[0]).toEqual({
        id: s.id,
        items: { [key]: { value: JSON.stringify(method), version: await etagOf(key), metadata: {} } },
      });
      const unsub = method.endsWith('Alpha1') ? 'UnsubscribeConfigurationAlpha1' : 'UnsubscribeConfiguration';
      expect(await raw.call(unsub, { storeName: 'appconfig', id: s.id })).toEqual({ ok: true, message: '' });
      await s.until(() => s.status !== undefined, 'end of stream');
      expect(s.status?.code).toBe(status.OK);
    }
    // An unknown id is not an RPC error in Dapr: ok false with the reason.
    expect(await raw.call('UnsubscribeConfiguration', { storeName: 'appconfig', id: 'nope' })).toEqual({
      ok: false,
      message: 'failed to unsubscribe to configuration request nope: subscription does not exist',
    });
  });

  test('resume from the version a get returned: every later change exactly once, in order, then live', async () => {
    const [a, c] = [`r1-${uid()}`, `r2-${uid()}`];
    await save([
      { key: a, value: 0 },
      { key: c, value: 0 },
    ]);
    const { items } = (await client.configuration.get('appconfig', [a, c])) as { items: SdkItems };
    const from = String(Math.max(...Object.values(items).map((i) => Number(i.version))));
    // Changes nobody is subscribed to yet: puts, a delete and a transaction of two keys at one revision.
    await save([{ key: a, value: 1 }]);
    await del(c);
    await writer.transact([
      { operation: 'upsert', request: { key: a, value: 2 } },
      { operation: 'upsert', request: { key: c, value: 2 } },
    ]);
    const s = await subscribed({ storeName: 'appconfig', keys: [a, c], metadata: { fromVersion: from } });
    await save([{ key: a, value: 3 }]);
    await s.until(() => s.updates.length >= 5, '5 updates');
    const seen = s.updates.map((u) => {
      const [key, item] = Object.entries(u.items)[0] as [string, WireItem];
      return [key === a ? 'a' : 'c', item.value, item.version || item.metadata.deletedVersion];
    });
    expect(seen.map(([k, v]) => [k, v])).toEqual([
      ['a', '1'],
      ['c', ''],
      ['a', '2'],
      ['c', '2'],
      ['a', '3'],
    ]);
    const versions = seen.map(([, , v]) => Number(v));
    expect(versions[0]).toBeGreaterThan(Number(from));
    expect(versions[2]).toBe(versions[3]);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    await new Promise((r) => setTimeout(r, 200));
    expect(s.updates).toHaveLength(5);
  });

  test('a configuration store of its own: items set with the real etcdctl, versions are revisions', async () => {
    const key = `orderId-${uid()}`;
    const s = await subscribed({ storeName: 'opsconfig', keys: [key] });
    expect((await etcdctl('put', key, '101')).code).toBe(0);
    const got = await get(`/v1.0/configuration/opsconfig?key=${key}`);
    expect(got.status).toBe(200);
    const rev = JSON.parse((await etcdctl('get', key, '-w', 'json')).stdout) as {
      kvs: { mod_revision: number }[];
    };
    expect(got.json).toEqual({ [key]: { value: '101', version: String(rev.kvs[0].mod_revision) } });
    expect((await etcdctl('del', key)).code).toBe(0);
    await s.until(() => s.updates.length === 2, 'put and delete');
    expect(s.updates.map((u) => u.items[key].value)).toEqual(['101', '']);
    expect(s.updates[1].items[key].metadata.deleted).toBe('true');
    // Keys with `||` (state keys, locks, indexes) are not configuration items.
    expect((await etcdctl('put', `app||${key}`, 'x')).code).toBe(0);
    expect((await get(`/v1.0/configuration/opsconfig?key=app||${key}`)).status).toBe(204);
  });

  test('HTTP get: Dapr’s JSON (empty fields left out), 204 for nothing, under /v1.0 and /v1.0-alpha1', async () => {
    const key = `h-${uid()}`;
    await save([{ key, value: 7 }]);
    for (const v of ['v1.0', 'v1.0-alpha1']) {
      const r = await get(`/${v}/configuration/appconfig?key=${key}&key=nothing-${key}`);
      expect(r).toEqual({ status: 200, json: { [key]: { value: '7', version: await etagOf(key) } } });
      expect((await get(`/${v}/configuration/appconfig?key=nothing-${key}`)).status).toBe(204);
    }
  });

  test('HTTP subscribe: each change POSTed to the app on --app-port, in order, until unsubscribed', async () => {
    const [k1, k2] = [`d1-${uid()}`, `d2-${uid()}`];
    const sub = await get(`/v1.0/configuration/appconfig/subscribe?key=${k1}&key=${k2}`);
    expect(sub.status).toBe(200);
    const id = sub.json!.id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const before = app.deliveries.length;
    await save([{ key: k1, value: 'one' }]);
    await save([{ key: k2, value: 'two' }]);
    await del(k1);
    const ds = (await app.until(before + 3)).slice(before);
    expect(ds.map((d) => d.path)).toEqual([
      `/configuration/appconfig/${k1}`,
      `/configuration/appconfig/${k2}`,
      `/configuration/appconfig/${k1}`,
    ]);
    expect(ds[0]).toEqual({
      path: `/configuration/appconfig/${k1}`,
      contentType: 'application/json',
      body: { id, items: { [k1]: { value: '"one"', version: expect.stringMatching(/^\d+$/) } } },
    });
    expect(ds[2].body.items[k1]).toEqual({
      metadata: { deleted: 'true', deletedVersion: expect.any(String) },
    });
    const unsub = await get(`/v1.0/configuration/appconfig/${id}/unsubscribe`);
    expect(unsub).toEqual({ status: 200, json: { ok: true } });
    const count = app.deliveries.length;
    await save([{ key: k2, value: 'after' }]);
    // A gRPC subscriber sees the change: by then the app would have had it too.
    const s = await subscribed({ storeName: 'appconfig', keys: [k2] });
    await save([{ key: k2, value: 'after 2' }]);
    await s.until(() => s.updates.length === 1, 'update');
    expect(app.deliveries.length).toBe(count);
    const again = await get(`/v1.0/configuration/appconfig/${id}/unsubscribe`);
    expect([again.status, again.json?.errorCode]).toEqual([500, 'ERR_CONFIGURATION_UNSUBSCRIBE']);
  });

  test('errors: unknown store, bad fromVersion, an app that is not listening', async () => {
    const unknown = await get('/v1.0/configuration/nostore?key=a');
    expect(unknown).toEqual({
      status: 400,
      json: {
        errorCode: 'ERR_CONFIGURATION_STORE_NOT_FOUND',
        message: 'configuration store nostore not found',
      },
    });
    const f = await grpcFailure(raw.call('GetConfiguration', { storeName: 'nostore', keys: [] }));
    expect([f.code, reasonOf(f)]).toEqual([status.INVALID_ARGUMENT, 'ERR_CONFIGURATION_STORE_NOT_FOUND']);

    const s = subscribe({ storeName: 'nostore', keys: ['a'] });
    await s.until(() => s.status !== undefined, 'error status');
    expect(s.status).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'configuration store nostore not found',
    });

    const bad = subscribe({ storeName: 'appconfig', keys: ['a'], metadata: { fromVersion: 'yesterday' } });
    await bad.until(() => bad.status !== undefined, 'error status');
    expect(bad.status?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.status?.details).toBe(
      'failed to subscribe [a] from Configuration store appconfig: metadata fromVersion must be a version number, got "yesterday"',
    );
    const badHttp = await get('/v1.0/configuration/appconfig/subscribe?key=a&metadata.fromVersion=-1');
    expect([badHttp.status, badHttp.json?.errorCode]).toEqual([500, 'ERR_CONFIGURATION_SUBSCRIBE']);

    await app.stop();
    try {
      const down = await get('/v1.0/configuration/appconfig/subscribe?key=a');
      expect(down.status).toBe(500);
      expect(down.json?.errorCode).toBe('ERR_CONFIGURATION_SUBSCRIBE');
      expect(down.json?.message).toContain(`the app is not reachable on 127.0.0.1:${app.port} (--app-port)`);
    } finally {
      await app.start(app.port);
    }
  });

  test('a subscriber that stops reading holds up neither writers nor other subscribers', async () => {
    const p = `slow-${uid()}-`;
    const keys = Array.from({ length: 200 }, (_, i) => `${p}${String(i).padStart(3, '0')}`);
    const slow = await subscribed({ storeName: 'appconfig', keys });
    const fast = await subscribed({ storeName: 'appconfig', keys });
    slow.pause();
    const big = 'y'.repeat(16 * 1024);
    for (let i = 0; i < keys.length; i += 20)
      await save(keys.slice(i, i + 20).map((key) => ({ key, value: big })));
    await fast.until(
      () => fast.updates.length === keys.length,
      'every update on the fast subscriber',
      20_000,
    );
    expect(slow.updates.length).toBeLessThan(keys.length);
    slow.resume();
    await slow.until(
      () => slow.updates.length === keys.length,
      'every update on the slow subscriber',
      20_000,
    );
    const versions = slow.updates.map((u) => Number(Object.values(u.items)[0].version));
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
  });
});
