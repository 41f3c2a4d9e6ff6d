/**
 * One bad create request never ends a Watch stream (docs/etcd-semantics.md#the-stream), and a start revision
 * beyond the current one waits for it, however far (docs/etcd-semantics.md#where-a-watcher-starts). The same
 * requests go to a real etcd 3.4 and to a statecar sidecar, and both streams must tell the same story.
 */
import { haveEtcd, type RealEtcd } from '../support/etcd-server';
import { EtcdGrpcClient, b, type WatchStreamClient } from './support/etcd-grpc-client';
import { normalize, settlePair, watchTranscript } from './support/differential';
import { startEtcdAndStatecar, startStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(60_000);

/** Start revisions a client can send that no store will reach: int64 max, 2^53 + 1, 2^53. */
const FAR = ['9223372036854775807', '9007199254740993', '9007199254740992'];

/**
 * The script: hostile creates mixed with good ones, then writes. `negativeStart` adds a create with a negative
 * start revision, which etcd 3.4.23 (the one installed) creates and then cancels, while current 3.4 and 3.5 releases
 * (and statecar) refuse it in-band; the differential run leaves it out.
 */
async function script(c: EtcdGrpcClient, w: WatchStreamClient, negativeStart: boolean): Promise<void> {
  const current = Number(
    ((await c.ok('KV', 'Range', { key: b('w') })).header as { revision: string }).revision,
  );
  for (const rev of FAR) w.send({ create_request: { key: b('w'), start_revision: rev } });
  w.send({ create_request: { key: b('z'), range_end: b('a') } }); // empty range: in-band cancel
  if (negativeStart) w.send({ create_request: { key: b('w'), start_revision: '-3' } }); // in-band cancel
  w.send({ create_request: { key: b('w'), start_revision: String(current + 2) } }); // waits for current + 2
  w.send({ create_request: { key: b('w') } });
  await w.waitFor(FAR.length + (negativeStart ? 4 : 3));
  await c.ok('KV', 'Put', { key: b('w'), value: b('1') }); // current + 1: only the plain watcher
  await c.ok('KV', 'Put', { key: b('w'), value: b('2') }); // current + 2: both
}

describe('statecar alone', () => {
  let sc: StatecarTarget;
  let c: EtcdGrpcClient;
  beforeAll(async () => {
    sc = await startStatecar();
    c = new EtcdGrpcClient(sc.endpoint);
  });
  afterAll(async () => {
    c?.close();
    await sc?.stop();
  });

  test('far start revisions are created and wait; bad creates are in-band; the stream goes on', async () => {
    const w = c.watch();
    try {
      await script(c, w, true);
      const all = await w.waitFor(FAR.length + 4 + 3);
      await w.settle();
      expect(w.error).toBeUndefined();
      const rs = all.map((r) => normalize(r) as Record<string, unknown>);
      const created = rs.filter((r) => r.created);
      expect(created.map((r) => [r.watch_id, !!r.canceled, r.cancel_reason ?? ''])).toEqual([
        ['0', false, ''],
        ['1', false, ''],
        ['2', false, ''],
        ['-1', true, 'mvcc: watcher range is empty'],
        ['-1', true, 'mvcc: required revision has been compacted'],
        ['3', false, ''],
        ['4', false, ''],
      ]);
      const events = rs.filter((r) => !r.created).map((r) => [r.watch_id, (r.events as unknown[]).length]);
      expect(events).toEqual([
        ['4', 1],
        ['3', 1],
        ['4', 1],
      ]);
      // A watch ID statecar cannot hold exactly is refused in-band too, and the stream still serves.
      w.send({ create_request: { key: b('w'), watch_id: '9007199254740993' } });
      w.send({ create_request: { key: b('x') } });
      const more = await w.waitFor(rs.length + 2);
      expect(more.slice(rs.length).map((r) => normalize(r))).toMatchObject([
        { created: true, canceled: true, watch_id: '-1', cancel_reason: 'watch ID out of range' },
        { created: true, watch_id: '5' },
      ]);
      expect(w.error).toBeUndefined();
    } finally {
      w.close();
    }
  });
});

const describeIfEtcd = haveEtcd() ? describe : describe.skip;

describeIfEtcd('against a real etcd 3.4', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;
  let clients: { etcd: EtcdGrpcClient; statecar: EtcdGrpcClient };
  beforeAll(async () => {
    ({ etcd, statecar } = await startEtcdAndStatecar());
    clients = { etcd: new EtcdGrpcClient(etcd.endpoint), statecar: new EtcdGrpcClient(statecar.endpoint) };
  });
  afterAll(async () => {
    clients?.etcd.close();
    clients?.statecar.close();
    await Promise.all([etcd?.stop(), statecar?.stop()]);
  });

  test('the same script tells the same story on both streams', async () => {
    const w = { etcd: clients.etcd.watch(), statecar: clients.statecar.watch() };
    try {
      await script(clients.etcd, w.etcd, false);
      await script(clients.statecar, w.statecar, false);
      await settlePair(w);
      expect(w.statecar.error).toBeUndefined();
      expect(w.etcd.error).toBeUndefined();
      expect(watchTranscript(w.statecar)).toEqual(watchTranscript(w.etcd));
    } finally {
      w.etcd.close();
      w.statecar.close();
    }
  });
});
