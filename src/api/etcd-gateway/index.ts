/**
 * etcd's JSON gateway (HTTP/1.1) for a port that also serves the etcd gRPC API: built from the same registrar, so
 * it calls the same handlers. See gateway.ts, and docs/etcd-gateway.md for the rules it follows.
 */
import type * as grpc from '@grpc/grpc-js';
import { EtcdGateway, type EtcdGatewayOptions } from './gateway';
import { registryOf } from './method-registry';

/** Options of {@link createEtcdGateway}: the gateway's, less the registry it builds itself. */
export type EtcdGatewayConfig = Omit<EtcdGatewayOptions, 'registry'>;

/** A gateway serving every service `register` adds to a gRPC server. */
export function createEtcdGateway(
  register: (server: grpc.Server) => void,
  config: EtcdGatewayConfig,
): EtcdGateway {
  return new EtcdGateway({ ...config, registry: registryOf(register) });
}

export { EtcdGateway, type EtcdGatewayOptions } from './gateway';
