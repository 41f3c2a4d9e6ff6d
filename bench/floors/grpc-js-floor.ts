import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoRoot } from '../../src/api/grpc/proto-path';
import { grpcServerOptions } from '../../src/api/grpc/server';
import { announceReady, exitOnSigterm, floorValue } from './floor-ready';

/**
 * Floor: a do-nothing grpc-js server for statecar's Dapr protos, written the way grpc-js's own examples write one:
 * the service loaded with proto-loader (keepCase false, longs as strings, defaults, oneofs), statecar's 4 MiB message
 * limits. GetState answers a fixed response without looking at storage, so what is left is the cost of grpc-js plus
 * proto-loader's (de)serialisation. It deliberately does not use statecar's own service definition: codecs statecar
 * tunes for its hot methods would otherwise move the reference along with the thing measured against it.
 * Usage: node dist/bench/floors/grpc-js-floor.js [value]
 */
function daprService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync('dapr/proto/runtime/v1/dapr.proto', {
    includeDirs: [protoRoot()],
    keepCase: false,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    dapr: { proto: { runtime: { v1: { Dapr: { service: grpc.ServiceDefinition } } } } };
  };
  return pkg.dapr.proto.runtime.v1.Dapr.service;
}

function main(): void {
  const value = floorValue();
  const server = new grpc.Server(grpcServerOptions(4 * 1024 * 1024));
  server.addService(daprService(), {
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
