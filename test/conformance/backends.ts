/**
 * The backends the engine conformance suite runs against.
 *
 * Every test file in this directory is written once against the {@link Engine} contract and runs
 * `describe.each(conformanceBackends)`, so a new backend plugs in by adding ONE entry to {@link allBackends}; no
 * test file changes (see the `redis` entry: a server started in `setup`, a fresh store prefix per `create`).
 *
 * Select backends with `CONFORMANCE_BACKENDS=memory,durable` (default: all of them).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createEmbeddedEngine,
  type CommonEngineOptionsInput,
  type EmbeddedEngineOptionsInput,
  type Engine,
} from '../../src/engine';
import { createRedisEngine } from '../../src/engine/redis';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { createEtcdEngine } from '../../src/engine/etcd';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';

/**
 * Options a test may pass to any backend: the common engine options, plus tuning that only some backends have and
 * the others ignore (`valueCacheBytes`: the durable engine's cache of values read from disk).
 */
export type ConformanceOptions = CommonEngineOptionsInput &
  Pick<EmbeddedEngineOptionsInput, 'valueCacheBytes'>;

/** One backend under test. */
export interface ConformanceBackend {
  /** Short name used in test titles and in `CONFORMANCE_BACKENDS`. */
  name: string;
  /** Once per test file, before any `create` (start servers, make directories...). */
  setup(): Promise<void>;
  /** A FRESH, EMPTY engine on every call (revision 1, no keys, no leases). */
  create(options?: ConformanceOptions): Promise<Engine>;
  /** Once per test file, after every engine was closed. */
  teardown(): Promise<void>;
  /**
   * Only for backends whose state survives a restart: close `engine` and open a new engine on the same storage.
   * `durable-restart.test.ts` runs against every backend that has it.
   */
  reopen?(engine: Engine, options?: ConformanceOptions): Promise<Engine>;
}

/** The embedded engine, in memory only. */
const memoryBackend: ConformanceBackend = {
  name: 'memory',
  async setup() {},
  async create(options = {}) {
    return createEmbeddedEngine({ ...options });
  },
  async teardown() {},
};

/** The embedded engine on disk; every engine gets its own fresh directory under one temp root per file. */
function durableBackend(): ConformanceBackend {
  let root: string | undefined;
  // Remember where each engine lives so `reopen` can find its directory again.
  const dirs = new WeakMap<Engine, string>();
  const rootDir = (): string => {
    root ??= fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-conformance-'));
    return root;
  };
  return {
    name: 'durable',
    async setup() {
      rootDir();
    },
    async create(options = {}) {
      const dataDir = fs.mkdtempSync(path.join(rootDir(), 'db-'));
      const engine = await createEmbeddedEngine({ ...options, dataDir });
      dirs.set(engine, dataDir);
      return engine;
    },
    async reopen(engine, options = {}) {
      const dataDir = dirs.get(engine);
      if (dataDir === undefined) throw new Error('reopen: engine was not created by this backend');
      await engine.close();
      const reopened = await createEmbeddedEngine({ ...options, dataDir });
      dirs.set(reopened, dataDir);
      return reopened;
    },
    async teardown() {
      if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
      root = undefined;
    },
  };
}

/** The options the Redis engine has: without the embedded engine's value cache (it keeps no values on disk). */
function redisOptions(options: ConformanceOptions): CommonEngineOptionsInput {
  const { valueCacheBytes: _embeddedOnly, ...common } = options;
  return common;
}

/**
 * Redis: one `redis-server` per test file on a free loopback port; every engine gets its own store prefix, so it
 * starts empty (revision 1, no keys, no leases) while sharing the server.
 */
function redisBackend(): ConformanceBackend {
  let server: Promise<RedisServer> | undefined;
  // setup/teardown may nest (several describe blocks in one file): one server, stopped by the last teardown.
  let users = 0;
  let n = 0;
  const prefixes = new WeakMap<Engine, string>();
  return {
    name: 'redis',
    async setup() {
      users++;
      server ??= startRedisServer();
      await server;
    },
    async create(options = {}) {
      if (server === undefined) throw new Error('redis backend: setup() did not run');
      const { host } = await server;
      const storePrefix = `conformance:{s${n++}}:`;
      const engine = await createRedisEngine({ ...redisOptions(options), redisHost: host, storePrefix });
      prefixes.set(engine, storePrefix);
      return engine;
    },
    // The state lives in Redis, so a restart is a new engine instance on the same store.
    async reopen(engine, options = {}) {
      const storePrefix = prefixes.get(engine);
      if (server === undefined || storePrefix === undefined)
        throw new Error('reopen: not a redis engine of this run');
      await engine.close();
      const { host } = await server;
      const reopened = await createRedisEngine({ ...redisOptions(options), redisHost: host, storePrefix });
      prefixes.set(reopened, storePrefix);
      return reopened;
    },
    async teardown() {
      if (--users > 0 || server === undefined) return;
      const s = server;
      server = undefined;
      await (await s).destroy();
    },
  };
}

