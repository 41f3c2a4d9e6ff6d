/**
 * The Query API on every backend, against a sidecar process: Dapr's documented examples (its dataset and queries)
 * through the official SDK over HTTP and gRPC, with and without indexes; Dapr's errors for bad queries and tokens;
 * indexes written in the value's engine transaction; and paging at one revision through a store under writes.
 */
import { randomUUID } from 'node:crypto';
import { CommunicationProtocolEnum, type DaprClient } from '@dapr/dapr';
import { status } from '@grpc/grpc-js';
import { EtcdGrpcClient, b } from '../etcd/support/etcd-grpc-client';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { daprGrpc, grpcFailure, reasonOf, type DaprGrpc } from './support/dapr-grpc-client';
import { freshSpace, sidecarBackends, stateStoreOn } from './support/sidecar-backends';
import { sdkClient, stateWriter, type StateItem } from './support/state-client';

jest.setTimeout(60_000);

/** Dapr's query example dataset (docs: state-management/query-api-examples/dataset.json). */
const DATASET: [string, string, number, string, string][] = [
  ['1', 'Dev Ops', 1036, 'Seattle', 'WA'],
  ['2', 'Hardware', 1028, 'Portland', 'OR'],
  ['3', 'Finance', 1071, 'Sacramento', 'CA'],
  ['4', 'Dev Ops', 1042, 'Spokane', 'WA'],
  ['5', 'Hardware', 1007, 'Los Angeles', 'CA'],
  ['6', 'Finance', 1094, 'Eugene', 'OR'],
  ['7', 'Dev Ops', 1015, 'San Francisco', 'CA'],
  ['8', 'Hardware', 1077, 'Redmond', 'WA'],
  ['9', 'Finance', 1002, 'San Diego', 'CA'],
  ['10', 'Dev Ops', 1054, 'New York', 'NY'],
];
const valueOf = (key: string) => {
  const [, org, id, city, state] = DATASET.find((d) => d[0] === key)!;
  return { person: { org, id }, city, state };
};

// The docs' queries (query-api-examples/query1.json ... query3.json).
const QUERY1 = { filter: { EQ: { state: 'CA' } }, sort: [{ key: 'person.id', order: 'DESC' }] };
const QUERY2 = { filter: { IN: { 'person.org': ['Dev Ops', 'Hardware'] } } };
const QUERY3 = {
  filter: {
    OR: [
      { EQ: { 'person.org': 'Dev Ops' } },
      { AND: [{ EQ: { 'person.org': 'Finance' } }, { IN: { state: ['CA', 'WA'] } }] },
    ],
  },
  sort: [{ key: 'state', order: 'DESC' }, { key: 'person.id' }],
  page: { limit: 3 },
};

interface QueryAnswer {
  results: { key: string; data: unknown; etag?: string; error?: string }[];
  token?: string;
  metadata?: Record<string, string>;
}

