/**
 * Service definitions from statecar's own `.proto` files, loaded with the options every statecar handler expects
 * (camelCase fields, int64 as strings, defaults set, oneofs named).
 *
 * proto-loader and protobufjs are loaded with the first definition that is (a server registers lazy ones, see
 * {@link lazyServiceDefinition}).
 */
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoaderTypes from '@grpc/proto-loader';
import type protobufTypes from 'protobufjs';
import path from 'node:path';
import { lazyDefinition } from './lazy-service';
import { serviceShapes } from './proto-shapes';
import { protoRoot } from './proto-path';

/* eslint-disable @typescript-eslint/no-require-imports -- loaded with the first parsed proto (see above) */
const protoLoader = (): typeof protoLoaderTypes => require('@grpc/proto-loader') as typeof protoLoaderTypes;
const protobuf = (): typeof protobufTypes => require('protobufjs') as typeof protobufTypes;
/* eslint-enable @typescript-eslint/no-require-imports */

/** The definition of service `dotted` (e.g. `dapr.proto.runtime.v1.Dapr`) declared in `file` under proto/. */
export function loadServiceDefinition(file: string, dotted: string): grpc.ServiceDefinition {
  const def = protoLoader().loadSync(file, {
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
 * {@link loadServiceDefinition}'s definition with the file parsed on first use: registering it reads only the
 * methods' names and shapes from the .proto text (./proto-shapes.ts); the first call of any method (or a look at
 * its message types) parses the file.
 */
export function lazyServiceDefinition(
  file: string,
  dotted: string,
  load: () => grpc.ServiceDefinition = () => loadServiceDefinition(file, dotted),
): grpc.ServiceDefinition {
  return lazyDefinition(serviceShapes(path.join(protoRoot(), file), dotted), load);
}

/**
 * The types declared in `file` under proto/ (and what it imports) as protobufjs types with the proto's own field
 * names, for the request checks of wire/checked-decode.ts, which name a bad field as the .proto does.
 */
export function loadProtoTypes(file: string): protobufTypes.Root {
  const root = new (protobuf().Root)();
  root.resolvePath = (_origin, target) => path.join(protoRoot(), target);
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}
