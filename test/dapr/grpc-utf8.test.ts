/**
 * proto3 strings must be UTF-8 (docs/dapr-api.md#keys-and-prefixes): every Dapr method refuses a string field that
 * is not, with INVALID_ARGUMENT and the field's name, before any handler runs, so two different byte strings never
 * become one key. Bytes fields (values) and the etcd API's keys and values stay bytes. Raw protobuf is sent to a
 * sidecar process.
 */
import { status } from '@grpc/grpc-js';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { pb, RawGrpcClient } from '../support/raw-grpc';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { lockComponent } from './support/components';
import { daprGrpc, type DaprGrpc } from './support/dapr-grpc-client';
import { request } from './support/http';

jest.setTimeout(60_000);

const DAPR = '/dapr.proto.runtime.v1.Dapr/';
const BAD = Buffer.from([0x61, 0xff, 0x62]);
const OK = 'statestore';
const { bytes: s, msg, int, mapEntry } = pb;

/** StateItem with `bad` in one of its string fields. */
const item = (where: 'key' | 'etag' | 'metaKey' | 'metaValue' | 'none') =>
  Buffer.concat([
    s(1, where === 'key' ? BAD : 'k'),
    s(2, Buffer.from([0xff, 0xfe, 0x00])), // a value: bytes, anything goes
    where === 'etag' ? msg(3, s(1, BAD)) : Buffer.alloc(0),
    where === 'metaKey' ? mapEntry(4, BAD, 'v') : Buffer.alloc(0),
    where === 'metaValue' ? mapEntry(4, 'ttlInSeconds', BAD) : Buffer.alloc(0),
  ]);

/** One invalid string per case: method, body, and the field the error must name. */
const CASES: [string, Buffer, string][] = [
  ['GetState', Buffer.concat([s(1, BAD), s(2, 'k')]), 'GetStateRequest.store_name'],
  ['GetState', Buffer.concat([s(1, OK), s(2, BAD)]), 'GetStateRequest.key'],
  ['GetState', Buffer.concat([s(1, OK), s(2, 'k'), mapEntry(4, BAD, 'v')]), 'GetStateRequest.metadata.key'],
  ['GetState', Buffer.concat([s(1, OK), s(2, 'k'), mapEntry(4, 'a', BAD)]), 'GetStateRequest.metadata.value'],
  ['GetBulkState', Buffer.concat([s(1, OK), s(2, 'a'), s(2, BAD)]), 'GetBulkStateRequest.keys'],
  ['SaveState', Buffer.concat([s(1, BAD), msg(2, item('none'))]), 'SaveStateRequest.store_name'],
  ['SaveState', Buffer.concat([s(1, OK), msg(2, item('key'))]), 'StateItem.key'],
  ['SaveState', Buffer.concat([s(1, OK), msg(2, item('etag'))]), 'Etag.value'],
  ['SaveState', Buffer.concat([s(1, OK), msg(2, item('metaKey'))]), 'StateItem.metadata.key'],
  ['SaveState', Buffer.concat([s(1, OK), msg(2, item('metaValue'))]), 'StateItem.metadata.value'],
  ['DeleteState', Buffer.concat([s(1, OK), s(2, BAD)]), 'DeleteStateRequest.key'],
  ['DeleteState', Buffer.concat([s(1, OK), s(2, 'k'), msg(3, s(1, BAD))]), 'Etag.value'],
  [
    'DeleteState',
    Buffer.concat([s(1, OK), s(2, 'k'), mapEntry(5, 'm', BAD)]),
    'DeleteStateRequest.metadata.value',
  ],
  ['DeleteBulkState', Buffer.concat([s(1, OK), msg(2, item('key'))]), 'StateItem.key'],
  [
    'ExecuteStateTransaction',
    Buffer.concat([s(1, OK), msg(2, s(1, BAD), msg(2, item('none')))]),
    'TransactionalStateOperation.operationType',
  ],
  [
    'ExecuteStateTransaction',
    Buffer.concat([s(1, OK), msg(2, s(1, 'upsert'), msg(2, item('key')))]),
    'StateItem.key',
  ],
  [
    'ExecuteStateTransaction',
    Buffer.concat([s(1, OK), mapEntry(3, BAD, 'v')]),
    'ExecuteStateTransactionRequest.metadata.key',
  ],
  ['QueryStateAlpha1', Buffer.concat([s(1, OK), s(2, BAD)]), 'QueryStateRequest.query'],
  [
    'TryLockAlpha1',
    Buffer.concat([s(1, 'lockstore'), s(2, BAD), s(3, 'o'), int(4, 10)]),
    'TryLockRequest.resource_id',
  ],
  [
    'TryLockAlpha1',
    Buffer.concat([s(1, 'lockstore'), s(2, 'r'), s(3, BAD), int(4, 10)]),
    'TryLockRequest.lock_owner',
  ],
  ['UnlockAlpha1', Buffer.concat([s(1, BAD), s(2, 'r'), s(3, 'o')]), 'UnlockRequest.store_name'],
  ['SetMetadata', Buffer.concat([s(1, 'k'), s(2, BAD)]), 'SetMetadataRequest.value'],
];

let sc: Sidecar;
let raw: RawGrpcClient;
let dapr: DaprGrpc;
let etcd: EtcdGrpcClient;

beforeAll(async () => {
  sc = await startSidecar({
    etcdPort: true,
    components: {
      'statestore.yaml': stateComponent('statestore', 'state.in-memory', {
        keyPrefix: 'none',
        etcdAPI: 'true',
      }),
      'lockstore.yaml': lockComponent('lockstore', 'lock.in-memory', { stateStore: 'statestore' }),
    },
  });
  raw = new RawGrpcClient(`127.0.0.1:${sc.grpcPort}`);
  dapr = daprGrpc(sc.grpcPort);
  etcd = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
});

