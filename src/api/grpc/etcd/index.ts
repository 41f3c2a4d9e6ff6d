import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { capabilitiesOf } from '../../../engine/capabilities';
import type { SnapshotExtras } from '../../../engine/etcd-format/snapshot-file';
import type { FastCodec } from '../wire/fast-codecs';
import { AuthStore, EtcdAuth } from './auth-check';
import { authService } from './auth-service';
import { tokenProviderFrom } from './auth-tokens';
import { clusterService } from './cluster-service';
import { MemberRecord } from './member-changes';
import { electionService } from './election-service';
import { DEFAULT_ETCD_IDENTITY, ResponseHeaderFactory, type EtcdIdentity } from './header';
import { KV_FAST_CODECS } from './kv-fast-codec';
import { kvService } from './kv-service';
import { leaseService } from './lease-service';
import { lockService } from './lock-service';
import { maintenanceService } from './maintenance-service';
import { etcdServiceDefinition } from './proto';
import { watchService } from './watch-stream';

/**
 * The etcd v3 gRPC API over an {@link Engine}: KV, Watch, Lease, Maintenance (Status, Alarm), Cluster
 * (MemberList), v3lockpb.Lock and v3electionpb.Election — so `etcdctl` and etcd client libraries work against the
 * sidecar. Modelled on etcd's server/etcdserver/api/v3rpc: this layer only translates the wire; the engine owns
 * the semantics.
 */

/** Options of {@link etcdServiceRegistrar}. */
export interface EtcdApiOptions {
  /** Cluster/member identity shown in headers, Status and MemberList. */
  identity?: Partial<EtcdIdentity>;
  /** etcd's `--max-request-bytes` for writes (default 1.5 MiB → "etcdserver: request is too large"). */
  maxRequestBytes?: number;
  /** Client URLs listed by MemberList (default: the `host:port` the caller dialled, see cluster-service.ts). */
  clientUrls?: () => string[];
  /** Auth settings (etcd's server flags); see {@link EtcdAuthOptions}. */
  auth?: EtcdAuthOptions;
}

/** etcd's auth flags, read from the etcd-API state store's component metadata (docs/etcd-auth.md). */
export interface EtcdAuthOptions {
  /** `--auth-token`: `simple` (default) or `jwt,pub-key=...,priv-key=...,sign-method=...[,ttl=...]`. */
  token?: string;
  /** `--auth-token-ttl`: simple token lifetime in seconds, renewed on use (default 300). */
  tokenTtlSeconds?: number;
  /** `--bcrypt-cost`: cost of new password hashes (default 10). */
  bcryptCost?: number;
}

/** etcd's default `--max-request-bytes`. */
export const DEFAULT_MAX_REQUEST_BYTES = 1_572_864;

/**
 * A function adding the etcd services over `engine` to a server (statecar's, or a grpc-js one). Call it once per
 * server; the same engine may be registered on several servers (e.g. the Dapr gRPC port and `--etcd-port`). The
 * limits etcd sets on its listener are in `etcdGrpcServerOptions` (../server.ts).
 */
export function etcdServiceRegistrar(
  engine: Engine,
  opts: EtcdApiOptions = {},
): (server: Pick<grpc.Server, 'addService'>) => void {
  // On a backend over a real cluster, headers, Status and MemberList show that cluster.
  const cluster = capabilitiesOf(engine).cluster;
  const header = new ResponseHeaderFactory(
    { ...DEFAULT_ETCD_IDENTITY, ...opts.identity },
    cluster && (() => cluster.identity()),
  );
  const maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const auth = createAuth(engine, opts.auth);
  const aux = capabilitiesOf(engine).aux;
  const member = new MemberRecord(header.identity.memberId, header.identity.memberName, aux);
  const clientUrls = (): string[] => opts.clientUrls?.() ?? [];
  const snapshotExtras = (revision: number): SnapshotExtras => ({
    members: [member.entry(clientUrls())],
    consistentIndex: revision,
    clusterVersion: header.identity.version.replace(/^(\d+\.\d+).*$/, '$1.0'),
  });
  // One auth check in front of every handler (a pass-through when the backend keeps no auth state).
  const guard = (name: string, impl: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation =>
    auth ? auth.guard(name, impl) : impl;
  const services: Array<[string, grpc.UntypedServiceImplementation, Record<string, FastCodec>?]> = [
    ['etcdserverpb.KV', kvService(engine, header, maxRequestBytes), KV_FAST_CODECS],
    ['etcdserverpb.Watch', watchService(engine, header, auth && ((md, k, e) => auth.checkWatch(md, k, e)))],
    ['etcdserverpb.Lease', leaseService(engine, header)],
    ['etcdserverpb.Maintenance', maintenanceService(engine, header, snapshotExtras)],
    ['etcdserverpb.Cluster', clusterService(header, opts.clientUrls, member, cluster)],
    ['etcdserverpb.Auth', authService(engine, header, auth)],
    ['v3lockpb.Lock', lockService(engine, header)],
    ['v3electionpb.Election', electionService(engine, header)],
  ];
  return (server) => {
    for (const [name, impl, codecs] of services) {
      server.addService(etcdServiceDefinition(name, codecs), guard(name, impl));
    }
  };
}

/** The auth layer over the engine's aux buckets; undefined when the backend has none (Auth then answers UNIMPLEMENTED). */
function createAuth(engine: Engine, opts: EtcdAuthOptions = {}): EtcdAuth | undefined {
  const aux = capabilitiesOf(engine).aux;
  if (!aux) return undefined;
  const tokens = tokenProviderFrom(opts.token ?? 'simple', opts.tokenTtlSeconds ?? 300);
  let auth: EtcdAuth | undefined = undefined;
  const store = new AuthStore(aux, {
    bcryptCost: opts.bcryptCost,
    onInvalidate: (user) => auth?.tokens.invalidate(user),
  });
  auth = new EtcdAuth(store, tokens, engine);
  return auth;
}

export { DEFAULT_ETCD_IDENTITY, type EtcdIdentity } from './header';