/**
 * etcd: a real 3-member cluster on loopback per `create`, because a fresh engine must start at revision 1 and the
 * etcd backend's revisions, leases and compaction are the cluster's own. Clusters start in the background one ahead
 * (a start takes about half a second), and a cluster is killed once every engine on it was closed and the next
 * `create` or the teardown comes (so `reopen` can open a new engine on the same cluster). The store is the cluster's
 * whole key space (`wholeKeySpace`): under a prefix a from-key delete becomes a bounded range, which etcd's
 * duplicate-key check in a txn treats differently (see src/engine/etcd/etcd-options.ts); the prefix mapping is
 * tested by test/etcd-backend/key-prefix.test.ts and the sidecar suites. Compaction is allowed (the cluster is the
 * test's own).
 */
function etcdBackend(): ConformanceBackend {
  // etcd's default raft timing: a minimum lease TTL of 2 s, as the contract's default.
  const clusterArgs = ['--heartbeat-interval=100', '--election-timeout=1000'];
  let next: Promise<EtcdCluster> | undefined;
  let users = 0;
  let n = 0;
  const live: Array<{ cluster: EtcdCluster; engines: Set<Engine>; prefix: string }> = [];
  const byEngine = new WeakMap<Engine, (typeof live)[number]>();
  const spare = (): Promise<EtcdCluster> => {
    const p = startEtcdCluster({ extraArgs: clusterArgs });
    p.catch(() => undefined);
    return p;
  };
  const kill = async (cluster: EtcdCluster): Promise<void> => {
    await Promise.all(cluster.members.map((_, i) => cluster.kill(i)));
    await cluster.destroy();
  };
  /** Kill the clusters whose engines are all closed. */
  const reap = async (): Promise<void> => {
    const done = live.filter((x) => x.engines.size === 0);
    for (const x of done) live.splice(live.indexOf(x), 1);
    await Promise.all(done.map((x) => kill(x.cluster)));
  };
  const track = (engine: Engine, entry: (typeof live)[number]): Engine => {
    entry.engines.add(engine);
    byEngine.set(engine, entry);
    const close = engine.close.bind(engine);
    engine.close = async () => {
      await close();
      entry.engines.delete(engine);
    };
    return engine;
  };
  const open = (cluster: EtcdCluster, prefix: string, options: ConformanceOptions) =>
    createEtcdEngine({
      ...redisOptions(options),
      endpoints: cluster.endpointList(),
      keyPrefixPath: prefix,
      wholeKeySpace: true,
      allowCompaction: true,
    });
  return {
    name: 'etcd',
    async setup() {
      users++;
      next ??= spare();
      await next;
    },
    async create(options = {}) {
      if (next === undefined) throw new Error('etcd backend: setup() did not run');
      await reap();
      const cluster = await next;
      next = spare();
      const entry = { cluster, engines: new Set<Engine>(), prefix: `conformance-${n++}` };
      live.push(entry);
      return track(await open(cluster, entry.prefix, options), entry);
    },
    // The state lives in the cluster, so a restart is a new engine instance on the same cluster and prefix.
    async reopen(engine, options = {}) {
      const entry = byEngine.get(engine);
      if (entry === undefined) throw new Error('reopen: not an etcd engine of this run');
      entry.engines.add(engine); // keep the cluster while the old engine closes
      const keep = engine;
      await engine.close();
      const reopened = track(await open(entry.cluster, entry.prefix, options), entry);
      entry.engines.delete(keep);
      return reopened;
    },
    async teardown() {
      if (--users > 0) return;
      for (const x of live) x.engines.clear();
      await reap();
      const spareCluster = next;
      next = undefined;
      if (spareCluster) await kill(await spareCluster);
    },
  };
}

/** Every known backend, in the order they run. Add new backends here. */
export const allBackends: ConformanceBackend[] = [
  memoryBackend,
  durableBackend(),
  redisBackend(),
  etcdBackend(),
];

/** Backends picked by `CONFORMANCE_BACKENDS` (comma-separated names); all when unset or empty. */
function selectBackends(all: ConformanceBackend[]): ConformanceBackend[] {
  const wanted = (process.env.CONFORMANCE_BACKENDS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (wanted.length === 0) return all;
  const unknown = wanted.filter((w) => !all.some((b) => b.name === w));
  // A typo must not silently run nothing.
  if (unknown.length > 0) {
    throw new Error(
      `CONFORMANCE_BACKENDS: unknown backend(s) ${unknown.join(', ')}; known: ${all.map((b) => b.name).join(', ')}`,
    );
  }
  return all.filter((b) => wanted.includes(b.name));
}

/** The backends every conformance test file runs against. */
export const conformanceBackends: ConformanceBackend[] = selectBackends(allBackends);