afterAll(async () => {
  raw?.close();
  dapr?.close();
  etcd?.close();
  await sc?.stop();
});

test.each(CASES)(
  '%s: invalid UTF-8 in %#-th case is INVALID_ARGUMENT naming the field',
  async (method, body, field) => {
    const r = await raw.unary(DAPR + method, body);
    expect(r).toEqual({
      ok: false,
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining(`${field} contains invalid UTF-8`) as string,
    });
  },
);

test.each([
  [Buffer.concat([s(1, BAD), s(5, OK)]), 'ListStateRequest.prefix'],
  [Buffer.concat([s(1, 'p'), s(5, BAD)]), 'ListStateRequest.store_name'],
  [Buffer.concat([s(5, OK), s(4, BAD)]), 'ListStateRequest.page_token'],
  [Buffer.concat([s(5, OK), mapEntry(6, BAD, 'v')]), 'ListStateRequest.metadata.key'],
])('statecar List: invalid UTF-8 (%#) is INVALID_ARGUMENT naming %s', async (body, field) => {
  const r = await raw.unary('/statecar.v1alpha1.StateList/ListState', body);
  expect(r).toEqual({
    ok: false,
    code: status.INVALID_ARGUMENT,
    details: expect.stringContaining(`${field} contains invalid UTF-8`) as string,
  });
});

test('statecar List: a valid request on the same path still lists', async () => {
  await dapr.call('SaveState', { storeName: OK, states: [{ key: 'list-ü-1', value: Buffer.from('1') }] });
  const r = await raw.unary(
    '/statecar.v1alpha1.StateList/ListState',
    Buffer.concat([s(1, 'list-ü'), s(5, OK)]),
  );
  // The response's first field is the one key, as its UTF-8 bytes.
  const key = s(1, 'list-ü-1');
  expect(r.ok && r.bytes.subarray(0, key.length)).toEqual(key);
});

test('keys 0xFF and 0xFE no longer collide: the save is refused and writes nothing', async () => {
  const save = await raw.unary(
    DAPR + 'SaveState',
    Buffer.concat([s(1, OK), msg(2, s(1, Buffer.from([0xff])), s(2, 'v'))]),
  );
  expect(save).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
  const get = await raw.unary(DAPR + 'GetState', Buffer.concat([s(1, OK), s(2, Buffer.from([0xfe]))]));
  expect(get).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
  // What the old decoder made of both keys (U+FFFD) holds nothing.
  const h = await request(sc.httpUrl, 'GET', `/v1.0/state/${OK}/${encodeURIComponent('\uFFFD')}`);
  expect(h.status).toBe(204);
  const e = await etcd.ok('KV', 'Range', { key: Buffer.from('\uFFFD') });
  expect(e.count).toBe('0');
});

test('valid UTF-8 beyond ASCII works on the fast and the slow path; values keep every byte', async () => {
  const key = 'ключ-🔑-ü';
  const value = Buffer.from([0xff, 0x00, 0xfe, 0x80]);
  await dapr.call('SaveState', { storeName: OK, states: [{ key, value, metadata: { méta: 'été' } }] });
  const got = await dapr.call<{ data: Buffer }>('GetState', { storeName: OK, key, metadata: { é: 'ü' } });
  expect(Buffer.compare(got.data, value)).toBe(0);
  // Bulk get goes through proto-loader's decoder (no fast codec).
  const bulk = await dapr.call<{ items: { key: string; data: Buffer }[] }>('GetBulkState', {
    storeName: OK,
    keys: [key],
  });
  expect(bulk.items.map((i) => [i.key, Buffer.compare(i.data, value)])).toEqual([[key, 0]]);
  // The key is stored as its UTF-8 bytes (keyPrefix none).
  const e = await etcd.ok('KV', 'Range', { key: Buffer.from(key, 'utf8') });
  expect(e.count).toBe('1');
});

test('bytes that are not a message: Internal "grpc: error unmarshalling request", as grpc-go answers', async () => {
  // A truncated varint, a wire type proto3 has not, a string running past the end (with a byte that is not
  // UTF-8: protobufjs alone would read it to the end of the buffer and turn it into U+FFFD).
  for (const body of [[0x18, 0x80], [0x0f], [0x0a, 0x7f, 0xff]]) {
    const r = await raw.unary(DAPR + 'GetState', Buffer.from(body));
    expect(r).toEqual({
      ok: false,
      code: status.INTERNAL,
      details: expect.stringMatching(/^grpc: error unmarshalling request: /) as string,
    });
  }
});

test('the etcd API keeps keys and values as bytes: 0xFF and 0xFE are two keys', async () => {
  await etcd.ok('KV', 'Put', { key: Buffer.from([0xff]), value: Buffer.from([0xfe, 0xff]) });
  await etcd.ok('KV', 'Put', { key: Buffer.from([0xfe]), value: Buffer.from([0x01]) });
  const ff = await etcd.ok('KV', 'Range', { key: Buffer.from([0xff]) });
  const kvs = ff.kvs as { key: Buffer; value: Buffer }[];
  expect(
    kvs.map((kv) => [
      Buffer.compare(kv.key, Buffer.from([0xff])),
      Buffer.compare(kv.value, Buffer.from([0xfe, 0xff])),
    ]),
  ).toEqual([[0, 0]]);
  const fe = await etcd.ok('KV', 'Range', { key: Buffer.from([0xfe]) });
  expect(fe.count).toBe('1');
});
