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
      maxTxnOps: '64',
    },
    ctx,
  );
  expect(parsed.success).toBe(true);
  if (!parsed.success) return;
  expect(parsed.data.maxTxnOps).toBe(64);
  // One engine per Redis address and database, whatever the component's name (as Dapr, which shares the keys).
  expect(parsed.data.backendKey).toBe(`redis:${server.host}/0/statecar:{default}:`);
  expect(row.metadataNames).toContain('redisHost');
  expect(row.daprOnlyNames).toContain('actorStateStore');
  const engine = await row.open(parsed.data, ctx);
  try {
    expect(engine.backend).toBe('redis');
    const res = await engine.put({ key: Buffer.from('k'), value: Buffer.from('v') });
    expect(res.header.revision).toBe(2);
  } finally {
    await engine.close();
  }
});

test('lock.redis on the same Redis uses the same store, storeName apart; bad metadata is rejected', () => {
  const lock = componentType('lock.redis')!;
  expect(lock.category).toBe('lock');
  const parsed = lock.parse(
    { redisHost: server.host, storeName: 'statestore' },
    { name: 'lockstore', cwd: process.cwd() },
  );
  expect(parsed.success).toBe(true);
  if (parsed.success) expect(parsed.data.backendKey).toBe(`redis:${server.host}/0/statecar:{statestore}:`);
  const same = lock.parse({ redisHost: server.host }, { name: 'lockstore', cwd: process.cwd() });
  if (same.success) expect(same.data.backendKey).toBe(`redis:${server.host}/0/statecar:{default}:`);
  expect(same.success).toBe(true);
  // Dapr's name for skipping certificate checks.
  const tls = componentType('state.redis')!.parse({ redisHost: 'h:1', insecureSkipTLSVerify: 'true' }, ctx);
  expect(tls.success && (tls.data as unknown as { engineInput: object }).engineInput).toMatchObject({
    insecureSkipVerify: 'true',
  });
  const state = componentType('state.redis')!;
  expect(state.parse({}, ctx).success).toBe(false); // redisHost is required, as in Dapr
  expect(state.parse({ redisHost: 'h:1', failover: 'true' }, ctx).success).toBe(false); // needs sentinelMasterName
  expect(state.parse({ redisHost: 'h:1', dialTimeout: 'soon' }, ctx).success).toBe(false);
});
