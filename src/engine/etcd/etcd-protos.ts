import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * The etcd v3 client stubs of the etcd backend, built from the project's own `proto/etcd` files (the ones the etcd
 * API serves), with lossless loader options: 64-bit integers as decimal strings, enums by name, defaults filled in.
 */

/** Locate `proto/etcd` above this file, from the sources and from the built `dist/src/...` files alike. */
function etcdProtoDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'proto', 'etcd');
    if (fs.existsSync(path.join(candidate, 'etcdserverpb', 'rpc.proto'))) return candidate;
    if (path.dirname(dir) === dir)
      throw new Error(`statecar proto/etcd directory not found above ${__dirname}`);
  }
}

/** A grpc-js client constructor of one etcd service. */
export type EtcdServiceClient = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => grpc.Client;

/** The services the backend uses. */
export interface EtcdStubs {
  KV: EtcdServiceClient;
  Watch: EtcdServiceClient;
  Lease: EtcdServiceClient;
  Cluster: EtcdServiceClient;
  Maintenance: EtcdServiceClient;
}

let cached: EtcdStubs | undefined;

/** The stubs (the protos are parsed once per process). */
export function etcdStubs(): EtcdStubs {
  if (cached) return cached;
  const dir = etcdProtoDir();
  const def = protoLoader.loadSync([path.join(dir, 'etcdserverpb', 'rpc.proto')], {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [dir],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: EtcdStubs };
  const p = pkg.etcdserverpb;
  cached = { KV: p.KV, Watch: p.Watch, Lease: p.Lease, Cluster: p.Cluster, Maintenance: p.Maintenance };
  return cached;
}
