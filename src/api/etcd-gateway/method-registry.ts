/**
 * The methods the gateway can call: whatever services a registrar adds to a gRPC server, recorded once with their
 * grpc-js-style implementations and the protobufjs types of their messages (rebuilt from the file descriptors
 * proto-loader attaches to each method). The gateway therefore serves exactly what the gRPC port serves, through
 * the same handlers, and a service registered later needs no gateway code.
 */
import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';

/** How a method streams, as grpc-js classifies handlers. */
export type MethodKind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

/** One callable method. */
export interface RegisteredMethod {
  /** `/etcdserverpb.KV/Range`. */
  readonly path: string;
  readonly kind: MethodKind;
  /** The definition the gRPC server uses (its request deserializer and response serializer, fast codecs too). */
  readonly definition: grpc.MethodDefinition<object, object>;
  readonly handler: grpc.UntypedHandleCall;
  readonly requestType: protobuf.Type;
  readonly responseType: protobuf.Type;
}

/** The part of a gRPC server a registrar uses. */
export interface ServiceSink {
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void;
}

/** Services registered so far, by method path. */
export class MethodRegistry implements ServiceSink {
  private readonly methods = new Map<string, RegisteredMethod>();
  private readonly services = new Set<string>();

  /** Record a service as `grpc.Server.addService` would serve it. */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    const defs = Object.entries(service as Record<string, grpc.MethodDefinition<object, object>>);
    if (defs.length === 0) return;
    const serviceName = defs[0][1].path.split('/')[1];
    const root = rootOf(defs[0][1]);
    const reflected = root?.lookupService(serviceName);
    this.services.add(serviceName);
    for (const [name, def] of defs) {
      const handler = implementation[name] ?? implementation[def.originalName ?? ''];
      const method = reflected?.methods[def.path.split('/')[2]];
      if (!handler || !method) continue;
      method.resolve();
      const kind: MethodKind = def.requestStream
        ? def.responseStream
          ? 'bidi'
          : 'clientStream'
        : def.responseStream
          ? 'serverStream'
          : 'unary';
      this.methods.set(def.path, {
        path: def.path,
        kind,
        definition: def,
        handler,
        requestType: method.resolvedRequestType!,
        responseType: method.resolvedResponseType!,
      });
    }
  }

  /** The method at `path`, if registered. */
  get(path: string): RegisteredMethod | undefined {
    return this.methods.get(path);
  }

  /** Whether any method of the service (`etcdserverpb.KV`) is registered. */
  hasService(serviceName: string): boolean {
    return this.services.has(serviceName);
  }
}

/** Build a registry from a registrar written for a gRPC server (it only calls `addService`). */
export function registryOf(register: (server: grpc.Server) => void): MethodRegistry {
  const registry = new MethodRegistry();
  register(registry as unknown as grpc.Server);
  return registry;
}

/** protobufjs's descriptor extension adds `Root.fromDescriptor`, which its typings do not declare. */
const RootWithDescriptors = protobuf.Root as unknown as {
  fromDescriptor(set: protobuf.Message): protobuf.Root;
};

const roots = new WeakMap<object, protobuf.Root>();

/** The types of a method's files, from the serialized FileDescriptorProtos proto-loader keeps on the method. */
function rootOf(def: grpc.MethodDefinition<object, object>): protobuf.Root | undefined {
  const files = (def as { requestType?: { fileDescriptorProtos?: Buffer[] } }).requestType
    ?.fileDescriptorProtos;
  if (!files) return undefined;
  let root = roots.get(files);
  if (!root) {
    const set = descriptor.FileDescriptorSet.fromObject({
      file: files.map((b) => descriptor.FileDescriptorProto.decode(b)),
    });
    root = RootWithDescriptors.fromDescriptor(set);
    root.resolveAll();
    roots.set(files, root);
  }
  return root;
}
