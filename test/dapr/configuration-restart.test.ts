/**
 * A configuration subscription that starts from the version a get returned sees every later change exactly once
 * and in order, across a restart of the sidecar, on every durable backend (`state.embedded` among them): the
 * official SDK subscribes with `fromVersion`, the sidecar is stopped and started again on the same data, changes
 * are made while nobody is subscribed, and the SDK resubscribes from the last version it saw.
 */
import type { DaprClient } from '@dapr/dapr';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { configurationStoreOn, freshSpace, sidecarBackends, stateStoreOn } from './support/sidecar-backends';
import { sdkClient, stateWriter } from './support/state-client';

jest.setTimeout(90_000);

interface Seen {
  key: string;
  value: string;
  /** The version of a put, the revision of a delete. */
  version: number;
}

const durable = sidecarBackends.filter((b) => b.durable);

describe.each(durable)('configuration resume across a restart on $type', (backend) => {
  const space = freshSpace();
  const components = () => ({
    'statestore.yaml': stateStoreOn(backend, 'statestore', space),
    'appconfig.yaml': configurationStoreOn(backend, 'appconfig', undefined, { stateStore: 'statestore' }),
  });
  let sc: Sidecar | undefined;
  let client: DaprClient | undefined;

  beforeAll(() => backend.setup());
  afterAll(async () => {
    await client?.stop();
    await sc?.stop();
    await backend.teardown();
  });

  const start = async () => {
    sc = await startSidecar({ appId: 'resumeapp', components: components() });
    client = await sdkClient(sc.grpcPort);
  };
  const writer = stateWriter(() => sc!.httpUrl);
  const put = (key: string, value: unknown) => writer.save([{ key, value }]);
  const del = (key: string) => writer.del(key);
  const until = async (pred: () => boolean, what: string) => {
    const deadline = Date.now() + 15_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`no ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('every change after the version, exactly once and in order, before and after the restart', async () => {
    await start();
    const keys = ['cfg-a', 'cfg-b'];
    await put('cfg-a', 'a0');
    await put('cfg-b', 'b0');
    const { items } = await client!.configuration.get('appconfig', keys);
    const fromVersion = String(Math.max(...Object.values(items).map((i) => Number(i.version))));

    const seen: Seen[] = [];
    const record = async (c: {
      items: Record<string, { value: string; version: string; metadata: Record<string, string> }>;
    }) => {
      for (const [key, item] of Object.entries(c.items)) {
        seen.push({ key, value: item.value, version: Number(item.version || item.metadata.deletedVersion) });
      }
    };
    const first = await client!.configuration.subscribeWithMetadata(
      'appconfig',
      keys,
      { fromVersion },
      record,
    );
    // Changes after the get; the subscription replays what it missed while it was being set up.
    await put('cfg-a', 'a1');
    await del('cfg-b');
    await writer.transact([
      { operation: 'upsert', request: { key: 'cfg-a', value: 'a2' } },
      { operation: 'upsert', request: { key: 'cfg-b', value: 'b2' } },
    ]);
    await until(() => seen.length === 4, 'the changes before the restart');
    await first.stop();
    await client!.stop();
    expect(await sc!.stop()).toBe(0);

    await start();
    // Made while nobody is subscribed.
    await put('cfg-b', 'b3');
    await del('cfg-a');
    const resumeAfter = String(Math.max(...seen.map((s) => s.version)));
    const second = await client!.configuration.subscribeWithMetadata(
      'appconfig',
      keys,
      { fromVersion: resumeAfter },
      record,
    );
    await until(() => seen.length === 6, 'the changes made while down');
    await put('cfg-a', 'a4');
    await until(() => seen.length === 7, 'a live change');
    await second.stop();

    expect(seen.map((s) => [s.key, s.value])).toEqual([
      ['cfg-a', '"a1"'],
      ['cfg-b', ''],
      ['cfg-a', '"a2"'],
      ['cfg-b', '"b2"'],
      ['cfg-b', '"b3"'],
      ['cfg-a', ''],
      ['cfg-a', '"a4"'],
    ]);
    const versions = seen.map((s) => s.version);
    expect(versions[0]).toBeGreaterThan(Number(fromVersion));
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    // The transaction's two changes share a revision; every other change has its own.
    expect(new Set(versions).size).toBe(versions.length - 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toHaveLength(7);
  });
});
