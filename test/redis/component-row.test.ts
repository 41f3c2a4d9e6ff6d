/**
 * The `state.redis` / `lock.redis` rows of the component registry: Dapr's Redis metadata names map onto the Redis
 * engine's options, and the engine they open works on a real redis-server.
 */
import { componentType } from '../../src/components/registry';
import { startRedisServer, type RedisServer } from '../support/redis-server';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server.destroy();
});

const ctx = { name: 'statestore', cwd: process.cwd() };

test('state.redis accepts Dapr metadata (strings) and opens a working engine', async () => {
  const row = componentType('state.redis')!;
  expect(row.category).toBe('state');
  const parsed = row.parse(
    {
      redisHost: server.host,
      redisPassword: '',
      redisDB: '0',
      enableTLS: 'false',
      dialTimeout: '2s',
      readTimeout: '500ms',
      actorStateStore: 'true', // other Dapr metadata is ignored
      maxTxnOps: '64',
    },
    ctx,
  );
  expect(parsed.success).toBe(true);
  if (!parsed.success) return;
  expect(parsed.data.maxTxnOps).toBe(64);
  expect(parsed.data.backendKey).toBe(`redis:${server.host}/0/statecar:{statestore}:`);
  const engine = await row.open(parsed.data, ctx);
  try {
    expect(engine.backend).toBe('redis');
    const res = await engine.put({ key: Buffer.from('k'), value: Buffer.from('v') });
    expect(res.header.revision).toBe(2);
  } finally {
    await engine.close();
  }
});

test('lock.redis on the same storeName uses the same store; bad metadata is rejected', () => {
  const lock = componentType('lock.redis')!;
  expect(lock.category).toBe('lock');
  const parsed = lock.parse(
    { redisHost: server.host, storeName: 'statestore' },
    { name: 'lockstore', cwd: process.cwd() },
  );
  expect(parsed.success).toBe(true);
  if (parsed.success) expect(parsed.data.backendKey).toBe(`redis:${server.host}/0/statecar:{statestore}:`);
  const state = componentType('state.redis')!;
  expect(state.parse({}, ctx).success).toBe(false); // redisHost is required, as in Dapr
  expect(state.parse({ redisHost: 'h:1', failover: 'true' }, ctx).success).toBe(false); // needs sentinelMasterName
  expect(state.parse({ redisHost: 'h:1', dialTimeout: 'soon' }, ctx).success).toBe(false);
});
