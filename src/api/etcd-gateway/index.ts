/**
 * etcd's JSON gateway (HTTP/1.1) for a port that also serves the etcd gRPC API: it runs the methods of that port's
 * gRPC server, so it calls the same handlers. See gateway.ts, and docs/etcd-gateway.md for the rules it follows.
 */
export { EtcdGateway, type EtcdGatewayOptions } from './gateway';
