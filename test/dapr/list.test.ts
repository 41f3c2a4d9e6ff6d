/**
 * List keys (alpha) on every backend, against a sidecar process, over HTTP (`GET /v1.0-alpha1/state/{store}` and the
 * proposal's `GET /v1.0/state/{store}/`) and gRPC (`statecar.v1alpha1.StateList/ListState`): prefix, key order,
 * paging at one revision while the store is written, key-prefix isolation between app ids, and the errors.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { statecarListService } from '../../src/api/grpc/statecar-service';
import { EtcdGrpcClient, b } from '../etcd/support/etcd-grpc-client';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { grpcFailure } from './support/dapr-grpc-client';
import { freshSpace, sidecarBackends, stateStoreOn } from './support/sidecar-backends';
import { stateWriter } from './support/state-client';

jest.setTimeout(60_000);

interface Page {
  keys: string[];
  token?: string;
}

/** A raw client of the List service. */
function listClient(port: number) {
  const Ctor = grpc.makeGenericClientConstructor(statecarListService.definition(), 'StateList');
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = (req: object) =>
    new Promise<{ keys: string[]; nextPageToken: string }>((resolve, reject) =>
      (
        client as unknown as Record<string, (r: object, cb: (e: Error | null, res: never) => void) => void>
      ).ListState.call(client, req, (err, res) => (err ? reject(err) : resolve(res))),
    );
  return { call, close: () => client.close() };
}

