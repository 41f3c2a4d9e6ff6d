/**
 * Issue 13, item 5 (b): kill 2 of the 3 members (the leader among them) under load. Writes through every API fail
 * clearly (Dapr HTTP 500, Dapr gRPC INTERNAL/UNAVAILABLE as daprd answers a store failure, etcd UNAVAILABLE)
 * within a bounded time, `/v1.0/healthz` says not ready and why, and when the members return everything recovers
 * by itself: the same sidecar process is healthy again and serves writes, a watch opened before the outage goes on
 * with no gap and no duplicate, and nothing acknowledged is lost.
 */
import * as grpc from '@grpc/grpc-js';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import type { Sidecar } from '../support/sidecar';
import {
  FailureLoad,
  HANG_MS,
  KeyspaceWatch,
  STORE,
  currentRevision,
  daprGrpcClient,
  healthBecomes,
  lostWrites,
  printFigures,
  startEtcdSidecar,
  judgeWatch,
} from './failure-load';

const describeIf = haveEtcd() ? describe : describe.skip;

/** One write through each API while the cluster has no quorum: how each failed, and how long it took. */
async function probeWrites(sc: Sidecar): Promise<Record<string, { error: string; seconds: number }>> {
  const timed = async (f: () => Promise<string>): Promise<{ error: string; seconds: number }> => {
    const t0 = performance.now();
    const error = await f();
    return { error, seconds: Number(((performance.now() - t0) / 1000).toFixed(2)) };
  };
  const dapr = daprGrpcClient(sc);
  const etcd = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
  try {
    const [http, grpcDapr, etcdPut] = await Promise.all([
      timed(async () => {
        const res = await fetch(`${sc.httpUrl}/v1.0/state/${STORE}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify([{ key: 'probe-http', value: 1 }]),
          signal: AbortSignal.timeout(30_000),
        });
        return `HTTP ${res.status} ${await res.text()}`;
      }),
      timed(
        () =>
          new Promise((resolve) => {
            dapr.SaveState!(
              { storeName: STORE, states: [{ key: 'probe-grpc', value: Buffer.from('1') }] },
              { deadline: Date.now() + 30_000 },
              (err: grpc.ServiceError | null) =>
                resolve(err ? `${grpc.status[err.code]} ${err.details}` : 'OK'),
            );
          }),
      ),
      timed(async () => {
        const r = await etcd.call(
          'KV',
          'Put',
          { key: Buffer.from('probe-etcd'), value: Buffer.from('1') },
          30_000,
        );
        return r.ok ? 'OK' : `${grpc.status[r.code]} ${r.details}`;
      }),
    ]);
    return { 'dapr-http': http!, 'dapr-grpc': grpcDapr!, etcd: etcdPut! };
  } finally {
    dapr.close();
    etcd.close();
  }
}

describeIf('state.etcd: 2 of 3 members killed', () => {
  let cluster: EtcdCluster | undefined;
  let sc: Sidecar | undefined;
  afterAll(async () => {
    await sc?.stop();
    await cluster?.destroy();
  });

  test('writes fail clearly and quickly, health says why, and all recovers by itself', async () => {
    cluster = await startEtcdCluster();
    sc = await startEtcdSidecar(cluster);
    const pid = sc.proc.child.pid;
    const from = (await currentRevision(sc)) + 1;
    const watch = new KeyspaceWatch(sc, from);
    await watch.stream.waitFor(1, 20_000);
    const load = new FailureLoad([sc], ['dapr-http', 'dapr-grpc', 'etcd']);
    load.start();
    let probes: Record<string, { error: string; seconds: number }> = {};
    let notReady = { body: '', afterS: 0 };
    let ready = 0;
    const down: number[] = [];
    try {
      await load.successes(10);
      const leader = await cluster.leader();
      const follower = cluster.members.find((m) => m !== leader)!;
      for (const m of [leader, follower]) {
        await cluster.kill(m.index);
        down.push(m.index);
      }
      notReady = await healthBecomes(sc, 500, 60_000);
      probes = await probeWrites(sc);
      const back = performance.now();
      for (const i of down) await cluster.restartMember(i, { waitReady: false });
      await healthBecomes(sc, 204, 60_000);
      ready = (performance.now() - back) / 1000;
      await cluster.waitReady();
      await load.successes(10);
    } finally {
      await load.stop();
    }
    // The watch opened before the outage goes on after it, with every revision once.
    const verdict = await judgeWatch(sc, watch, from);
    const lost = await lostWrites(sc, load.acknowledged());
    const figures = load.figures(lost.length);
    const reason = (JSON.parse(notReady.body || '{}') as { errorCode?: string; message?: string }) ?? {};
    printFigures(
      '2 of 3 members SIGKILLed, then restarted (1 sidecar, Dapr HTTP + gRPC + etcd load)',
      figures,
      {
        killed: down.map((i) => cluster!.members[i]!.name),
        healthNotReadyAfterS: Number(notReady.afterS.toFixed(2)),
        healthWhy: `${reason.errorCode}: ${reason.message}`,
        writesWithoutQuorum: probes,
        healthReadyAfterMembersRestartedS: Number(ready.toFixed(2)),
        sameSidecarProcess: sc.proc.child.pid === pid && sc.proc.child.exitCode === null,
        watchEvents: verdict.events,
        watchGapOrDuplicate: verdict.gapOrDuplicate ?? 'none',
        byApi: load.byKind(),
      },
    );

    // Clear and bounded: Dapr's 500 with its error body, the gRPC store-failure codes, well before any deadline.
    expect(probes['dapr-http']!.error).toMatch(/^HTTP 500 \{.*"errorCode":"ERR_STATE_SAVE"/);
    expect(probes['dapr-grpc']!.error).toMatch(/^(INTERNAL|UNAVAILABLE) \S/);
    expect(probes.etcd!.error).toMatch(/^UNAVAILABLE \S/);
    for (const p of Object.values(probes)) expect(p.seconds).toBeLessThan(HANG_MS / 1000);
    // Not ready, saying which store and why.
    expect(reason.errorCode).toBe('ERR_HEALTH_NOT_READY');
    expect(reason.message).toMatch(/etcd|quorum|leader|unavailable|unreachable/i);
    // Recovered by itself: the same process.
    expect(sc.proc.child.pid).toBe(pid);
    expect(sc.proc.child.exitCode).toBeNull();
    expect(load.unclear().map((r) => `${r.kind} ${r.op} ${r.key}: ${JSON.stringify(r.outcome)}`)).toEqual([]);
    expect(lost.map((r) => `${r.kind} ${r.key}`)).toEqual([]);
    expect(figures.slowestRequestS).toBeLessThan(HANG_MS / 1000);
    expect(verdict.gapOrDuplicate).toBeUndefined();
    expect(verdict.cancels).toEqual([]);
    expect(verdict.error).toBeUndefined();
  }, 240_000);
});
