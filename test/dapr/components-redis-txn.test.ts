/**
 * Transaction limits as Dapr's stores have them (none, unless `maxTxnOps` sets one; the etcd API keeps etcd's 128),
 * and Redis components sharing one engine per Redis address and database, so that two `state.redis` stores with
 * `keyPrefix: none` read each other's keys as in Dapr. Against a sidecar process, a real Redis and real sockets.
 */
import { status } from '@grpc/grpc-js';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { lockComponent } from './support/components';
import { daprGrpc, type DaprGrpc } from './support/dapr-grpc-client';
import { request } from './support/http';

let redis: RedisServer;
let sc: Sidecar;
let grpc: DaprGrpc;

beforeAll(async () => {
  redis = await startRedisServer();
  sc = await startSidecar({
    components: {
      'mem.yaml': stateComponent('mem', 'state.in-memory', { etcdAPI: 'true' }),
      'capped.yaml': stateComponent('capped', 'state.in-memory', { maxTxnOps: '64' }),
      'r1.yaml': stateComponent('r1', 'state.redis', { redisHost: redis.host, keyPrefix: 'none' }),
      'r2.yaml': stateComponent('r2', 'state.redis', { redisHost: redis.host, keyPrefix: 'none' }),
      'r3.yaml': stateComponent('r3', 'state.redis', { redisHost: redis.host, keyPrefix: 'name' }),
      'rlock.yaml': lockComponent('rlock', 'lock.redis', { redisHost: redis.host }),
    },
  });
  grpc = daprGrpc(sc.grpcPort);
}, 60_000);

afterAll(async () => {
  grpc?.close();
  await sc?.stop();
  await redis?.destroy();
});

const upserts = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ operation: 'upsert', request: { key: `${tag}${i}`, value: i } }));

describe('transaction limits', () => {
  test('no limit by default: 1,000 operations in one transaction over HTTP and gRPC, in memory and on Redis', async () => {
    for (const store of ['mem', 'r1']) {
      const r = await request(sc.httpUrl, 'POST', `/v1.0/state/${store}/transaction`, {
        operations: upserts(1000, 'h'),
      });
      expect({ store, status: r.status, body: r.text }).toEqual({ store, status: 204, body: '' });
      expect((await request(sc.httpUrl, 'GET', `/v1.0/state/${store}/h999`)).json).toBe(999);
      // All 1,000 at one revision: one transaction.
      const first = (await request(sc.httpUrl, 'GET', `/v1.0/state/${store}/h0`)).headers.get('etag');
      expect((await request(sc.httpUrl, 'GET', `/v1.0/state/${store}/h999`)).headers.get('etag')).toBe(first);

      await grpc.call('ExecuteStateTransaction', {
        storeName: store,
        operations: Array.from({ length: 1000 }, (_, i) => ({
          operationType: i % 2 ? 'delete' : 'upsert',
          request: { key: `h${i}`, value: Buffer.from(`g${i}`) },
        })),
      });
      expect((await request(sc.httpUrl, 'GET', `/v1.0/state/${store}/h998`)).text).toBe('g998');
      expect((await request(sc.httpUrl, 'GET', `/v1.0/state/${store}/h999`)).status).toBe(204);
    }
  });

  test('maxTxnOps metadata still sets a limit', async () => {
    expect(
      (await request(sc.httpUrl, 'POST', '/v1.0/state/capped/transaction', { operations: upserts(64, 'c') }))
        .status,
    ).toBe(204);
    const over = await request(sc.httpUrl, 'POST', '/v1.0/state/capped/transaction', {
      operations: upserts(65, 'c'),
    });
    expect(over.status).toBe(400);
    expect(over.json).toMatchObject({ errorCode: 'ERR_STATE_STORE_TOO_MANY_TRANSACTIONS' });
  });

  test("the etcd API on the same engine keeps etcd's 128 operations per txn", async () => {
    const etcd = new EtcdGrpcClient(`127.0.0.1:${sc.grpcPort}`);
    try {
      const puts = (n: number) =>
        Array.from({ length: n }, (_, i) => ({
          request_put: { key: Buffer.from(`e${i}`), value: Buffer.from('v') },
        }));
      expect((await etcd.call('KV', 'Txn', { success: puts(128) })).ok).toBe(true);
      const over = await etcd.call('KV', 'Txn', { success: puts(129) });
      expect(over).toEqual({
        ok: false,
        code: status.INVALID_ARGUMENT,
        details: 'etcdserver: too many operations in txn request',
      });
      // Nested txns count on their own, as in etcd.
      const nested = await etcd.call('KV', 'Txn', { success: [{ request_txn: { success: puts(129) } }] });
      expect(nested.ok).toBe(false);
    } finally {
      etcd.close();
    }
  });
});

describe('Redis components share one engine per Redis and database', () => {
  test('two state.redis stores with keyPrefix none read each other’s keys; keyPrefix name keeps apart', async () => {
    expect(
      (await request(sc.httpUrl, 'POST', '/v1.0/state/r1', [{ key: 'shared', value: 'one' }])).status,
    ).toBe(204);
    const fromR2 = await request(sc.httpUrl, 'GET', '/v1.0/state/r2/shared');
    expect(fromR2.json).toBe('one');
    // Same key, same etag: one engine, one revision space.
    expect(fromR2.headers.get('etag')).toBe(
      (await request(sc.httpUrl, 'GET', '/v1.0/state/r1/shared')).headers.get('etag'),
    );
    expect(
      (await request(sc.httpUrl, 'POST', '/v1.0/state/r2', [{ key: 'shared', value: 'two' }])).status,
    ).toBe(204);
    expect((await request(sc.httpUrl, 'GET', '/v1.0/state/r1/shared')).json).toBe('two');
    expect((await request(sc.httpUrl, 'GET', '/v1.0/state/r3/shared')).status).toBe(204);
    expect(sc.proc.output()).toMatch(/component r2 shares the engine of backend redis:/);
    expect(sc.proc.output()).toMatch(/component rlock shares the engine of backend redis:/);
  });

  test('the lock store on that Redis works on the shared engine', async () => {
    const lock = await request(sc.httpUrl, 'POST', '/v1.0-alpha1/lock/rlock', {
      resourceId: 'res',
      lockOwner: 'a',
      expiryInSeconds: 30,
    });
    expect(lock.json).toEqual({ success: true });
    const again = await request(sc.httpUrl, 'POST', '/v1.0-alpha1/lock/rlock', {
      resourceId: 'res',
      lockOwner: 'b',
      expiryInSeconds: 30,
    });
    expect(again.json).toEqual({ success: false });
  });
});