describe.each(sidecarBackends)('query on state.$type', (backend) => {
  let sc: Sidecar;
  let clients: [string, DaprClient][];
  let raw: DaprGrpc;
  let kv: EtcdGrpcClient;
  const stores = ['plain', 'indexed'] as const;

  const http = async (
    path: string,
    body: unknown,
  ): Promise<{ status: number; json?: QueryAnswer & Record<string, unknown> }> => {
    const res = await fetch(`${sc.httpUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    const text = await res.text();
    return {
      status: res.status,
      json: text ? (JSON.parse(text) as QueryAnswer & Record<string, unknown>) : undefined,
    };
  };
  const query = (store: string, q: unknown) => http(`/v1.0-alpha1/state/${store}/query`, q);
  const save = (store: string, items: StateItem[]) => stateWriter(() => sc.httpUrl, store).save(items);
  /** The SDK's answer with `data` parsed (over gRPC it is the stored bytes). */
  const sdkQuery = async (client: DaprClient, store: string, q: object): Promise<QueryAnswer> => {
    const r = (await client.state.query(store, q as never)) as unknown as QueryAnswer;
    return {
      ...r,
      results: r.results.map((it) => ({
        ...it,
        data: it.data instanceof Uint8Array ? JSON.parse(Buffer.from(it.data).toString('utf8')) : it.data,
      })),
    };
  };

  beforeAll(async () => {
    await backend.setup();
    sc = await startSidecar({
      appId: 'queryapp',
      components: {
        'plain.yaml': stateStoreOn(backend, 'plain', freshSpace()),
        // Served on the etcd API, so the tests can read what is stored at a revision.
        'indexed.yaml': stateStoreOn(backend, 'indexed', freshSpace(), {
          queryIndexes: 'state,person.org,group',
          etcdAPI: 'true',
        }),
      },
    });
    clients = [];
    for (const [name, protocol, port] of [
      ['HTTP', CommunicationProtocolEnum.HTTP, sc.httpPort],
      ['gRPC', CommunicationProtocolEnum.GRPC, sc.grpcPort],
    ] as const) {
      const c = await sdkClient(port, protocol);
      clients.push([name, c]);
    }
    raw = daprGrpc(sc.grpcPort);
    kv = new EtcdGrpcClient(`127.0.0.1:${sc.grpcPort}`);
    const items = DATASET.map(([key]) => ({ key, value: valueOf(key) }));
    for (const store of stores) await save(store, items);
    // The index entries are checked in the background at start-up; queries scan until then.
    const deadline = Date.now() + 15_000;
    while ((await query('indexed', QUERY1)).json?.metadata?.plan !== 'index') {
      if (Date.now() > deadline) throw new Error('the index of store "indexed" never became ready');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    for (const [, c] of clients ?? []) await c.stop();
    raw?.close();
    kv?.close();
    await sc?.stop();
    await backend.teardown();
  });

  test.each(stores)(
    "Dapr's documented queries give the documented results (%s, both protocols)",
    async (store) => {
      for (const [, client] of clients) {
        const q1 = await sdkQuery(client, store, QUERY1);
        expect(q1.results.map((r) => r.key)).toEqual(['3', '7', '5', '9']);
        for (const r of q1.results) {
          expect(r.data).toEqual(valueOf(r.key));
          expect(r.etag).toMatch(/^\d+$/);
        }
        expect(q1.token || undefined).toBeUndefined();

        const q2 = await sdkQuery(client, store, QUERY2);
        expect(q2.results.map((r) => r.key).sort()).toEqual(['1', '10', '2', '4', '5', '7', '8']);

        const q3 = await sdkQuery(client, store, QUERY3);
        expect(q3.results.map((r) => r.key)).toEqual(['1', '4', '10']);
        expect(q3.token).toBeTruthy();
        const next = await sdkQuery(client, store, { ...QUERY3, page: { limit: 3, token: q3.token } });
        expect(next.results.map((r) => r.key)).toEqual(['9', '7', '3']);
        expect(next.token || undefined).toBeUndefined();

        // query3-token.json sends Dapr's offset token "3" literally.
        const docsToken = await sdkQuery(client, store, { ...QUERY3, page: { limit: 3, token: '3' } });
        expect(docsToken.results.map((r) => r.key)).toEqual(['9', '7', '3']);

        // The JS SDK's own e2e expectation: no match is an empty result list.
        expect(
          (await sdkQuery(client, store, { filter: { EQ: { state: 'statenotfound' } } })).results,
        ).toEqual([]);
      }
    },
  );

  test.each(stores)("components-contrib's conformance queries (%s)", async (store) => {
    const k = randomUUID().slice(0, 8);
    await save(store, [
      { key: `${k}-struct`, value: { message: `test${k}` } },
      {
        key: `${k}-struct-operations`,
        value: { product: { value: 15 }, status: 'ACTIVE', message: `${k}message` },
      },
      {
        key: `${k}-struct-operations-inactive`,
        value: { product: { value: 12 }, status: 'INACTIVE', message: `${k}message` },
      },
    ]);
    const keys = async (q: unknown) => ((await query(store, q)).json?.results ?? []).map((r) => r.key);
    expect(
      await keys({
        filter: { OR: [{ EQ: { message: 'dummy' } }, { IN: { message: [`test${k}`, 'dummy'] } }] },
      }),
    ).toEqual([`${k}-struct`]);
    expect(
      await keys({
        filter: {
          AND: [
            { EQ: { message: `${k}message` } },
            { GTE: { 'product.value': 10 } },
            { LT: { 'product.value': 20 } },
            { NEQ: { status: 'INACTIVE' } },
          ],
        },
      }),
    ).toEqual([`${k}-struct-operations`]);
    expect(
      await keys({
        filter: {
          OR: [
            {
              AND: [
                { EQ: { message: `${k}message` } },
                { GT: { 'product.value': 11.1 } },
                { EQ: { status: 'INACTIVE' } },
              ],
            },
            {
              AND: [
                { EQ: { message: `${k}message` } },
                { LTE: { 'product.value': 0.5 } },
                { EQ: { status: 'ACTIVE' } },
              ],
            },
          ],
        },
      }),
    ).toEqual([`${k}-struct-operations-inactive`]);
  });

  test('an equality on an indexed field is answered from the index, with the same results as a scan', async () => {
    for (const q of [QUERY1, QUERY2, QUERY3, { filter: { EQ: { 'person.org': 'Finance' } } }]) {
      const plain = await query('plain', q);
      const indexed = await query('indexed', q);
      expect(indexed.json?.metadata?.plan).toBe('index');
      expect(plain.json?.metadata?.plan).toBe('scan');
      expect(indexed.json?.results.map((r) => [r.key, r.data])).toEqual(
        plain.json?.results.map((r) => [r.key, r.data]),
      );
    }
    // Operators an index cannot answer scan.
    expect((await query('indexed', { filter: { GT: { 'person.id': 1050 } } })).json?.metadata?.plan).toBe(
      'scan',
    );
  });

  test('index entries are written in the same engine transaction as the value, and leave with it', async () => {
    const entries = async (key: string) => {
      const res = (await kv.ok('KV', 'Range', {
        key: b('statecar-index||'),
        range_end: b('statecar-index}'),
      })) as { kvs?: { key: Buffer; mod_revision: string }[] };
      return (res.kvs ?? [])
        .filter((e) => e.key.toString().endsWith(`||${key}`))
        .map((e) => ({ key: e.key.toString(), rev: e.mod_revision }));
    };
    const key = `ix-${randomUUID().slice(0, 8)}`;
    await save('indexed', [{ key, value: { state: 'TX', person: { org: 'Legal', id: 1 } } }]);
    const etag = (await fetch(`${sc.httpUrl}/v1.0/state/indexed/${key}`)).headers.get('etag');
    const written = await entries(key);
    expect(written.map((e) => e.key).sort()).toEqual(
      [
        `statecar-index||queryapp%7C%7C||person.org||"Legal"||${key}`,
        `statecar-index||queryapp%7C%7C||state||"TX"||${key}`,
      ].sort(),
    );
    for (const e of written) expect(e.rev).toBe(etag);

    // A change of one field moves its entry only; a delete removes every entry.
    await save('indexed', [{ key, value: { state: 'NM', person: { org: 'Legal', id: 1 } } }]);
    expect((await entries(key)).map((e) => e.key).some((k) => k.includes('"NM"'))).toBe(true);
    expect((await entries(key)).map((e) => e.key).some((k) => k.includes('"TX"'))).toBe(false);
    expect((await query('indexed', { filter: { EQ: { state: 'TX' } } })).status).toBe(204);
    expect(
      (await query('indexed', { filter: { EQ: { state: 'NM' } } })).json?.results.map((r) => r.key),
    ).toEqual([key]);
    expect((await fetch(`${sc.httpUrl}/v1.0/state/indexed/${key}`, { method: 'DELETE' })).status).toBe(204);
    expect(await entries(key)).toEqual([]);

    // A TTL expiry takes the entries along (they are on the value's lease).
    await save('indexed', [{ key, value: { state: 'AK' }, metadata: { ttlInSeconds: '1' } }]);
    expect(await entries(key)).toHaveLength(1);
    const deadline = Date.now() + 15_000;
    while ((await entries(key)).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await entries(key)).toEqual([]);
    expect((await query('indexed', { filter: { EQ: { state: 'AK' } } })).status).toBe(204);
  });

  test('a write through the etcd API (which bypasses the index) never makes the index answer wrongly', async () => {
    const key = `etcd-${randomUUID().slice(0, 8)}`;
    await save('indexed', [{ key, value: { state: 'HI' } }]);
    await kv.ok('KV', 'Put', { key: b(`queryapp||${key}`), value: b('{"state":"GU"}') });
    // The stale entry still names the key for HI, but the value read at the query's revision no longer matches.
    expect((await query('indexed', { filter: { EQ: { state: 'HI' } } })).status).toBe(204);
  });

  test('no results is 204 over HTTP and an empty answer over gRPC; the revision is in the metadata', async () => {
    const none = await query('plain', { filter: { EQ: { state: 'ZZ' } } });
    expect(none.status).toBe(204);
    expect(none.json).toBeUndefined();
    const some = await query('plain', QUERY1);
    expect(some.status).toBe(200);
    expect(Number(some.json?.metadata?.revision)).toBeGreaterThan(0);
    const empty = await raw.call<{ results: unknown[]; token: string }>('QueryStateAlpha1', {
      storeName: 'plain',
      query: JSON.stringify({ filter: { EQ: { state: 'ZZ' } } }),
    });
    expect(empty).toMatchObject({ results: [], token: '' });
  });

  test("bad queries and tokens: Dapr's ERR_STATE_QUERY with a message that says what is wrong", async () => {
    const q3 = (await query('plain', QUERY3)).json!;
    const cases: [unknown, string][] = [
      [{ filter: { NOT: { state: 'CA' } } }, 'failed to parse JSON query body: unsupported filter "NOT"'],
      [{ filter: { EQ: { state: 'CA', city: 'x' } } }, 'EQ filter must contain a single key/value pair'],
      [{ filter: { EQ: 'CA' } }, 'EQ filter must be a map'],
      [{ filter: { AND: [{ EQ: { state: 'CA' } }] } }, 'AND filter must contain at least two entries'],
      [{ filter: { OR: {} } }, 'OR filter must be an array'],
      [{ filter: { IN: { state: 'CA' } } }, 'IN filter value must be an array'],
      [{ filter: { IN: { state: [] } } }, 'empty IN operator for key "state"'],
      [{ filter: { GT: { 'person.id': 'x' } } }, 'unsupported type of value "x"; string type not permitted'],
      [{ filter: { EQ: { state: { a: 1 } } } }, 'must be a string, number, boolean or null, not object'],
      [{ filter: { EQ: { state: 'CA' }, OR: [] } }, 'filter unit must have a single element'],
      [{ filter: { EQ: { 'a..b': 1 } } }, 'is not a field path'],
      [{ sort: [{ key: 'state', order: 'UP' }] }, 'sort order "UP" is not ASC or DESC'],
      [{ page: { limit: 3.5 } }, 'page.limit'],
      [{ ...QUERY1, page: { limit: 3, token: 'not-a-token' } }, 'invalid page token'],
      [{ ...QUERY1, page: { limit: 3, token: q3.token } }, 'belongs to another store or another query'],
    ];
    for (const [q, message] of cases) {
      const r = await query('plain', q);
      expect([r.status, r.json?.errorCode]).toEqual([500, 'ERR_STATE_QUERY']);
      expect(r.json?.message).toContain('state store plain query failed: ');
      expect(r.json?.message).toContain(message);
      const f = await grpcFailure(
        raw.call('QueryStateAlpha1', { storeName: 'plain', query: JSON.stringify(q) }),
      );
      expect(f.code).toBe(status.INTERNAL);
      expect(reasonOf(f)).toBe('DAPR_STATE_QUERY_FAILED');
      expect(f.details).toContain(message);
    }
    // Not JSON at all, and an empty body.
    for (const body of ['{"filter":', '']) {
      const res = await fetch(`${sc.httpUrl}/v1.0-alpha1/state/plain/query`, { method: 'POST', body });
      expect(res.status).toBe(500);
      expect(((await res.json()) as { message: string }).message).toContain(
        'failed to parse JSON query body',
      );
    }
    // A token of the same query on another store is foreign too.
    const other = await query('indexed', { ...QUERY3, page: { limit: 3, token: q3.token } });
    expect(other.json?.message).toContain('belongs to another store or another query');
    // Unknown store: Dapr's lookup error, not a query failure.
    const unknown = await query('nostore', QUERY1);
    expect([unknown.status, unknown.json?.errorCode]).toEqual([400, 'ERR_STATE_STORE_NOT_FOUND']);
  });

  test('a filter or sort on a value that is not JSON is refused; without one the value comes back', async () => {
    const key = `raw-${randomUUID().slice(0, 8)}`;
    await raw.call('SaveState', {
      storeName: 'plain',
      states: [{ key, value: Buffer.from([0xff, 0x00, 0x01]) }],
    });
    try {
      const r = await query('plain', { filter: { EQ: { state: 'CA' } } });
      expect([r.status, r.json?.errorCode]).toEqual([500, 'ERR_STATE_QUERY']);
      expect(r.json?.message).toContain(`the value of key "${key}" is not JSON`);
      expect((await query('plain', { sort: [{ key: 'state' }] })).json?.errorCode).toBe('ERR_STATE_QUERY');
      const all = await query('plain', {});
      const item = all.json?.results.find((it) => it.key === key);
      expect(item).toEqual({
        key,
        etag: expect.any(String),
        error: 'the value is not JSON: read it with GET',
      });
      const grpcAll = await raw.call<{ results: { key: string; data: Buffer }[] }>('QueryStateAlpha1', {
        storeName: 'plain',
        query: '{}',
      });
      expect(grpcAll.results.find((it) => it.key === key)?.data).toEqual(Buffer.from([0xff, 0x00, 0x01]));
    } finally {
      await fetch(`${sc.httpUrl}/v1.0/state/plain/${key}`, { method: 'DELETE' });
    }
  });

  test('QUERY_API is among the capabilities the metadata API lists', async () => {
    for (const [, client] of clients) {
      const m = await client.metadata.get();
      for (const store of stores) {
        expect(m.components.find((c) => c.name === store)?.capabilities).toEqual(
          expect.arrayContaining(['QUERY_API']),
        );
      }
    }
  });

  test('a paged query through a store under concurrent writes returns each key of its revision exactly once', async () => {
    const prefix = `page-${randomUUID().slice(0, 6)}-`;
    const n = 150;
    await save(
      'indexed',
      Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: { group: prefix, n: i } })),
    );
    // Writers add keys, delete keys and change the sort field while the pages are read.
    let stop = false;
    let writes = 0;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const key = `${prefix}${(i * 7 + w * 31) % (n * 2)}`;
        if (i % 3 === 2) await fetch(`${sc.httpUrl}/v1.0/state/indexed/${key}`, { method: 'DELETE' });
        else await save('indexed', [{ key, value: { group: prefix, n: (i * 13 + w) % 500 } }]);
        writes++;
      }
    };
    const writers = [0, 1, 2].map(writer);
    const pageThrough = async (q: object) => {
      const seen: string[] = [];
      let revision: string | undefined;
      let token: string | undefined;
      let pages = 0;
      let plan: string | undefined;
      do {
        const r = await query('indexed', { ...q, page: { limit: 17, token } });
        if (r.status === 204) break;
        revision ??= r.json!.metadata!.revision;
        plan ??= r.json!.metadata!.plan;
        expect(r.json!.metadata!.revision).toBe(revision);
        seen.push(...r.json!.results.map((it) => it.key));
        token = r.json!.token;
        pages++;
        // Let the writers get ahead between pages.
        await new Promise((res) => setTimeout(res, 20));
      } while (token);
      return { seen, revision: revision!, pages, plan: plan! };
    };
    const sort = [{ key: 'n', order: 'DESC' }];
    const runs: { seen: string[]; revision: string; pages: number; plan: string }[] = [];
    const expectedPlans = ['index', 'scan'];
    try {
      // The same guarantee whether an index or a scan finds the rows.
      runs.push(await pageThrough({ filter: { EQ: { group: prefix } }, sort }));
      runs.push(await pageThrough({ filter: { GTE: { n: 0 } }, sort }));
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    for (const run of runs) {
      expect(run.pages).toBeGreaterThan(5);
      // What the store held at that revision, read through the etcd API.
      const at = (await kv.ok('KV', 'Range', {
        key: b(`queryapp||${prefix}`),
        range_end: b(`queryapp||${prefix.slice(0, -1)}.`),
        revision: run.revision,
      })) as { kvs?: { key: Buffer }[] };
      const expected = (at.kvs ?? []).map((e) => e.key.toString().slice('queryapp||'.length));
      expect(new Set(run.seen).size).toBe(run.seen.length);
      expect([...run.seen].sort()).toEqual([...expected].sort());
    }
    expect(runs.map((r) => r.plan)).toEqual(expectedPlans);
    expect(Number(runs[1].revision)).toBeGreaterThan(Number(runs[0].revision));
    expect(writes).toBeGreaterThan(runs[0].pages);
  });

  test('a page token whose revision was compacted gets a clear error', async () => {
    const q = { filter: { EQ: { state: 'CA' } }, page: { limit: 1 } };
    const first = (await query('indexed', q)).json!;
    expect(first.token).toBeTruthy();
    await save('indexed', [{ key: `after-${randomUUID().slice(0, 6)}`, value: { state: 'CA' } }]);
    const head = (await kv.ok('KV', 'Range', { key: b('x') })) as { header: { revision: string } };
    await kv.ok('KV', 'Compact', { revision: head.header.revision });
    const r = await query('indexed', { ...q, page: { limit: 1, token: first.token } });
    expect([r.status, r.json?.errorCode]).toEqual([500, 'ERR_STATE_QUERY']);
    expect(r.json?.message).toContain(
      `the page token reads revision ${first.metadata!.revision}, which has been compacted`,
    );
  });
});
