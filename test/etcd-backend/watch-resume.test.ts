/**
 * Issue 13, item 2: the etcd backend's watchers resume after the member their upstream stream is on fails, from the
 * last delivered revision, with no gap and no duplicate. The engine's stream starts on the first endpoint (the
 * first that answers); that member is SIGKILLed while another client keeps writing through the other members.
 */
import { createEtcdEngine } from '../../src/engine/etcd';
import type { Engine, WatchMessage } from '../../src/engine';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';

const describeIf = haveEtcd() ? describe : describe.skip;

describeIf('etcd backend: watch resume after a member fails', () => {
  let cluster: EtcdCluster;
  let engine: Engine;
  let writer: EtcdGrpcClient;

  beforeAll(async () => {
    cluster = await startEtcdCluster();
    engine = await createEtcdEngine({ endpoints: cluster.endpointList(), keyPrefixPath: 'resume' });
    writer = new EtcdGrpcClient(cluster.endpoints()[1]!);
  }, 90_000);

  afterAll(async () => {
    await engine?.close();
    writer?.close();
    await cluster?.destroy();
  });

  test('every revision exactly once, in order, across the SIGKILL of the stream member', async () => {
    const seen: number[] = [];
    const sink = (m: WatchMessage): boolean => {
      if (m.type === 'events') for (const e of m.events) seen.push(e.kv.modRevision);
      return true;
    };
    const w = engine.watch({ key: Buffer.from('\0'), rangeEnd: Buffer.from('\0') }, sink);
    const written: number[] = [];
    const put = async (i: number): Promise<void> => {
      // Written straight to the cluster (not through the engine): a write that fails during the election is retried.
      for (;;) {
        const r = await writer.call('KV', 'Put', {
          key: Buffer.from(`resume/k${i % 7}`),
          value: Buffer.from(String(i)),
        });
        if (r.ok) {
          written.push(Number((r.res.header as { revision: string }).revision));
          return;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    for (let i = 0; i < 20; i++) await put(i);
    await cluster.kill(0);
    const t0 = Date.now();
    for (let i = 20; i < 60; i++) await put(i);
    const deadline = Date.now() + 30_000;
    while (seen.length < written.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    w.cancel();
    console.log(
      `watch resume: ${written.length} writes, ${seen.length} events, caught up ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill`,
    );
    expect(seen).toEqual(written);
    await cluster.restartMember(0);
  }, 120_000);
});

describeIf('etcd backend: a catch-up the cluster answers late', () => {
  let cluster: EtcdCluster;
  let engine: Engine;

  beforeAll(async () => {
    cluster = await startEtcdCluster({ size: 1 });
    engine = await createEtcdEngine({ endpoints: cluster.endpointList(), wholeKeySpace: true });
  }, 90_000);

  afterAll(async () => {
    await engine?.close();
    await cluster?.destroy();
  });

  test('on the whole key space, a watcher from the past gets its events even when they come after the quiet period', async () => {
    const written: number[] = [];
    for (let i = 0; i < 10; i++) {
      written.push(
        (await engine.put({ key: Buffer.from(`late/k${i}`), value: Buffer.from('v') })).header.revision,
      );
    }
    const seen: number[] = [];
    const pid = cluster.members[0]!.proc!.child.pid!;
    // The member stops answering for longer than the feed's quiet period (1 s), as a loaded cluster may.
    process.kill(pid, 'SIGSTOP');
    let w;
    try {
      w = engine.watch(
        { key: Buffer.from('late/'), rangeEnd: Buffer.from('late0'), startRevision: written[0] },
        (m) => {
          if (m.type === 'events') for (const e of m.events) seen.push(e.kv.modRevision);
          return true;
        },
      );
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const deadline = Date.now() + 30_000;
    while (seen.length < written.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    w.cancel();
    expect(seen).toEqual(written);
  }, 90_000);
});
