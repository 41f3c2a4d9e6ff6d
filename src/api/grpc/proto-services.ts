/**
 * Service definitions from statecar's own `.proto` files, loaded with the options every statecar handler expects
 * (camelCase fields, int64 as strings, defaults set, oneofs named).
 */
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import path from 'node:path';
import { protoRoot } from './proto-path';

/** The definition of service `dotted` (e.g. `dapr.proto.runtime.v1.Dapr`) declared in `file` under proto/. */
export function loadServiceDefinition(file: string, dotted: string): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(file, {
    includeDirs: [protoRoot()],
    keepCase: false,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  // The method map itself, which grpc-js's loadPackageDefinition would hang on a client class as `.service`.
  const service = def[dotted] as grpc.ServiceDefinition | undefined;
  if (!service || !('path' in (Object.values(service)[0] ?? {}))) {
    throw new Error(`service ${dotted} not found in ${file}`);
  }
  return service;
}

/**
 * The types declared in `file` under proto/ (and what it imports) as protobufjs types with the proto's own field
 * names, for the request checks of wire/checked-decode.ts, which name a bad field as the .proto does.
 */
export function loadProtoTypes(file: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(protoRoot(), target);
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}
