/**
 * Issue 13, item 5 (c): restart the whole cluster (every member SIGKILLed, down until the sidecars report not ready, then
 * started again on its data dir)
 * under load. The sidecars are not restarted: they reconnect by themselves, serve again, keep every acknowledged
 * write, and a watch opened before the restart goes on across it with no gap and no duplicate.
 */
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import type { Sidecar } from '../support/sidecar';
import {
  FailureLoad,
  HANG_MS,
  KeyspaceWatch,
  currentRevision,
  healthBecomes,
  lostWrites,
  printFigures,
  startEtcdSidecar,
  judgeWatch,
} from './failure-load';

const describeIf = haveEtcd() ? describe : describe.skip;

describeIf('state.etcd: the whole cluster restarted', () => {
  let cluster: EtcdCluster | undefined;
  const sidecars: Sidecar[] = [];
  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster?.destroy();
  });

  test('sidecars reconnect without a restart and lose nothing', async () => {
    cluster = await startEtcdCluster();
    sidecars.push(await startEtcdSidecar(cluster), await startEtcdSidecar(cluster));
    const [s0, s1] = sidecars as [Sidecar, Sidecar];
    const pids = sidecars.map((s) => s.proc.child.pid);
    const from = (await currentRevision(s0)) + 1;
    const watch = new KeyspaceWatch(s1, from);
    await watch.stream.waitFor(1, 20_000);

    const load = new FailureLoad(sidecars, ['dapr-http', 'dapr-grpc', 'etcd', 'etcd']);
    load.start();
    let clusterDownS = 0;
    let servingAfterS = 0;
    try {
      await load.successes(10);
      const t0 = performance.now();
      // Every member SIGKILLed; the cluster stays down until every sidecar has noticed (healthz 500) and a client
      // has seen a request fail, so the sidecars really lose the cluster and must find it again on its return.
      for (const m of cluster.members) await cluster.kill(m.index);
      for (const s of sidecars) await healthBecomes(s, 500, 60_000);
      await load.failures(1);
      await cluster.restartAll();
      clusterDownS = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      await load.successes(10, 90_000);
      servingAfterS = (performance.now() - t1) / 1000;
    } finally {
      await load.stop();
    }

    const verdict = await judgeWatch(s0, watch, from);

    const lost = await lostWrites(s0, load.acknowledged());
    const figures = load.figures(lost.length);
    printFigures(
      'whole cluster SIGKILLed and restarted (2 sidecars, Dapr HTTP + gRPC + etcd load)',
      figures,
      {
        clusterRestartS: Number(clusterDownS.toFixed(2)),
        everyWorkerServedAgainAfterClusterReadyS: Number(servingAfterS.toFixed(2)),
        sidecarsRestarted: sidecars.some(
          (s, i) => s.proc.child.pid !== pids[i] || s.proc.child.exitCode !== null,
        ),
        watchEvents: verdict.events,
        watchGapOrDuplicate: verdict.gapOrDuplicate ?? 'none',
        byApi: load.byKind(),
      },
    );

    for (const [i, s] of sidecars.entries()) {
      expect(s.proc.child.pid).toBe(pids[i]);
      expect(s.proc.child.exitCode).toBeNull();
    }
    expect(load.unclear().map((r) => `${r.kind} ${r.op} ${r.key}: ${JSON.stringify(r.outcome)}`)).toEqual([]);
    expect(lost.map((r) => `${r.kind} ${r.key}`)).toEqual([]);
    expect(verdict.gapOrDuplicate).toBeUndefined();
    expect(verdict.cancels).toEqual([]);
    expect(verdict.error).toBeUndefined();
    expect(figures.slowestRequestS).toBeLessThan(HANG_MS / 1000);
  }, 240_000);
});
