/**
 * What the linearizability run is pointed at: one list, one entry per backend (and per fault variant). An entry says
 * how to start the sidecars and what they share; the driver (driver.ts) does the rest.
 *
 * To add a backend, append `sidecarTarget({...})` to {@link LINEARIZABILITY_TARGETS}: the component type, how many
 * sidecars share it, and — when the store needs a server — a `backing` that starts it and returns the component
 * metadata pointing at it. A fault variant is a second entry with `fault`, called once mid-run with the backing.
 * For example, the etcd cluster backend with its leader killed (the real entry is in the list below):
 *
 * ```ts
 * sidecarTarget({
 *   name: 'state.etcd, 3-member cluster, leader killed mid-run',
 *   type: 'state.etcd',
 *   sidecars: 3,
 *   readConsistencies: ['strong'],
 *   backing: etcdCluster,
 *   fault: killEtcdLeader,
 *   available: haveEtcd,
 * })
 * ```
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';

/** What a backing service (a Redis, an etcd cluster, a data directory) gives the sidecars. */
export interface Backing {
  /** Metadata of the state store component (e.g. `redisHost`, `endpoints`, `dataDir`). */
  metadata: Record<string, string>;
  /** Stop it and remove what it left on disk. */
  stop(): Promise<void>;
}

/** A started target: the sidecars to drive and how to stop everything. */
export interface StartedTarget {
  sidecars: Sidecar[];
  /** The mid-run fault, when the target has one; resolves with a line for the report. */
  fault?: () => Promise<string>;
  stop(): Promise<void>;
}

/** One entry of the target list. */
export interface LinearizabilityTarget {
  /** Printed in the report and the test name. */
  name: string;
  /** The sidecars' app id (all sidecars are replicas of one app, so they share keys). */
  appId: string;
  /** The state store's component name (served on the etcd API too). */
  store: string;
  /** Dapr read consistencies used: `strong` must be linearizable everywhere, `eventual` only on one-copy stores. */
  readConsistencies: readonly ('strong' | 'eventual')[];
  /** Per-request deadline (ms); past it a request's outcome is unknown. */
  opTimeoutMs: number;
  /** When in the run the fault strikes: after this fraction of the operations has been issued. */
  faultAt: number;
  /** Undefined when the target can run here, else why not (the test is skipped, saying so). */
  unavailable(): string | undefined;
  start(): Promise<StartedTarget>;
}

/** What {@link sidecarTarget} needs to know. */
export interface SidecarTargetSpec<B extends Backing> {
  name: string;
  /** The state store's component type, e.g. `state.redis`. */
  type: string;
  /** Sidecars sharing the store (default 1; a store that lives inside one process cannot be shared). */
  sidecars?: number;
  /** Start what the store needs; its `metadata` goes into the component. Default: nothing. */
  backing?: () => Promise<B>;
  /** Extra component metadata. */
  metadata?: Record<string, string>;
  /** A fault to inject once mid-run (e.g. SIGKILL the etcd leader); resolves with what it did. */
  fault?: (ctx: { backing: B; sidecars: Sidecar[] }) => Promise<string>;
  /** Default `['strong', 'eventual']`; a replicated store whose eventual reads may be stale says `['strong']`. */
  readConsistencies?: readonly ('strong' | 'eventual')[];
  /** Default 5,000 ms. */
  opTimeoutMs?: number;
  /** Default 0.4. */
  faultAt?: number;
  /** Whether the binaries the target needs are installed (default: yes). */
  available?: () => boolean;
}

/** Start a sidecar; a free port taken by someone else between probing and listening is retried. */
async function startRetrying(opts: Parameters<typeof startSidecar>[0]): Promise<Sidecar> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSidecar(opts);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

/**
 * A target of `sidecars` statecar processes, each serving the Dapr HTTP and gRPC APIs and the etcd API on one state
 * store of component `type`, all sharing the backing service. The export to call when adding a backend.
 */
export function sidecarTarget<B extends Backing>(spec: SidecarTargetSpec<B>): LinearizabilityTarget {
  const appId = 'linapp';
  const store = 'statestore';
  return {
    name: spec.name,
    appId,
    store,
    readConsistencies: spec.readConsistencies ?? ['strong', 'eventual'],
    opTimeoutMs: spec.opTimeoutMs ?? 5000,
    faultAt: spec.faultAt ?? 0.4,
    unavailable: () =>
      spec.available && !spec.available() ? `${spec.name}: needed binaries not installed` : undefined,
    async start() {
      const none: Backing = { metadata: {}, stop: async () => {} };
      const backing = spec.backing ? await spec.backing() : (none as B);
      const sidecars: Sidecar[] = [];
      const stop = async (): Promise<void> => {
        await Promise.all(sidecars.map((s) => s.stop()));
        await backing.stop();
      };
      try {
        const components = {
          [`${store}.yaml`]: stateComponent(store, spec.type, {
            etcdAPI: 'true',
            ...spec.metadata,
            ...backing.metadata,
          }),
        };
        // One after the other, so two cannot pick the same free ports.
        for (let i = 0; i < (spec.sidecars ?? 1); i++) {
          sidecars.push(await startRetrying({ appId, components, etcdPort: true }));
        }
      } catch (err) {
        await stop();
        throw err;
      }
      const fault = spec.fault;
      return { sidecars, stop, fault: fault && (() => fault({ backing, sidecars })) };
    },
  };
}

