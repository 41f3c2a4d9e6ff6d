/**
 * The Dapr HTTP API against a sidecar process: state semantics and the error matrix of docs/dapr-api.md#errors.
 */
import { randomUUID } from 'node:crypto';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { defaultComponents } from './support/components';
import { request } from './support/http';

let sc: Sidecar;
const S = '/v1.0/state/statestore';
const uid = () => randomUUID().replace(/-/g, '').slice(0, 12);

beforeAll(async () => {
  sc = await startSidecar({ components: defaultComponents() });
});

afterAll(async () => {
  await sc?.stop();
});

const http = (method: string, path: string, body?: string | object, headers?: Record<string, string>) =>
  request(sc.httpUrl, method, path, body, headers);

async function etagOf(key: string): Promise<string> {
  const r = await http('GET', `${S}/${key}`);
  expect(r.status).toBe(200);
  return r.headers.get('etag')!;
}

describe('save and get', () => {
  test('204 on save, 200 with the re-serialised JSON, ETag and content type on get', async () => {
    const k = uid();
    const save = await http('POST', S, [{ key: k, value: { b: 1, a: 'x<y' } }]);
    expect(save.status).toBe(204);
    expect(save.text).toBe('');
    const got = await http('GET', `${S}/${k}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/json');
    expect(got.text).toBe('{"a":"x\\u003cy","b":1}');
    expect(got.headers.get('etag')).toMatch(/^\d+$/);
  });

  test('a string value is stored JSON-quoted; PUT works like POST', async () => {
    const k = uid();
    expect((await http('PUT', S, [{ key: k, value: 'hello' }])).status).toBe(204);
    expect((await http('GET', `${S}/${k}`)).text).toBe('"hello"');
  });

  test('204 with empty body and no ETag for a missing key', async () => {
    const r = await http('GET', `${S}/missing-${uid()}`);
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    expect(r.headers.get('etag')).toBeNull();
  });

  test('a missing value is stored as null; unknown fields are accepted', async () => {
    const k = uid();
    expect((await http('POST', S, [{ key: k, vae: 1 }])).status).toBe(204);
    const r = await http('GET', `${S}/${k}`);
    expect(r.status).toBe(200);
    expect(r.text).toBe('null');
  });

  test('[] is 204; several items and duplicate keys are 204', async () => {
    expect((await http('POST', S, [])).status).toBe(204);
    const k = uid();
    expect(
      (
        await http('POST', S, [
          { key: k, value: 1 },
          { key: `${k}-2`, value: 2 },
        ])
      ).status,
    ).toBe(204);
    expect(
      (
        await http('POST', S, [
          { key: k, value: 3 },
          { key: k, value: 3 },
        ])
      ).status,
    ).toBe(204);
  });

  test('keys with %2F and + are decoded like daprd (query-unescape)', async () => {
    const k = `a/b c-${uid()}`;
    expect((await http('POST', S, [{ key: k, value: 1 }])).status).toBe(204);
    const enc = encodeURIComponent(k).replace(/%20/g, '+');
    expect((await http('GET', `${S}/${enc}`)).text).toBe('1');
  });

  test('key prefixes isolate stores sharing nothing and apps sharing a store', async () => {
    const k = uid();
    await http('POST', S, [{ key: k, value: 'one' }]);
    expect((await http('GET', `/v1.0/state/store2/${k}`)).status).toBe(204);
  });
});

describe('etags and concurrency', () => {
  test('matching etag saves (new etag); stale etag 409; invalid etag 400; etag on a missing key 409', async () => {
    const k = uid();
    await http('POST', S, [{ key: k, value: 1 }]);
    const e1 = await etagOf(k);
    expect((await http('POST', S, [{ key: k, value: 2, etag: e1 }])).status).toBe(204);
    const e2 = await etagOf(k);
    expect(e2).not.toBe(e1);

    const stale = await http('POST', S, [{ key: k, value: 3, etag: e1 }]);
    expect(stale.status).toBe(409);
    expect(stale.json).toMatchObject({ errorCode: 'ERR_STATE_SAVE' });
    expect((stale.json as { message: string }).message).toContain(
      'failed saving state in state store statestore: possible etag mismatch',
    );

    const invalid = await http('POST', S, [{ key: k, value: 3, etag: 'not-a-number' }]);
    expect(invalid.status).toBe(400);
    expect(invalid.json).toMatchObject({ errorCode: 'ERR_STATE_SAVE' });
    expect((invalid.json as { message: string }).message).toContain('invalid etag value');

    const missing = await http('POST', S, [{ key: `nokey-${uid()}`, value: 3, etag: '1' }]);
    expect(missing.status).toBe(409);
    expect((await http('GET', `${S}/${k}`)).text).toBe('2');
  });

  test('concurrent saves with the same etag: exactly one wins', async () => {
    const k = uid();
    await http('POST', S, [{ key: k, value: 0 }]);
    const e = await etagOf(k);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => http('POST', S, [{ key: k, value: i + 1, etag: e }])),
    );
    expect(results.filter((r) => r.status === 204)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
    const fw = await Promise.all(
      Array.from({ length: 10 }, () =>
        http('POST', S, [{ key: `fw-${k}`, value: 1, options: { concurrency: 'first-write' } }]),
      ),
    );
    expect(fw.filter((r) => r.status === 204)).toHaveLength(1);
  });

  test('first-write: allowed on a missing key, 409 on an existing one; with an etag the etag decides', async () => {
    const k = uid();
    const fw = { concurrency: 'first-write' };
    expect((await http('POST', S, [{ key: k, value: 1, options: fw }])).status).toBe(204);
    expect((await http('POST', S, [{ key: k, value: 2, options: fw }])).status).toBe(409);
    expect((await http('POST', S, [{ key: k, value: 2, etag: '', options: fw }])).status).toBe(409);
    const e = await etagOf(k);
    expect((await http('POST', S, [{ key: k, value: 3, etag: e, options: fw }])).status).toBe(204);
    expect((await http('POST', S, [{ key: k, value: 4, etag: e, options: fw }])).status).toBe(409);
  });

  test('delete: 204 for a missing key, If-Match checked, 409 stale, 400 invalid', async () => {
    expect((await http('DELETE', `${S}/gone-${uid()}`)).status).toBe(204);
    const k = uid();
    await http('POST', S, [{ key: k, value: 1 }]);
    const e = await etagOf(k);
    const stale = await http('DELETE', `${S}/${k}`, undefined, { 'if-match': String(Number(e) + 1000) });
    expect(stale.status).toBe(409);
    expect(stale.json).toMatchObject({ errorCode: 'ERR_STATE_DELETE' });
    const invalid = await http('DELETE', `${S}/${k}`, undefined, { 'if-match': 'abc' });
    expect(invalid.status).toBe(400);
    expect(invalid.json).toMatchObject({ errorCode: 'ERR_STATE_DELETE' });
    expect((await http('DELETE', `${S}/${k}`, undefined, { 'if-match': e })).status).toBe(204);
    expect((await http('GET', `${S}/${k}`)).status).toBe(204);
  });

  test('delete with first-write: 409 when the key exists, 204 when it does not', async () => {
    const k = uid();
    await http('POST', S, [{ key: k, value: 1 }]);
    expect((await http('DELETE', `${S}/${k}?concurrency=first-write`)).status).toBe(409);
    expect((await http('DELETE', `${S}/none-${uid()}?concurrency=first-write`)).status).toBe(204);
  });

  test('multi-item save is per item: the good item is written, the stale one reported as 409', async () => {
    const a = uid();
    const b = uid();
    await http('POST', S, [{ key: a, value: 'a1' }]);
    const r = await http('POST', S, [
      { key: a, value: 'a2', etag: '999999' },
      { key: b, value: 'b1' },
    ]);
    expect(r.status).toBe(409);
    expect((await http('GET', `${S}/${a}`)).text).toBe('"a1"');
    expect((await http('GET', `${S}/${b}`)).text).toBe('"b1"');
  });

  test('unknown concurrency / consistency strings are 500 ERR_STATE_SAVE', async () => {
    const r = await http('POST', S, [{ key: uid(), value: 1, options: { concurrency: 'sometimes' } }]);
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ errorCode: 'ERR_STATE_SAVE' });
  });

  test('strong and eventual reads both see the latest write', async () => {
    const k = uid();
    await http('POST', S, [{ key: k, value: 7, options: { consistency: 'strong' } }]);
    expect((await http('GET', `${S}/${k}?consistency=strong`)).text).toBe('7');
    expect((await http('GET', `${S}/${k}?consistency=eventual`)).text).toBe('7');
  });
});

describe('malformed requests and unknown stores', () => {
  test.each([
    ['empty body', ''],
    ['object', '{}'],
    ['not JSON', 'foobar'],
    ['item without key', '[{}]'],
    ['misspelt key field', '[{"ey":"k"}]'],
    ['trailing comma', '[{"key":"k","value":1},]'],
    ['trailing comma in object', '[{"key":"k","value":1,}]'],
    ['numeric etag', '[{"key":"k","value":1,"etag":5}]'],
    ['non-string metadata', '[{"key":"k","metadata":{"ttlInSeconds":5}}]'],
  ])('400 ERR_MALFORMED_REQUEST: %s', async (_name, body) => {
    const r = await http('POST', S, body);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ errorCode: 'ERR_MALFORMED_REQUEST' });
  });

  test('"key" is a required field', async () => {
    const r = await http('POST', S, '[{"value":1}]');
    expect(r.json).toEqual({ errorCode: 'ERR_MALFORMED_REQUEST', message: '"key" is a required field' });
  });

  test('a key with || is a rich 400 with ErrorInfo, ResourceInfo and BadRequest', async () => {
    const r = await http('POST', S, [{ key: 'ke||y1', value: 'v' }]);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/json');
    const body = r.json as { errorCode: string; message: string; details: Record<string, unknown>[] };
    expect(body.errorCode).toBe('ERR_MALFORMED_REQUEST');
    expect(body.message).toBe("input key/keyPrefix 'ke||y1' can't contain '||'");
    expect(body.details).toHaveLength(3);
    const byType = Object.fromEntries(body.details.map((d) => [String(d['@type']).split('.').pop(), d]));
    expect(byType.ErrorInfo).toMatchObject({ reason: 'DAPR_STATE_ILLEGAL_KEY', domain: 'dapr.io' });
    expect(byType.ResourceInfo).toMatchObject({ resource_type: 'state', resource_name: 'statestore' });
    expect(byType.BadRequest).toMatchObject({ field_violations: [{ field: 'ke||y1' }] });
    // Also on get, delete and bulk.
    expect((await http('GET', `${S}/a||b`)).status).toBe(400);
    expect((await http('DELETE', `${S}/a||b`)).status).toBe(400);
    expect((await http('POST', `${S}/bulk`, { keys: ['ok', 'a||b'] })).status).toBe(400);
  });

  test('400 ERR_STATE_STORE_NOT_FOUND for an unknown store, with ErrorInfo', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1.0/state/nope', '[]'],
      ['GET', '/v1.0/state/nope/k', undefined],
      ['DELETE', '/v1.0/state/nope/k', undefined],
      ['POST', '/v1.0/state/nope/bulk', '{"keys":[]}'],
      ['POST', '/v1.0/state/nope/transaction', '{"operations":[]}'],
    ] as const) {
      const r = await http(method, path, body);
      expect(r.status).toBe(400);
      const b = r.json as { errorCode: string; message: string; details: Record<string, unknown>[] };
      expect(b.errorCode).toBe('ERR_STATE_STORE_NOT_FOUND');
      expect(b.message).toBe('state store nope is not found');
      expect(b.details).toEqual([
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'DAPR_STATE_NOT_FOUND',
          domain: 'dapr.io',
          metadata: { appID: 'testapp' },
        },
      ]);
    }
  });

  test('unmatched routes are Dapr’s 404 ERR_DIRECT_INVOKE', async () => {
    const r = await http('GET', '/v1.0/nothing/here');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({
      errorCode: 'ERR_DIRECT_INVOKE',
      message: 'failed getting app id either from the URL path or the header dapr-app-id',
    });
  });

  test('bad ttlInSeconds is 500 ERR_STATE_SAVE and nothing is written', async () => {
    const k = uid();
    const r = await http('POST', S, [{ key: k, value: 1, metadata: { ttlInSeconds: 'foo' } }]);
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ errorCode: 'ERR_STATE_SAVE' });
    expect((await http('GET', `${S}/${k}`)).status).toBe(204);
  });

  test('the process keeps serving after bad input', async () => {
    expect((await http('GET', '/v1.0/healthz')).status).toBe(204);
  });
});

describe('bulk get', () => {
  test('items in request order with data, etag; missing keys with just the key; [] for no keys', async () => {
    const a = uid();
    const b = uid();
    await http('POST', S, [
      { key: a, value: { x: 1 } },
      { key: b, value: 'two' },
    ]);
    const r = await http('POST', `${S}/bulk`, { keys: [b, 'nope-' + a, a], parallelism: 2 });
    expect(r.status).toBe(200);
    const items = r.json as { key: string; data?: unknown; etag?: string }[];
    expect(items.map((i) => i.key)).toEqual([b, 'nope-' + a, a]);
    expect(items[0]).toMatchObject({ key: b, data: 'two' });
    expect(items[0].etag).toMatch(/^\d+$/);
    expect(items[1]).toEqual({ key: 'nope-' + a });
    expect(items[2]).toMatchObject({ key: a, data: { x: 1 } });
    expect((await http('PUT', `${S}/bulk`, { keys: [] })).json).toEqual([]);
    expect((await http('POST', `${S}/bulk`, 'nope')).status).toBe(400);
  });
});

describe('transactions', () => {
  test('upserts and deletes apply in order, atomically (204)', async () => {
    const [k1, k2, k3] = [uid(), uid(), uid()];
    await http('POST', S, [{ key: k1, value: 'v1' }]);
    const r = await http('POST', `${S}/transaction`, {
      operations: [
        { operation: 'delete', request: { key: k1 } },
        { operation: 'upsert', request: { key: k2, value: 'value2' } },
        { operation: 'delete', request: { key: k2 } },
        { operation: 'upsert', request: { key: k3, value: 'value3' } },
      ],
    });
    expect(r.status).toBe(204);
    expect((await http('GET', `${S}/${k1}`)).status).toBe(204);
    expect((await http('GET', `${S}/${k2}`)).status).toBe(204);
    expect((await http('GET', `${S}/${k3}`)).text).toBe('"value3"');
  });

  test('every written key gets the same revision (one engine txn)', async () => {
    const [a, b] = [uid(), uid()];
    await http('POST', `${S}/transaction`, {
      operations: [
        { operation: 'upsert', request: { key: a, value: 1 } },
        { operation: 'upsert', request: { key: b, value: 2 } },
      ],
    });
    expect(await etagOf(a)).toBe(await etagOf(b));
  });

  test('500 ERR_STATE_TRANSACTION on a stale etag, with nothing written', async () => {
    const [a, b] = [uid(), uid()];
    await http('POST', S, [{ key: a, value: 'before' }]);
    const e = await etagOf(a);
    const r = await http('POST', `${S}/transaction`, {
      operations: [
        { operation: 'upsert', request: { key: b, value: 'new' } },
        { operation: 'upsert', request: { key: a, value: 'after', etag: String(Number(e) + 100) } },
      ],
    });
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ errorCode: 'ERR_STATE_TRANSACTION' });
    expect((r.json as { message: string }).message).toMatch(/^error while executing state transaction: /);
    expect((await http('GET', `${S}/${b}`)).status).toBe(204);
    expect((await http('GET', `${S}/${a}`)).text).toBe('"before"');
    expect(await etagOf(a)).toBe(e);
  });

  test('400 for an unknown operation, an object etag, bad JSON; 204 for no operations', async () => {
    const unknown = await http('POST', `${S}/transaction`, {
      operations: [{ operation: 'merge', request: { key: 'k' } }],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({
      errorCode: 'ERR_NOT_SUPPORTED_STATE_OPERATION',
      message: 'operation type merge not supported',
    });
    const objEtag = await http('POST', `${S}/transaction`, {
      operations: [{ operation: 'upsert', request: { key: 'k', value: 1, etag: { value: '1' } } }],
    });
    expect(objEtag.status).toBe(400);
    expect(objEtag.json).toMatchObject({ errorCode: 'ERR_MALFORMED_REQUEST' });
    expect((await http('POST', `${S}/transaction`, '{"operations":')).status).toBe(400);
    expect((await http('POST', `${S}/transaction`, { operations: [] })).status).toBe(204);
  });

  test('over maxTxnOps operations is 400 ERR_STATE_STORE_TOO_MANY_TRANSACTIONS with the counts', async () => {
    const operations = Array.from({ length: 129 }, (_, i) => ({
      operation: 'upsert',
      request: { key: `m${i}` },
    }));
    // store2 sets maxTxnOps: 128 (statestore has no limit, as Dapr's stores).
    const r = await http('POST', '/v1.0/state/store2/transaction', { operations });
    expect(r.status).toBe(400);
    const b = r.json as { errorCode: string; details: Record<string, unknown>[] };
    expect(b.errorCode).toBe('ERR_STATE_STORE_TOO_MANY_TRANSACTIONS');
    expect(b.details[0]).toMatchObject({
      reason: 'DAPR_STATE_TOO_MANY_TRANSACTIONS',
      metadata: { currentOpsTransaction: '129', maxOpsPerTransaction: '128' },
    });
  });
});

describe('TTL', () => {
  test('ttlInSeconds expires the key; ttlExpireTime is reported on get and bulk get', async () => {
    const k = uid();
    const before = Date.now();
    await http('POST', `${S}?metadata.ttlInSeconds=2`, [{ key: k, value: 'short' }]);
    const got = await http('GET', `${S}/${k}`);
    expect(got.status).toBe(200);
    const exp = Date.parse(got.headers.get('metadata.ttlexpiretime')!);
    expect(Math.abs(exp - (before + 2000))).toBeLessThanOrEqual(1500);
    const bulk = await http('POST', `${S}/bulk`, { keys: [k] });
    expect((bulk.json as { metadata: Record<string, string> }[])[0].metadata.ttlExpireTime).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    const deadline = Date.now() + 5000;
    let status = 200;
    while (Date.now() < deadline && status === 200) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await http('GET', `${S}/${k}`)).status;
    }
    expect(status).toBe(204);
  });

  test('-1 and a save without TTL remove the TTL', async () => {
    const k = uid();
    await http('POST', S, [{ key: k, value: 1, metadata: { ttlInSeconds: '2' } }]);
    expect((await http('GET', `${S}/${k}`)).headers.get('metadata.ttlexpiretime')).not.toBeNull();
    await http('POST', S, [{ key: k, value: 2, metadata: { ttlInSeconds: '-1' } }]);
    expect((await http('GET', `${S}/${k}`)).headers.get('metadata.ttlexpiretime')).toBeNull();
    await new Promise((r) => setTimeout(r, 2500));
    expect((await http('GET', `${S}/${k}`)).text).toBe('2');
  });

  test('no TTL, no ttlExpireTime', async () => {
    const k = uid();
    await http('POST', S, [{ key: k, value: 1 }]);
    expect((await http('GET', `${S}/${k}`)).headers.get('metadata.ttlexpiretime')).toBeNull();
  });
});

describe('query, lock, metadata, health', () => {
  test('a malformed query is 500 ERR_STATE_QUERY, as Dapr (the query API itself: test/dapr/query.test.ts)', async () => {
    const r = await http('POST', '/v1.0-alpha1/state/statestore/query', { filter: { LIKE: { a: 1 } } });
    expect(r.status).toBe(500);
    const b = r.json as { errorCode: string; message: string; details: Record<string, unknown>[] };
    expect(b.errorCode).toBe('ERR_STATE_QUERY');
    expect(b.message).toBe(
      'state store statestore query failed: failed to parse JSON query body: unsupported filter "LIKE"',
    );
    expect(b.details.map((d) => d.reason ?? d.resource_name)).toEqual([
      'DAPR_STATE_QUERY_FAILED',
      'statestore',
    ]);
  });

  test('lock: not re-entrant, owner checks, statuses 0-2, expiry honoured', async () => {
    const res = uid();
    const lock = (owner: string, expiryInSeconds = 10) =>
      http('POST', '/v1.0-alpha1/lock/lockstore', { resourceId: res, lockOwner: owner, expiryInSeconds });
    const unlock = (owner: string) =>
      http('POST', '/v1.0-alpha1/unlock/lockstore', { resourceId: res, lockOwner: owner });
    expect((await lock('a')).json).toEqual({ success: true });
    expect((await lock('a')).json).toEqual({ success: false });
    expect((await lock('b')).json).toEqual({ success: false });
    expect((await unlock('b')).json).toEqual({ status: 2 });
    expect((await unlock('a')).json).toEqual({ status: 0 });
    expect((await unlock('a')).json).toEqual({ status: 1 });
    expect((await lock('c', 1)).json).toEqual({ success: true });
    await new Promise((r) => setTimeout(r, 1300));
    expect((await lock('d')).json).toEqual({ success: true });
  });

  test('lock errors: expiry, empty fields, unknown store', async () => {
    const post = (path: string, body: object) => http('POST', path, body);
    let r = await post('/v1.0-alpha1/lock/lockstore', {
      resourceId: 'r',
      lockOwner: 'o',
      expiryInSeconds: 0,
    });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      errorCode: 'ERR_MALFORMED_REQUEST',
      message: 'ExpiryInSeconds is not positive in lock store lockstore',
    });
    r = await post('/v1.0-alpha1/lock/lockstore', { lockOwner: 'o', expiryInSeconds: 5 });
    expect(r.json).toEqual({
      errorCode: 'ERR_MALFORMED_REQUEST',
      message: 'ResourceId is empty in lock store lockstore',
    });
    r = await post('/v1.0-alpha1/unlock/lockstore', { resource_id: 'r' });
    expect(r.json).toEqual({
      errorCode: 'ERR_MALFORMED_REQUEST',
      message: 'LockOwner is empty in lock store lockstore',
    });
    r = await post('/v1.0-alpha1/lock/nolock', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: '5' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ errorCode: 'ERR_LOCK_STORE_NOT_FOUND', message: 'lock store nolock not found' });
    // daprd answers 500 ERR_TRY_LOCK here (its component refuses the id); it is the client's error: 400.
    r = await post('/v1.0-alpha1/lock/lockstore', { resourceId: 'a||b', lockOwner: 'o', expiryInSeconds: 5 });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      errorCode: 'ERR_MALFORMED_REQUEST',
      message: "input key/keyPrefix 'a||b' can't contain '||'",
    });
    r = await post('/v1.0-alpha1/unlock/lockstore', { resourceId: 'a||b', lockOwner: 'o' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ errorCode: 'ERR_MALFORMED_REQUEST' });
  });

  test('metadata GET lists the components; PUT sets an extended attribute', async () => {
    expect(
      (await http('PUT', '/v1.0/metadata/team', 'storage', { 'content-type': 'text/plain' })).status,
    ).toBe(204);
    const r = await http('GET', '/v1.0/metadata');
    expect(r.status).toBe(200);
    const m = r.json as {
      id: string;
      components: { name: string; capabilities?: string[] }[];
      extended: object;
    };
    expect(m.id).toBe('testapp');
    expect(m.components.map((c) => c.name).sort()).toEqual(['lockstore', 'statestore', 'store2']);
    expect(m.components.find((c) => c.name === 'statestore')?.capabilities).toEqual(
      expect.arrayContaining(['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API', 'ACTOR']),
    );
    expect(m.extended).toMatchObject({ team: 'storage', daprRuntimeVersion: expect.any(String) });
  });

  test('healthz 204, appid mismatch 500, outbound 204', async () => {
    expect((await http('GET', '/v1.0/healthz')).status).toBe(204);
    expect((await http('GET', '/v1.0/healthz?appid=testapp')).status).toBe(204);
    const r = await http('GET', '/v1.0/healthz?appid=other');
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ errorCode: 'ERR_HEALTH_APPID_NOT_MATCH' });
    expect((await http('GET', '/v1.0/healthz/outbound')).status).toBe(204);
  });
});
