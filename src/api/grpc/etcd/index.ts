import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { clusterService } from './cluster-service';
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
  const header = new ResponseHeaderFactory({ ...DEFAULT_ETCD_IDENTITY, ...opts.identity });
  const maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  return (server) => {
    server.addService(
      etcdServiceDefinition('etcdserverpb.KV', KV_FAST_CODECS),
      kvService(engine, header, maxRequestBytes),
    );
    server.addService(etcdServiceDefinition('etcdserverpb.Watch'), watchService(engine, header));
    server.addService(etcdServiceDefinition('etcdserverpb.Lease'), leaseService(engine, header));
    server.addService(etcdServiceDefinition('etcdserverpb.Maintenance'), maintenanceService(engine, header));
    server.addService(etcdServiceDefinition('etcdserverpb.Cluster'), clusterService(header, opts.clientUrls));
    server.addService(etcdServiceDefinition('v3lockpb.Lock'), lockService(engine, header));
    server.addService(etcdServiceDefinition('v3electionpb.Election'), electionService(engine, header));
  };
}

export { DEFAULT_ETCD_IDENTITY, type EtcdIdentity } from './header';
