/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, from `@grpc/reflection`), so `grpcurl list` and
 * `grpcurl describe` work against statecar. It describes exactly the services registered on the server when it is
 * added, from the file descriptors proto-loader keeps on every message type of their definitions.
 */
import type * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { GrpcServer } from './server/grpc-server';

/** Add reflection over every service registered on `server` so far; call it after the other services. */
export function addReflection(server: GrpcServer): void {
  const pkg: protoLoader.PackageDefinition = {};
  const names: string[] = [];
  let n = 0;
  for (const [name, service] of server.services()) {
    names.push(name);
    for (const method of Object.values(service) as Partial<protoLoader.MethodDefinition<object, object>>[]) {
      // reflection reads only `fileDescriptorProtos` from the entries; the keys do not matter.
      if (method.requestType) pkg[`${name}#${n++}`] = method.requestType;
      if (method.responseType) pkg[`${name}#${n++}`] = method.responseType;
    }
  }
  new ReflectionService(pkg, { services: names }).addToServer(server);
}
