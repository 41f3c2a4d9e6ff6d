/**
 * Issue 13, item 5 (a): SIGKILL the etcd leader under concurrent Dapr HTTP, Dapr gRPC and etcd-API load on two
 * sidecars (each its own process) sharing a 3-member cluster. Every request succeeds or gets a clear retryable
 * error, no acknowledged write is lost (all are read back afterwards), and a watch opened before the kill goes on
 * across it with no gap and no duplicate (its events are compared with a replay of the same revisions).
 */
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import type { Sidecar } from '../support/sidecar';
import {
  FailureLoad,
  HANG_MS,
  KeyspaceWatch,
  currentRevision,
  lostWrites,
  printFigures,
  startEtcdSidecar,
  judgeWatch,
} from './failure-load';

const describeIf = haveEtcd() ? describe : describe.skip;

describeIf('state.etcd: the leader SIGKILLed under load', () => {
  let cluster: EtcdCluster | undefined;
  const sidecars: Sidecar[] = [];
  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster?.destroy();
  });

  test('every request succeeds or fails retryably, nothing acknowledged is lost, the watch has no gap', async () => {
    cluster = await startEtcdCluster();
    sidecars.push(await startEtcdSidecar(cluster), await startEtcdSidecar(cluster));
    const [s0, s1] = sidecars as [Sidecar, Sidecar];
    const from = (await currentRevision(s0)) + 1;
    const watch = new KeyspaceWatch(s1, from);
    await watch.stream.waitFor(1, 20_000);

    const load = new FailureLoad(sidecars, [
      'dapr-http',
      'dapr-grpc',
      'etcd',
      'dapr-http',
      'dapr-grpc',
      'etcd',
    ]);
    load.start();
    let killed = '';
    let electedS = 0;
    let leaderAfter = '';
    try {
      await load.successes(15);
      const leader = await cluster.leader();
      killed = leader.name;
      const t0 = performance.now();
      await cluster.kill(leader.index);
      leaderAfter = (await cluster.leader()).name;
      electedS = (performance.now() - t0) / 1000;
      // Served again by the two survivors, then by the whole cluster once the killed member is back.
      await load.successes(15);
      await cluster.restartMember(leader.index);
      await cluster.waitReady();
      await load.successes(10);
    } finally {
      await load.stop();
    }

    const verdict = await judgeWatch(s0, watch, from);

    const acked = load.acknowledged();
    const lost = await lostWrites(s0, acked);
    const figures = load.figures(lost.length);
    printFigures('SIGKILL the leader under Dapr HTTP + gRPC + etcd load (2 sidecars, 3 members)', figures, {
      killed,
      newLeader: leaderAfter,
      newLeaderElectedAfterS: Number(electedS.toFixed(2)),
      watchEvents: verdict.events,
      watchGapOrDuplicate: verdict.gapOrDuplicate ?? 'none',
      byApi: load.byKind(),
      unclearSample: load
        .unclear()
        .slice(0, 3)
        .map((r) => `${r.kind} ${r.op}: ${JSON.stringify(r.outcome)}`),
    });

    expect(load.unclear().map((r) => `${r.kind} ${r.op} ${r.key}: ${JSON.stringify(r.outcome)}`)).toEqual([]);
    expect(lost.map((r) => `${r.kind} ${r.key}`)).toEqual([]);
    expect(verdict.gapOrDuplicate).toBeUndefined();
    expect(verdict.cancels).toEqual([]);
    expect(verdict.error).toBeUndefined();
    expect(figures.slowestRequestS).toBeLessThan(HANG_MS / 1000);
    for (const row of Object.values(load.byKind())) expect(row.acked).toBeGreaterThan(0);
  }, 240_000);
});
