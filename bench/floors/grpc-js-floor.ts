import * as grpc from '@grpc/grpc-js';
import { daprServiceDefinition, grpcServerOptions } from '../../src/api/grpc/server';
import { announceReady, exitOnSigterm, floorValue } from './floor-ready';

/**
 * Floor: a do-nothing grpc-js server with statecar's plain Dapr service definition (proto-loader's codecs, as
 * grpc-js's examples load a service; not `fastDaprServiceDefinition()`, whose tuned codecs would move the reference
 * along with the thing measured against it) and the same 4 MiB message limits. GetState answers a fixed response
 * without looking at storage, so what is left is the cost of grpc-js plus proto-loader's (de)serialisation.
 * Usage: node dist/bench/floors/grpc-js-floor.js [value]
 */
function main(): void {
  const value = floorValue();
  const server = new grpc.Server(grpcServerOptions(4 * 1024 * 1024));
  server.addService(daprServiceDefinition(), {
    GetState: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { data: value, etag: '1', metadata: {} }),
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    announceReady(port);
  });
  exitOnSigterm(() => server.forceShutdown());
}

main();
