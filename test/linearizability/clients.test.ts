/**
 * The recorder's clients against a real sidecar on a real Redis: a read is recorded as an observation only when the
 * answer says what the key holds. With the store down, every kind of read — each Dapr transport at each consistency,
 * and etcd — must be recorded as an unknown outcome: a failed read taken for "absent" is a violation the store never
 * made (the SDK's `getBulk` drops Dapr's per-key `error`, so its empty item once passed for a missing key).
 */
import { createClient, type ClientKind, type WorkloadClient } from './clients';
import type { RegisterOutput } from './register-model';
import { healthIs } from './targets';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';

const appId = 'linapp';
const store = 'statestore';
/** Every client kind with every read consistency it sends (etcd has one kind of read). */
const READERS: [ClientKind, 'strong' | 'eventual'][] = [
  ['dapr-http', 'strong'],
  ['dapr-http', 'eventual'],
  ['dapr-grpc', 'strong'],
  ['dapr-grpc', 'eventual'],
  ['dapr-sdk', 'strong'],
  ['dapr-sdk', 'eventual'],
  ['etcd', 'strong'],
];

let redis: RedisServer;
let sidecar: Sidecar;
const readers: { label: string; client: WorkloadClient }[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  sidecar = await startSidecar({
    appId,
    etcdPort: true,
    components: {
      [`${store}.yaml`]: stateComponent(store, 'state.redis', {
        redisHost: redis.host,
        redisPassword: '',
        etcdAPI: 'true',
      }),
    },
  });
  const endpoints = { httpUrl: sidecar.httpUrl, grpcPort: sidecar.grpcPort, etcdPort: sidecar.etcdPort! };
  for (const [kind, consistency] of READERS) {
    const settings = { store, appId, timeoutMs: 5000, readConsistencies: [consistency] };
    const client = await createClient(kind, `${kind}-${consistency}`, endpoints, settings);
    readers.push({ label: `${kind} get (${consistency})`, client });
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(readers.map((r) => r.client.close()));
  await sidecar?.stop();
  await redis?.destroy();
});

/** Each reader reads `key` once: a chooser of 0 picks the first choice, which is a read on every client kind. */
async function readAll(key: string): Promise<Record<string, RegisterOutput>> {
  const out: Record<string, RegisterOutput> = {};
  for (const { label, client } of readers) {
    const planned = client.plan(key, { int: () => 0 });
    expect(planned.input).toEqual({ op: 'read' });
    out[label] = await planned.run();
  }
  return out;
}

const labels = (): string[] => readers.map((r) => r.label);

test('with the store up, a stored key is read with its value and a missing key as absent', async () => {
  const save = await fetch(`${sidecar.httpUrl}/v1.0/state/${store}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ key: 'held', value: 'v-1' }]),
  });
  expect(save.status).toBe(204);
  const held = await readAll('held');
  const missing = await readAll('never-written');
  for (const label of labels()) {
    expect({ label, out: held[label] }).toMatchObject({
      label,
      out: { status: 'read', observed: { found: true, value: '"v-1"' } },
    });
    expect({ label, out: missing[label] }).toEqual({
      label,
      out: { status: 'read', observed: { found: false } },
    });
  }
}, 60_000);

test('with the store down, no read is recorded as an observation (each one is unknown)', async () => {
  await redis.kill();
  await healthIs([sidecar], 500);
  for (const key of ['held', 'never-written']) {
    const got = await readAll(key);
    for (const label of labels()) {
      expect({ label, key, status: got[label]!.status }).toEqual({ label, key, status: 'unknown' });
    }
  }
}, 60_000);
