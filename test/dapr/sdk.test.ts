/**
 * The official Dapr JS SDK (@dapr/dapr) pointed at statecar, over HTTP and over gRPC: on the in-memory stores, and
 * on a `state.etcd` component file written as a daprd user writes it (Dapr's metadata names, version v2, every
 * value a string), on a real 3-member etcd cluster.
 */
import { randomUUID } from 'node:crypto';
import {
  CommunicationProtocolEnum,
  DaprClient,
  LogLevel,
  StateConcurrencyEnum,
  StateConsistencyEnum,
} from '@dapr/dapr';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { defaultComponents } from './support/components';

const uid = () => randomUUID().replace(/-/g, '').slice(0, 12);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A `state.etcd` component exactly as one is written for daprd (plus statecar's lock store on the same cluster). */
function daprdEtcdComponents(endpoints: string): Record<string, string> {
  return {
    'statestore.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.etcd
  version: v2
  metadata:
  - name: endpoints
    value: "${endpoints}"
  - name: keyPrefixPath
    value: "dapr"
  - name: tlsEnable
    value: "false"
  - name: maxTxnOps
    value: "128"
  - name: actorStateStore
    value: "true"
`,
    'lockstore.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: lockstore
spec:
  type: lock.etcd
  version: v1
  metadata:
  - name: endpoints
    value: "${endpoints}"
  - name: keyPrefixPath
    value: "dapr"
`,
  };
}

interface Setup {
  name: string;
  start(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

let cluster: EtcdCluster | undefined;
const setups: Setup[] = [
  { name: 'in-memory stores', start: async () => defaultComponents(), stop: async () => undefined },
];
if (haveEtcd()) {
  setups.push({
    name: 'a daprd state.etcd file',
    async start() {
      cluster = await startEtcdCluster();
      return daprdEtcdComponents(cluster.endpointList());
    },
    async stop() {
      await cluster?.destroy();
    },
  });
}

describe.each(setups)('on $name', (setup) => {
  let sc: Sidecar;

  beforeAll(async () => {
    sc = await startSidecar({ components: await setup.start(), appId: 'sdkapp' });
  }, 120_000);

  afterAll(async () => {
    await sc?.stop();
    await setup.stop();
  });

  describe.each([
    ['HTTP', CommunicationProtocolEnum.HTTP],
    ['gRPC', CommunicationProtocolEnum.GRPC],
  ] as const)('@dapr/dapr over %s', (name, protocol) => {
    let client: DaprClient;
    const store = 'statestore';

    beforeAll(async () => {
      client = new DaprClient({
        daprHost: '127.0.0.1',
        daprPort: String(protocol === CommunicationProtocolEnum.HTTP ? sc.httpPort : sc.grpcPort),
        communicationProtocol: protocol,
        logger: { level: LogLevel.Error },
      });
      await client.start();
    });

    afterAll(async () => {
      await client?.stop();
    });

    /** HTTP save swallows errors into `{error}`; gRPC throws. Both become 'ok' / 'error' here. */
    async function saveOutcome(items: Parameters<DaprClient['state']['save']>[1]): Promise<'ok' | 'error'> {
      try {
        const r = await client.state.save(store, items);
        return r && 'error' in r && r.error ? 'error' : 'ok';
      } catch {
        return 'error';
      }
    }

    async function etagOf(key: string): Promise<string> {
      const [item] = (await client.state.getBulk(store, [key])) as { etag?: string }[];
      return item.etag ?? '';
    }

    test('save, get, getBulk, delete', async () => {
      const [k1, k2, k3] = [uid(), uid(), uid()];
      await client.state.save(store, [
        { key: k1, value: 'value-1' },
        { key: k2, value: { n: 2 } },
        { key: k3, value: 'value-3' },
      ]);
      expect(await client.state.get(store, k1)).toBe('value-1');
      expect(await client.state.get(store, k2)).toEqual({ n: 2 });
      const bulk = (await client.state.getBulk(store, [k3, k1])) as { key: string; data: unknown }[];
      expect(bulk).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: k1, data: 'value-1' }),
          expect.objectContaining({ key: k3, data: 'value-3' }),
        ]),
      );
      await client.state.delete(store, k1);
      expect(await client.state.get(store, k1)).toBe('');
      await client.state.delete(store, 'never-' + k1);
    });

    test('transaction', async () => {
      const [k1, k3] = [uid(), uid()];
      await client.state.save(store, [{ key: k3, value: 'to delete' }]);
      await client.state.transaction(store, [
        { operation: 'upsert', request: { key: k1, value: 'my-new-data-1' } },
        { operation: 'delete', request: { key: k3 } },
      ]);
      expect(await client.state.get(store, k1)).toBe('my-new-data-1');
      expect(await client.state.get(store, k3)).toBe('');
    });

    test('etag match saves; etag mismatch fails and keeps the value', async () => {
      const k = uid();
      await client.state.save(store, [{ key: k, value: 'v1' }]);
      const etag = await etagOf(k);
      expect(etag).toMatch(/^\d+$/);
      expect(await saveOutcome([{ key: k, value: 'v2', etag }])).toBe('ok');
      expect(await client.state.get(store, k)).toBe('v2');
      expect(await saveOutcome([{ key: k, value: 'v3', etag }])).toBe('error');
      expect(await client.state.get(store, k)).toBe('v2');
      // Strict concurrency: an etag on a missing key is a mismatch (statecar's decision, unlike Redis).
      expect(await saveOutcome([{ key: 'missing-' + k, value: 'x', etag: '1234' }])).toBe('error');
    });

    test('delete with a stale etag fails; with the current etag succeeds', async () => {
      const k = uid();
      await client.state.save(store, [{ key: k, value: 'v' }]);
      const etag = await etagOf(k);
      const stale = await client.state
        .delete(store, k, { etag: String(Number(etag) + 1000) })
        .catch((e) => ({ error: e }));
      expect(stale && 'error' in stale && stale.error).toBeTruthy();
      expect(await client.state.get(store, k)).toBe('v');
      await client.state.delete(store, k, { etag });
      expect(await client.state.get(store, k)).toBe('');
    });

    test('first-write: the first save wins, the second fails', async () => {
      const k = uid();
      const options = {
        concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE,
        consistency: StateConsistencyEnum.CONSISTENCY_STRONG,
      };
      expect(await saveOutcome([{ key: k, value: 'first', options }])).toBe('ok');
      expect(await saveOutcome([{ key: k, value: 'second', options }])).toBe('error');
      expect(await client.state.get(store, k)).toBe('first');
    });

    test('TTL expiry (item metadata and request metadata)', async () => {
      const [k1, k2] = [uid(), uid()];
      await client.state.save(store, [{ key: k1, value: 'short', metadata: { ttlInSeconds: '1' } }]);
      await client.state.save(store, [{ key: k2, value: 'short too' }], { metadata: { ttlInSeconds: '1' } });
      expect(await client.state.get(store, k1)).toBe('short');
      await sleep(1600);
      expect(await client.state.get(store, k1)).toBe('');
      expect(await client.state.get(store, k2)).toBe('');
    });

    test('lock and unlock', async () => {
      const res = `${name}-${uid()}`;
      expect(await client.lock.lock('lockstore', res, 'owner-1', 10)).toEqual({ success: true });
      expect(await client.lock.lock('lockstore', res, 'owner-2', 10)).toEqual({ success: false });
      expect((await client.lock.unlock('lockstore', res, 'owner-2')).status).toBe(2);
      expect((await client.lock.unlock('lockstore', res, 'owner-1')).status).toBe(0);
      expect((await client.lock.unlock('lockstore', res, 'owner-1')).status).toBe(1);
      expect(await client.lock.lock('lockstore', `${res}-a`, 'o', 10)).toEqual({ success: true });
      expect(await client.lock.lock('lockstore', `${res}-b`, 'o', 10)).toEqual({ success: true });
    });

    test('metadata get and set', async () => {
      await client.metadata.set(`key-${name}`, 'value');
      const m = await client.metadata.get();
      expect(m.id).toBe('sdkapp');
      expect(m.components.length).toBeGreaterThan(0);
      const ss = m.components.find((c) => c.name === store);
      expect(ss?.capabilities).toEqual(expect.arrayContaining(['ETAG', 'TRANSACTIONAL', 'ACTOR']));
      expect(m.extended[`key-${name}`]).toBe('value');
      expect(await client.health.isHealthy()).toBe(true);
    });
  });
});
