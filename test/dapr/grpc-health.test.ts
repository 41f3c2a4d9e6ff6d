/**
 * `grpc.health.v1.Health` on the gRPC ports (docs/dapr-api.md#routes), MemberList client URLs with their scheme and
 * `Status.version` (docs/etcd-semantics.md#response-headers-and-status), against sidecar processes.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { daprGrpc, grpcFailure } from './support/dapr-grpc-client';

jest.setTimeout(90_000);

type HealthClient = grpc.Client & {
  check(
    req: object,
    md: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): void;
  watch(req: object): grpc.ClientReadableStream<{ status: string }>;
};

const HealthClientCtor = grpc.makeGenericClientConstructor(healthService as grpc.ServiceDefinition, 'Health');

function healthClient(port: number): HealthClient {
  return new HealthClientCtor(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as HealthClient;
}

function check(c: HealthClient, service = ''): Promise<string> {
  return new Promise((resolve, reject) =>
    c.check({ service }, new grpc.Metadata(), (err, res) => (err ? reject(err) : resolve(res!.status))),
  );
}

/** The statuses a Watch stream delivers, with a way to wait for the next one matching. */
function watch(c: HealthClient): {
  statuses: string[];
  until(s: string, ms?: number): Promise<void>;
  stop(): void;
} {
  const statuses: string[] = [];
  const call = c.watch({ service: '' });
  call.on('data', (m: { status: string }) => statuses.push(m.status));
  call.on('error', () => undefined);
  return {
    statuses,
    async until(s, ms = 30_000) {
      const deadline = Date.now() + ms;
      while (statuses[statuses.length - 1] !== s) {
        if (Date.now() > deadline)
          throw new Error(`health Watch: no ${s} within ${ms} ms (got ${statuses.join(',')})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => call.cancel(),
  };
}

describe('with every component ready', () => {
  let sc: Sidecar;
  beforeAll(async () => {
    sc = await startSidecar({
      etcdPort: true,
      env: { DAPR_API_TOKEN: 'sekret' },
      components: { 'statestore.yaml': stateComponent('statestore', 'state.in-memory', { etcdAPI: 'true' }) },
    });
  });
  afterAll(async () => {
    await sc?.stop();
  });

  test('Check and Watch answer SERVING on the Dapr gRPC port and --etcd-port, without the API token', async () => {
    for (const port of [sc.grpcPort, sc.etcdPort!]) {
      const c = healthClient(port);
      try {
        expect(await check(c)).toBe('SERVING');
        // A service name nobody registered: NOT_FOUND, as the health protocol says.
        await expect(check(c, 'no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
        const w = watch(c);
        await w.until('SERVING');
        w.stop();
      } finally {
        c.close();
      }
    }
    // The Dapr API itself still wants the token.
    const dapr = daprGrpc(sc.grpcPort);
    try {
      const f = await grpcFailure(dapr.call('GetMetadata', {}));
      expect(f.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      dapr.close();
    }
  });

  test('MemberList client URLs carry their scheme; Status.version is the etcd 3.4 served', async () => {
    for (const port of [sc.grpcPort, sc.etcdPort!]) {
      const etcd = new EtcdGrpcClient(`127.0.0.1:${port}`);
      try {
        const md = { 'dapr-api-token': 'sekret' };
        const members = await new Promise<Record<string, unknown>>((resolve, reject) => {
          const m = new grpc.Metadata();
          for (const [k, v] of Object.entries(md)) m.set(k, v);
          (etcd.client('Cluster') as unknown as Record<string, (...a: unknown[]) => void>).MemberList!(
            {},
            m,
            (err: Error | null, res: Record<string, unknown>) => (err ? reject(err) : resolve(res)),
          );
        });
        const [member] = members.members as { clientURLs: string[] }[];
        expect(member!.clientURLs).toEqual([`http://127.0.0.1:${port}`]);
      } finally {
        etcd.close();
      }
    }
    const etcd = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
    try {
      expect((await etcd.ok('Maintenance', 'Status', {})).version).toBe('3.4.23');
    } finally {
      etcd.close();
    }
  });

  test('a client that sends the whole URL as :authority (as etcd 3.4 does) is served', async () => {
    const url = `http://127.0.0.1:${sc.etcdPort!}`;
    // grpc-js sends the given authority as it is.
    const etcd = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`, { 'grpc.default_authority': url });
    try {
      expect((await etcd.ok('Maintenance', 'Status', {})).version).toBe('3.4.23');
      const put = await etcd.ok('KV', 'Put', { key: Buffer.from('via-url'), value: Buffer.from('v') });
      expect(put.header).toBeDefined();
      const got = await etcd.ok('KV', 'Range', { key: Buffer.from('via-url') });
      expect(got.count).toBe('1');
    } finally {
      etcd.close();
    }
  });
  test('a large first message on a fresh connection is served (the front hands over before its SETTINGS are acked)', async () => {
    // A client may send HEADERS and a whole initial window of DATA before it reads the server's SETTINGS, so the
    // acknowledgement of the front's SETTINGS comes after more than 64 KiB; it must never reach the HTTP/2 server.
    const value = Buffer.alloc(300_000, 0x61);
    for (const port of [sc.etcdPort!]) {
      for (const authority of [undefined, `http://127.0.0.1:${port}`]) {
        for (let i = 0; i < 3; i++) {
          const etcd = new EtcdGrpcClient(
            `127.0.0.1:${port}`,
            authority ? { 'grpc.default_authority': authority } : {},
          );
          try {
            const key = Buffer.from(`big-first-${port}-${i}`);
            await etcd.ok('KV', 'Put', { key, value });
            const got = await etcd.ok('KV', 'Range', { key });
            const [kv] = got.kvs as { value: Uint8Array }[];
            expect(Buffer.from(kv!.value).equals(value)).toBe(true);
          } finally {
            etcd.close();
          }
        }
      }
    }
  });
});

describe('with a store whose backend goes away', () => {
  let redis: RedisServer;
  let sc: Sidecar;
  beforeAll(async () => {
    redis = await startRedisServer();
    sc = await startSidecar({
      components: {
        'statestore.yaml': stateComponent('statestore', 'state.redis', { redisHost: redis.host }),
      },
    });
  });
  afterAll(async () => {
    await sc?.stop();
    await redis?.destroy();
  });

  test('Watch follows readiness: SERVING, NOT_SERVING while Redis is down, SERVING again', async () => {
    const c = healthClient(sc.grpcPort);
    const w = watch(c);
    try {
      await w.until('SERVING');
      await redis.kill();
      await w.until('NOT_SERVING');
      expect(await check(c)).toBe('NOT_SERVING');
      await redis.restart();
      await w.until('SERVING');
      expect(await check(c)).toBe('SERVING');
      // Statuses are sent on change only.
      expect(w.statuses).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    } finally {
      w.stop();
      c.close();
    }
  });
});
