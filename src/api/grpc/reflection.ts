/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, from `@grpc/reflection`), so `grpcurl list` and
 * `grpcurl describe` work against statecar. It describes exactly the services registered on the server when it is
 * added, from the file descriptors proto-loader keeps on every message type of their definitions.
 *
 * `@grpc/reflection` (with grpc-js and its own parsed protos) is loaded on the first reflection call, not at start
 * (./lazy-service.ts): few sidecars are ever asked.
 */
import type * as protoLoader from '@grpc/proto-loader';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type * as reflectionPackage from '@grpc/reflection';
import { captureService, lazyService, type LoadedService, type MethodShape } from './lazy-service';
import type { GrpcServer } from './server/grpc-server';

/** The reflection services' one method, in both versions of the protocol. */
const REFLECTION_METHODS = (['v1', 'v1alpha'] as const).map((version): MethodShape => ({
  name: 'ServerReflectionInfo',
  originalName: 'serverReflectionInfo',
  path: `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
  requestStream: true,
  responseStream: true,
}));

/** Add reflection over every service registered on `server` so far; call it after the other services. */
export function addReflection(server: GrpcServer): void {
  const described: [string, ServiceDefinition][] = [...server.services()];
  let loaded: LoadedService[] | undefined;
  // One ReflectionService answers both versions; registered in the order @grpc/reflection adds them.
  const load = (): LoadedService[] => (loaded ??= loadReflection(described));
  REFLECTION_METHODS.forEach((shape, i) => {
    const { definition, implementation } = lazyService([shape], () => load()[i]);
    server.addService(definition, implementation);
  });
}

function loadReflection(described: [string, ServiceDefinition][]): LoadedService[] {
  const pkg: protoLoader.PackageDefinition = {};
  const names: string[] = [];
  let n = 0;
  for (const [name, service] of described) {
    names.push(name);
    for (const method of Object.values(service) as Partial<protoLoader.MethodDefinition<object, object>>[]) {
      // reflection reads only `fileDescriptorProtos` from the entries; the keys do not matter.
      if (method.requestType) pkg[`${name}#${n++}`] = method.requestType;
      if (method.responseType) pkg[`${name}#${n++}`] = method.responseType;
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on the first reflection call (see above)
  const { ReflectionService } = require('@grpc/reflection') as typeof reflectionPackage;
  const services = captureService((s) => new ReflectionService(pkg, { services: names }).addToServer(s));
  // v1, then v1alpha (ReflectionService.addToServer's order), matching REFLECTION_METHODS.
  return services;
}
