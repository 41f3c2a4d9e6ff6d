/**
 * The backends the Dapr-level tests of query, list, watch and configuration run against, as sidecar component
 * metadata. Every such test file runs `describe.each(sidecarBackends)`, so a new backend (e.g. `state.etcd` on an
 * etcd cluster) plugs in by adding ONE entry to {@link allSidecarBackends}: a `type` suffix, the metadata that puts
 * a component into a given "space" (an engine namespace: components in the same space share their keys), and the
 * servers to start in `setup`.
 *
 * Select backends with `SIDECAR_BACKENDS=in-memory,redis` (default: all of them).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stateComponent } from '../../support/sidecar';
import { startRedisServer, type RedisServer } from '../../support/redis-server';
import { startEtcdCluster, type EtcdCluster } from '../../support/etcd-cluster';

export interface SidecarBackend {
  /** The component type suffix: `state.<type>`, `configuration.<type>`. */
  readonly type: string;
  /** Data survives a restart of the sidecar (the restart tests run on these). */
  readonly durable: boolean;
  /** Two sidecar processes can share one space (the app-id isolation tests run on these). */
  readonly shared: boolean;
  /** Once per test file, before any `metadata` (start servers, make directories). */
  setup(): Promise<void>;
  /** Component metadata for `space`: the same space is the same data; a new name starts empty. */
  metadata(space: string): Record<string, string>;
  /** Once per test file. */
  teardown(): Promise<void>;
}

const inMemory: SidecarBackend = {
  type: 'in-memory',
  durable: false,
  shared: false,
  async setup() {},
  // Every in-memory component has an engine of its own.
  metadata: () => ({}),
  async teardown() {},
};

function embedded(): SidecarBackend {
  let root: string | undefined;
  return {
    type: 'embedded',
    durable: true,
    shared: false,
    async setup() {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-views-'));
    },
    metadata: (space) => ({ dataDir: path.join(root!, space) }),
    async teardown() {
      if (root) fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

function redis(): SidecarBackend {
  let server: RedisServer | undefined;
  return {
    type: 'redis',
    durable: true,
    shared: true,
    async setup() {
      server = await startRedisServer();
    },
    metadata: (space) => ({ redisHost: server!.host, storeName: space }),
    async teardown() {
      await server?.destroy();
    },
  };
}

/** A 3-member etcd cluster per test file; a space is a key prefix on it. The cluster is the test's own: it may compact. */
function etcd(): SidecarBackend {
  let cluster: EtcdCluster | undefined;
  return {
    type: 'etcd',
    durable: true,
    shared: true,
    async setup() {
      cluster = await startEtcdCluster();
    },
    metadata: (space) => ({
      endpoints: cluster!.endpointList(),
      keyPrefixPath: space,
      allowCompaction: 'true',
    }),
    async teardown() {
      await cluster?.destroy();
    },
  };
}

/** Every backend, in the order they run. Add new backends here. */
export const allSidecarBackends: SidecarBackend[] = [inMemory, embedded(), redis(), etcd()];

function selected(): SidecarBackend[] {
  const wanted = (process.env.SIDECAR_BACKENDS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (wanted.length === 0) return allSidecarBackends;
  const unknown = wanted.filter((w) => !allSidecarBackends.some((b) => b.type === w));
  if (unknown.length > 0) throw new Error(`SIDECAR_BACKENDS: unknown backend(s) ${unknown.join(', ')}`);
  return allSidecarBackends.filter((b) => wanted.includes(b.type));
}

/** The backends the tests run against. */
export const sidecarBackends: SidecarBackend[] = selected();

let spaces = 0;

/** A space name no other component of this test process used. */
export function freshSpace(): string {
  return `views-${process.pid}-${spaces++}`;
}

/** A state store component on `backend` in `space`. */
export function stateStoreOn(
  backend: SidecarBackend,
  name: string,
  space: string,
  extra: Record<string, string> = {},
): string {
  return stateComponent(name, `state.${backend.type}`, { ...backend.metadata(space), ...extra });
}

/** A configuration component on `backend`: of its own in `space`, or (`space` undefined) a view of a state store. */
export function configurationStoreOn(
  backend: SidecarBackend,
  name: string,
  space: string | undefined,
  extra: Record<string, string> = {},
): string {
  const metadata = space === undefined ? {} : backend.metadata(space);
  return stateComponent(name, `configuration.${backend.type}`, { ...metadata, ...extra });
}
