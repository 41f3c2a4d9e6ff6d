/**
 * The Dapr gRPC API against a sidecar process: the same matrix as the HTTP tests, checking status codes and the
 * google.rpc.ErrorInfo reasons carried in `grpc-status-details-bin`.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { defaultComponents } from './support/components';
import { daprGrpc, grpcFailure, reasonOf, type DaprGrpc } from './support/dapr-grpc-client';

let sc: Sidecar;
let c: DaprGrpc;
const uid = () => randomUUID().replace(/-/g, '').slice(0, 12);
const store = 'statestore';
const buf = (s: string) => Buffer.from(s, 'utf8');

interface GetStateResponse {
  data: Buffer;
  etag: string;
  metadata: Record<string, string>;
}

beforeAll(async () => {
  sc = await startSidecar({ components: defaultComponents() });
  c = daprGrpc(sc.grpcPort);
});

afterAll(async () => {
  c?.close();
  await sc?.stop();
});

const save = (states: object[], storeName = store) => c.call('SaveState', { storeName, states });
const get = (key: string, storeName = store) => c.call<GetStateResponse>('GetState', { storeName, key });

describe('state', () => {
  test('bytes are stored unchanged; etag is the revision; missing key is empty', async () => {
    const k = uid();
    await save([{ key: k, value: buf('raw bytes, not JSON') }]);
    const r = await get(k);
    expect(r.data.toString()).toBe('raw bytes, not JSON');
    expect(r.etag).toMatch(/^\d+$/);
    const missing = await get('missing-' + k);
    expect(missing.data.length).toBe(0);
    expect(missing.etag).toBe('');
  });

  test('contentType=application/json values are re-serialised; invalid JSON is Unknown', async () => {
    const k = uid();
    await save([{ key: k, value: buf('{ "b": 1, "a": 2 }'), metadata: { contentType: 'application/json' } }]);
    expect((await get(k)).data.toString()).toBe('{"a":2,"b":1}');
    const f = await grpcFailure(
      save([{ key: k, value: buf('{nope'), metadata: { contentType: 'application/json' } }]),
    );
    expect(f.code).toBe(status.UNKNOWN);
  });

  test('no states, a key without value and duplicates are OK; an empty key is InvalidArgument', async () => {
    await save([]);
    const k = uid();
    await save([{ key: k }]);
    await save([
      { key: k, value: buf('1') },
      { key: k, value: buf('1') },
    ]);
    const f = await grpcFailure(save([{ value: buf('x') }]));
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.details).toBe('state key cannot be empty');
    expect(reasonOf(f)).toBe('ERR_STATE_SAVE');
  });

  test('etag match, stale etag Aborted, invalid etag InvalidArgument (reason ERR_STATE_SAVE)', async () => {
    const k = uid();
    await save([{ key: k, value: buf('1') }]);
    const { etag } = await get(k);
    await save([{ key: k, value: buf('2'), etag: { value: etag } }]);
    const stale = await grpcFailure(save([{ key: k, value: buf('3'), etag: { value: etag } }]));
    expect(stale.code).toBe(status.ABORTED);
    expect(reasonOf(stale)).toBe('ERR_STATE_SAVE');
    const invalid = await grpcFailure(save([{ key: k, value: buf('3'), etag: { value: 'xyz' } }]));
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
    expect(reasonOf(invalid)).toBe('ERR_STATE_SAVE');
    expect((await get(k)).data.toString()).toBe('2');
  });

  test('first-write (enum 1): Aborted when the key exists', async () => {
    const k = uid();
    const fw = { concurrency: 1, consistency: 2 };
    await save([{ key: k, value: buf('1'), options: fw }]);
    const f = await grpcFailure(save([{ key: k, value: buf('2'), options: fw }]));
    expect(f.code).toBe(status.ABORTED);
  });

  test('delete: stale Aborted / invalid InvalidArgument (ERR_STATE_DELETE); missing key OK', async () => {
    const k = uid();
    await save([{ key: k, value: buf('1') }]);
    const { etag } = await get(k);
    const stale = await grpcFailure(
      c.call('DeleteState', { storeName: store, key: k, etag: { value: '999999' } }),
    );
    expect(stale.code).toBe(status.ABORTED);
    expect(reasonOf(stale)).toBe('ERR_STATE_DELETE');
    const invalid = await grpcFailure(
      c.call('DeleteState', { storeName: store, key: k, etag: { value: 'x' } }),
    );
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
    expect(reasonOf(invalid)).toBe('ERR_STATE_DELETE');
    await c.call('DeleteState', { storeName: store, key: k, etag: { value: etag } });
    await c.call('DeleteState', { storeName: store, key: 'never-' + k });
    expect((await get(k)).data.length).toBe(0);
  });

  test('DeleteBulkState is per item: ERR_STATE_BULK_DELETE, the good item deleted', async () => {
    const [a, b] = [uid(), uid()];
    await save([
      { key: a, value: buf('a') },
      { key: b, value: buf('b') },
    ]);
    const f = await grpcFailure(
      c.call('DeleteBulkState', {
        storeName: store,
        states: [{ key: a, etag: { value: '999999' } }, { key: b }],
      }),
    );
    expect(f.code).toBe(status.ABORTED);
    expect(reasonOf(f)).toBe('ERR_STATE_BULK_DELETE');
    expect((await get(a)).data.toString()).toBe('a');
    expect((await get(b)).data.length).toBe(0);
  });

  test('GetBulkState: request order, per-item data and etag, TTL metadata', async () => {
    const [a, b] = [uid(), uid()];
    await save([
      { key: a, value: buf('A') },
      { key: b, value: buf('B'), metadata: { ttlInSeconds: '3600' } },
    ]);
    const r = await c.call<{
      items: { key: string; data: Buffer; etag: string; metadata: Record<string, string> }[];
    }>('GetBulkState', { storeName: store, keys: [b, 'nope', a], parallelism: 2 });
    expect(r.items.map((i) => [i.key, i.data.toString()])).toEqual([
      [b, 'B'],
      ['nope', ''],
      [a, 'A'],
    ]);
    expect(r.items[0].metadata.ttlExpireTime).toMatch(/Z$/);
  });

  test('transaction: atomic; stale etag is Internal ERR_STATE_TRANSACTION with nothing written', async () => {
    const [a, b] = [uid(), uid()];
    await c.call('ExecuteStateTransaction', {
      storeName: store,
      operations: [
        { operationType: 'upsert', request: { key: a, value: buf('1') } },
        { operationType: 'upsert', request: { key: b, value: buf('2') } },
      ],
    });
    expect((await get(a)).etag).toBe((await get(b)).etag);
    const f = await grpcFailure(
      c.call('ExecuteStateTransaction', {
        storeName: store,
        operations: [
          { operationType: 'delete', request: { key: a } },
          { operationType: 'upsert', request: { key: b, value: buf('3'), etag: { value: '1' } } },
        ],
      }),
    );
    expect(f.code).toBe(status.INTERNAL);
    expect(reasonOf(f)).toBe('ERR_STATE_TRANSACTION');
    expect((await get(a)).data.toString()).toBe('1');
    expect((await get(b)).data.toString()).toBe('2');
  });

  test('transaction: unknown operation is Unimplemented ERR_NOT_SUPPORTED_STATE_OPERATION', async () => {
    const f = await grpcFailure(
      c.call('ExecuteStateTransaction', {
        storeName: store,
        operations: [{ operationType: 'merge', request: { key: 'k' } }],
      }),
    );
    expect(f.code).toBe(status.UNIMPLEMENTED);
    expect(reasonOf(f)).toBe('ERR_NOT_SUPPORTED_STATE_OPERATION');
  });

  test('TTL expiry', async () => {
    const k = uid();
    await save([{ key: k, value: buf('x'), metadata: { ttlInSeconds: '1' } }]);
    expect((await get(k)).metadata.ttlExpireTime).toBeDefined();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await get(k)).data.length).toBe(0);
  });
});

describe('rich errors', () => {
  test('unknown store: InvalidArgument, DAPR_STATE_NOT_FOUND, no metadata', async () => {
    const f = await grpcFailure(get('k', 'nope'));
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.details).toBe('state store nope is not found');
    expect(f.rich?.details).toEqual([
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'DAPR_STATE_NOT_FOUND',
        domain: 'dapr.io',
      },
    ]);
  });

  test('illegal key: InvalidArgument with 3 details', async () => {
    const f = await grpcFailure(save([{ key: 'a||b', value: buf('x') }]));
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.rich?.details).toHaveLength(3);
    expect(reasonOf(f)).toBe('DAPR_STATE_ILLEGAL_KEY');
    expect(f.rich?.details[1]).toMatchObject({ resource_type: 'state', resource_name: 'statestore' });
    expect(f.rich?.details[2]).toMatchObject({ field_violations: [{ field: 'a||b' }] });
    for (const p of [
      get('a||b'),
      c.call('DeleteState', { storeName: store, key: 'a||b' }),
      c.call('GetBulkState', { storeName: store, keys: ['a||b'] }),
    ]) {
      expect(reasonOf(await grpcFailure(p))).toBe('DAPR_STATE_ILLEGAL_KEY');
    }
  });

  test('malformed query: Internal DAPR_STATE_QUERY_FAILED', async () => {
    const f = await grpcFailure(c.call('QueryStateAlpha1', { storeName: store, query: '{"filter":[]}' }));
    expect(f.code).toBe(status.INTERNAL);
    expect(reasonOf(f)).toBe('DAPR_STATE_QUERY_FAILED');
  });

  test('over maxTxnOps transaction operations: InvalidArgument with counts', async () => {
    const operations = Array.from({ length: 129 }, (_, i) => ({
      operationType: 'upsert',
      request: { key: `m${i}` },
    }));
    // store2 sets maxTxnOps: 128 (statestore has no limit, as Dapr's stores).
    const f = await grpcFailure(c.call('ExecuteStateTransaction', { storeName: 'store2', operations }));
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.rich?.details[0]).toMatchObject({
      reason: 'DAPR_STATE_TOO_MANY_TRANSACTIONS',
      metadata: { currentOpsTransaction: '129', maxOpsPerTransaction: '128' },
    });
  });
});

describe('lock and metadata', () => {
  test('TryLock / Unlock statuses; lock errors have no details', async () => {
    const r = { storeName: 'lockstore', resourceId: uid() };
    expect(await c.call('TryLockAlpha1', { ...r, lockOwner: 'a', expiryInSeconds: 10 })).toEqual({
      success: true,
    });
    expect(await c.call('TryLockAlpha1', { ...r, lockOwner: 'a', expiryInSeconds: 10 })).toEqual({
      success: false,
    });
    expect(await c.call('UnlockAlpha1', { ...r, lockOwner: 'b' })).toEqual({ status: 2 });
    expect(await c.call('UnlockAlpha1', { ...r, lockOwner: 'a' })).toEqual({ status: 0 });
    expect(await c.call('UnlockAlpha1', { ...r, lockOwner: 'a' })).toEqual({ status: 1 });

    const expiry = await grpcFailure(c.call('TryLockAlpha1', { ...r, lockOwner: 'a', expiryInSeconds: 0 }));
    expect(expiry.code).toBe(status.INVALID_ARGUMENT);
    expect(expiry.details).toBe('ExpiryInSeconds is not positive in lock store lockstore');
    expect(expiry.rich).toBeUndefined();
    const unknown = await grpcFailure(
      c.call('UnlockAlpha1', { storeName: 'nolock', resourceId: 'x', lockOwner: 'a' }),
    );
    expect(unknown.code).toBe(status.INVALID_ARGUMENT);
    expect(unknown.details).toBe('lock store nolock not found');
  });

  test('GetMetadata / SetMetadata', async () => {
    await c.call('SetMetadata', { key: 'k1', value: 'v1' });
    const m = await c.call<{
      id: string;
      registeredComponents: { name: string; capabilities: string[] }[];
      extendedMetadata: Record<string, string>;
    }>('GetMetadata', {});
    expect(m.id).toBe('testapp');
    expect(m.registeredComponents.map((x) => x.name).sort()).toEqual(['lockstore', 'statestore', 'store2']);
    expect(m.extendedMetadata.k1).toBe('v1');
  });
});