/** A fresh data directory for a durable store, removed afterwards. */
async function dataDirectory(): Promise<Backing> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-lin-'));
  return { metadata: { dataDir: dir }, stop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** One Redis server on loopback (append-only, fsync always: an acknowledged write survives a crash). */
async function redis(): Promise<Backing & { server: RedisServer }> {
  const server = await startRedisServer({ appendOnly: true });
  return { metadata: { redisHost: server.host, redisPassword: '' }, stop: () => server.destroy(), server };
}

/** SIGKILL the Redis server, wait until a sidecar says it is not ready, start it again, wait until ready. */
async function crashRedis({ backing, sidecars }: { backing: { server: RedisServer }; sidecars: Sidecar[] }) {
  const started = performance.now();
  await backing.server.kill();
  await healthIs(sidecars, 500);
  await backing.server.restart();
  await healthIs(sidecars, 204);
  return `Redis SIGKILLed and restarted; the sidecars were not ready for ${((performance.now() - started) / 1000).toFixed(1)} s`;
}

/** A 3-member etcd cluster on loopback, shared by every sidecar of the target (Dapr's `state.etcd` metadata). */
async function etcdCluster(): Promise<Backing & { cluster: EtcdCluster }> {
  const cluster = await startEtcdCluster({ size: 3 });
  return {
    // A prefix of the run's own, as users share one cluster between applications.
    metadata: { endpoints: cluster.endpointList(), keyPrefixPath: 'statecar-lin' },
    stop: () => cluster.destroy(),
    cluster,
  };
}

/**
 * SIGKILL the cluster's leader mid-run, wait until the others have elected a new one and the sidecars are ready,
 * then start the killed member again on its data dir, so the run ends on a whole cluster.
 */
async function killEtcdLeader({
  backing,
  sidecars,
}: {
  backing: { cluster: EtcdCluster };
  sidecars: Sidecar[];
}) {
  const { cluster } = backing;
  const leader = await cluster.leader();
  const started = performance.now();
  await cluster.kill(leader.index);
  const next = await cluster.leader();
  const elected = (performance.now() - started) / 1000;
  await healthIs(sidecars, 204, 60_000);
  await cluster.restartMember(leader.index);
  await cluster.waitReady();
  return (
    `SIGKILL leader ${leader.name}; ${next.name} led after ${elected.toFixed(1)} s; ` +
    `${leader.name} restarted on its data dir after ${((performance.now() - started) / 1000).toFixed(1)} s`
  );
}

/** Wait until every sidecar's /v1.0/healthz answers `status`. */
export async function healthIs(sidecars: Sidecar[], status: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const s of sidecars) {
    while (
      (await fetch(`${s.httpUrl}/v1.0/healthz`).then(
        (r) => r.status,
        () => 0,
      )) !== status
    ) {
      if (Date.now() > deadline)
        throw new Error(`${s.httpUrl} health did not become ${status} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Every backend that exists today. */
export const LINEARIZABILITY_TARGETS: LinearizabilityTarget[] = [
  sidecarTarget({ name: 'state.in-memory (1 sidecar)', type: 'state.in-memory' }),
  sidecarTarget({
    name: 'state.embedded, durable (1 sidecar)',
    type: 'state.embedded',
    backing: dataDirectory,
  }),
  sidecarTarget({
    name: 'state.redis (2 sidecars, one Redis)',
    type: 'state.redis',
    sidecars: 2,
    backing: redis,
  }),
  sidecarTarget({
    name: 'state.redis (2 sidecars, one Redis), Redis SIGKILLed and restarted mid-run',
    type: 'state.redis',
    sidecars: 2,
    backing: redis,
    fault: crashRedis,
    opTimeoutMs: 2000,
  }),
  sidecarTarget({
    name: 'state.etcd (3 sidecars, one 3-member etcd cluster)',
    type: 'state.etcd',
    sidecars: 3,
    // A serializable (eventual) read may be answered by a follower that lags: only strong reads are linearizable.
    readConsistencies: ['strong'],
    backing: etcdCluster,
    available: haveEtcd,
  }),
  sidecarTarget({
    name: 'state.etcd (3 sidecars, one 3-member etcd cluster), leader SIGKILLed mid-run',
    type: 'state.etcd',
    sidecars: 3,
    readConsistencies: ['strong'],
    backing: etcdCluster,
    fault: killEtcdLeader,
    available: haveEtcd,
  }),
];