describe.each(sidecarBackends)('list keys on state.$type', (backend) => {
  let sc: Sidecar;
  let kv: EtcdGrpcClient;
  let rpc: ReturnType<typeof listClient>;
  const uid = () => randomUUID().slice(0, 8);

  const save = (target: Sidecar, keys: string[]) =>
    stateWriter(() => target.httpUrl).save(keys.map((key) => ({ key, value: 1 })));
  const httpList = async (query: string, base = '/v1.0-alpha1/state/statestore', target = sc) => {
    const res = await fetch(`${target.httpUrl}${base}?${query}`);
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  /** Every page, over one protocol. */
  const listAll = async (
    protocol: 'http' | 'grpc',
    prefix: string,
    limit: number,
    between?: () => Promise<void>,
  ) => {
    const pages: Page[] = [];
    let token: string | undefined;
    do {
      let page: Page;
      if (protocol === 'http') {
        const r = await httpList(
          `prefix=${encodeURIComponent(prefix)}&page_limit=${limit}${token ? `&page_token=${token}` : ''}`,
        );
        expect(r.status).toBe(200);
        page = { keys: r.json.keys as string[], token: r.json.next_page_token as string | undefined };
      } else {
        const r = await rpc.call({
          storeName: 'statestore',
          prefix,
          pageLimit: limit,
          pageToken: token ?? '',
        });
        page = { keys: r.keys, token: r.nextPageToken || undefined };
      }
      pages.push(page);
      token = page.token;
      await between?.();
    } while (token);
    return pages;
  };

  beforeAll(async () => {
    await backend.setup();
    sc = await startSidecar({
      appId: 'listapp',
      components: {
        'statestore.yaml': stateStoreOn(backend, 'statestore', freshSpace(), { etcdAPI: 'true' }),
      },
    });
    kv = new EtcdGrpcClient(`127.0.0.1:${sc.grpcPort}`);
    rpc = listClient(sc.grpcPort);
  });

  afterAll(async () => {
    rpc?.close();
    kv?.close();
    await sc?.stop();
    await backend.teardown();
  });

  test.each(['http', 'grpc'] as const)('prefix, key order and paging (%s)', async (protocol) => {
    const p = `${protocol}-${uid()}/`;
    const keys = Array.from({ length: 23 }, (_, i) => `${p}${String(i).padStart(2, '0')}`);
    await save(sc, [...keys].reverse());
    await save(sc, [`${p.slice(0, -1)}`, `x${p}`]);
    const pages = await listAll(protocol, p, 5);
    expect(pages.map((pg) => pg.keys.length)).toEqual([5, 5, 5, 5, 3]);
    expect(pages.flatMap((pg) => pg.keys)).toEqual(keys);
    expect(pages[4].token).toBeUndefined();
    // Default page size 50; an exact fit has no next page.
    expect((await listAll(protocol, p, 0)).map((pg) => pg.keys)).toEqual([keys]);
    expect((await listAll(protocol, p, 23)).length).toBe(1);
    expect((await listAll(protocol, `${p}1`, 10)).flatMap((pg) => pg.keys)).toEqual(keys.slice(10, 20));
  });

  test("the proposal's route GET /v1.0/state/{store}/ lists the same", async () => {
    const p = `route-${uid()}-`;
    await save(sc, [`${p}a`, `${p}b`]);
    expect((await httpList(`prefix=${p}`, '/v1.0/state/statestore/')).json).toEqual({
      keys: [`${p}a`, `${p}b`],
    });
  });

  test('all pages list one revision while the store is written', async () => {
    const p = `snap-${uid()}-`;
    const keys = Array.from({ length: 40 }, (_, i) => `${p}${String(i).padStart(2, '0')}`);
    await save(sc, keys);
    let n = 0;
    const between = async () => {
      // Each page: a new key, a deleted key (one not listed yet), both invisible to this listing.
      await save(sc, [`${p}${String(n).padStart(2, '0')}-new`]);
      expect(
        (await fetch(`${sc.httpUrl}/v1.0/state/statestore/${keys[39 - n]}`, { method: 'DELETE' })).status,
      ).toBe(204);
      n++;
    };
    const pages = await listAll('grpc', p, 7, between);
    expect(pages.flatMap((pg) => pg.keys)).toEqual(keys);
    expect(n).toBe(pages.length);
  });

  test('apps with different ids on one store never see each other’s keys', async () => {
    const p = `iso-${uid()}-`;
    // What another app's sidecar writes into the same engine: its keys under its own prefix.
    await kv.ok('KV', 'Put', { key: b(`otherapp||${p}theirs`), value: b('1') });
    await kv.ok('KV', 'Put', { key: b(`lock||listapp||${p}lock`), value: b('1') });
    await save(sc, [`${p}mine`]);
    expect((await httpList(`prefix=${p}`)).json.keys).toEqual([`${p}mine`]);
    expect(
      (await rpc.call({ storeName: 'statestore', prefix: p, pageLimit: 0, pageToken: '' })).keys,
    ).toEqual([`${p}mine`]);
    expect(
      ((await httpList('page_limit=10000')).json.keys as string[]).some((k) => k.includes('theirs')),
    ).toBe(false);
  });

  const sharedOnly = backend.shared ? test : test.skip;
  sharedOnly('two sidecars with different app ids on one shared store list only their own keys', async () => {
    const space = freshSpace();
    const [a, c] = await Promise.all(
      ['app-a', 'app-c'].map((appId) =>
        startSidecar({
          appId,
          components: { 'statestore.yaml': stateStoreOn(backend, 'statestore', space) },
        }),
      ),
    );
    try {
      await save(a, ['k1', 'k2']);
      await save(c, ['k2', 'k3']);
      expect((await httpList('', '/v1.0-alpha1/state/statestore', a)).json.keys).toEqual(['k1', 'k2']);
      expect((await httpList('', '/v1.0-alpha1/state/statestore', c)).json.keys).toEqual(['k2', 'k3']);
    } finally {
      await Promise.all([a.stop(), c.stop()]);
    }
  });

  test('bad input: 400 ERR_MALFORMED_REQUEST (gRPC InvalidArgument) naming what is wrong', async () => {
    const p = `err-${uid()}-`;
    await save(sc, [`${p}1`, `${p}2`, `${p}3`]);
    const first = await httpList(`prefix=${p}&page_limit=1`);
    const token = first.json.next_page_token as string;
    for (const [query, message] of [
      ['page_limit=abc', 'page_limit must be a whole number'],
      ['page_limit=10001', 'page limit must be an integer from 1 to 10000'],
      ['page_token=garbage', 'invalid page token'],
      ['prefix=a||b', "input key/keyPrefix 'a||b' can't contain '||'"],
      // A token is bound to its prefix.
      [`prefix=${p}2&page_token=${token}`, 'belongs to another store or another query'],
    ]) {
      const r = await httpList(query);
      expect([r.status, r.json.errorCode]).toEqual([400, 'ERR_MALFORMED_REQUEST']);
      expect(r.json.message).toContain(message);
    }
    const f = await grpcFailure(
      rpc.call({ storeName: 'statestore', prefix: '', pageLimit: 20000, pageToken: '' }),
    );
    expect(f.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(f.details).toContain('invalid list request for state store statestore');
    const unknown = await httpList('', '/v1.0-alpha1/state/nostore');
    expect([unknown.status, unknown.json.errorCode]).toEqual([400, 'ERR_STATE_STORE_NOT_FOUND']);
    const g = await grpcFailure(rpc.call({ storeName: 'nostore', prefix: '', pageLimit: 0, pageToken: '' }));
    expect(g.code).toBe(grpc.status.INVALID_ARGUMENT);

    // A token whose revision was compacted.
    await save(sc, [`${p}4`]);
    const head = (await kv.ok('KV', 'Range', { key: b('x') })) as { header: { revision: string } };
    await kv.ok('KV', 'Compact', { revision: head.header.revision });
    const old = await httpList(`prefix=${p}&page_limit=1&page_token=${token}`);
    expect([old.status, old.json.errorCode]).toEqual([400, 'ERR_MALFORMED_REQUEST']);
    expect(old.json.message).toContain('has been compacted: start again without a token');
  });
});
