/**
 * Query indexes follow their declaration across restarts on every durable backend: a store that gains
 * `queryIndexes` gets entries for the values it already holds (built in the background while queries scan), and
 * one that loses it gets its entries removed, so a later declaration never trusts entries nobody kept up to date.
 */
import { EtcdGrpcClient, b } from '../etcd/support/etcd-grpc-client';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { freshSpace, sidecarBackends, stateStoreOn } from './support/sidecar-backends';
import { stateWriter } from './support/state-client';

jest.setTimeout(90_000);

describe.each(sidecarBackends.filter((b) => b.durable))(
  'query indexes across restarts on $type',
  (backend) => {
    const space = freshSpace();
    let sc: Sidecar | undefined;

    beforeAll(() => backend.setup());
    afterAll(async () => {
      await sc?.stop();
      await backend.teardown();
    });

    const start = async (metadata: Record<string, string>) => {
      sc = await startSidecar({
        appId: 'ixapp',
        components: {
          'statestore.yaml': stateStoreOn(backend, 'statestore', space, { etcdAPI: 'true', ...metadata }),
        },
      });
    };
    const query = async (filter: unknown) => {
      const res = await fetch(`${sc!.httpUrl}/v1.0-alpha1/state/statestore/query`, {
        method: 'POST',
        body: JSON.stringify({ filter }),
      });
      const text = await res.text();
      return text
        ? (JSON.parse(text) as { results: { key: string }[]; metadata: Record<string, string> })
        : undefined;
    };
    const entries = async () => {
      const kv = new EtcdGrpcClient(`127.0.0.1:${sc!.grpcPort}`);
      try {
        const res = (await kv.ok('KV', 'Range', {
          key: b('statecar-index||'),
          range_end: b('statecar-index|}'),
          keys_only: true,
        })) as { kvs?: unknown[] };
        return res.kvs?.length ?? 0;
      } finally {
        kv.close();
      }
    };

    test('declared later: entries for existing values; removed: entries gone', async () => {
      await start({});
      await stateWriter(() => sc!.httpUrl).save(
        Array.from({ length: 30 }, (_, i) => ({
          key: `k${i}`,
          value: { color: i % 3 === 0 ? 'red' : 'blue' },
        })),
      );
      expect(await entries()).toBe(0);
      await sc!.stop();

      await start({ queryIndexes: 'color' });
      const deadline = Date.now() + 20_000;
      let answer = await query({ EQ: { color: 'red' } });
      while (answer?.metadata.plan !== 'index') {
        if (Date.now() > deadline) throw new Error('the index never became ready');
        await new Promise((r) => setTimeout(r, 50));
        answer = await query({ EQ: { color: 'red' } });
      }
      expect(answer.results.map((r) => r.key).sort()).toEqual(
        ['k0', 'k3', 'k6', 'k9', 'k12', 'k15', 'k18', 'k21', 'k24', 'k27'].sort(),
      );
      // One entry per value, plus the record of what is declared.
      expect(await entries()).toBe(31);
      await sc!.stop();

      await start({});
      const gone = Date.now() + 20_000;
      while ((await entries()) > 0) {
        if (Date.now() > gone) throw new Error('the entries were not removed');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await query({ EQ: { color: 'red' } }))?.metadata.plan).toBe('scan');
    });
  },
);
