/**
 * The message types of the methods a gRPC server serves, for mapping JSON to requests and answers to JSON: for each
 * method path, its request and response types (protobufjs, rebuilt from the file descriptors proto-loader keeps on
 * every method definition) and its own codecs (the request deserializer and response serializer the server uses,
 * fast codecs included). Read from the server's service definitions, so whatever service is registered on the port
 * has its routes with no gateway code.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import type * as descriptorExt from 'protobufjs/ext/descriptor';

/** How a method streams, as grpc-js classifies methods. */
export type StreamKind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

/** What the gateway needs of one method besides running it. */
export interface MethodTypes {
  readonly kind: StreamKind;
  readonly requestType: protobuf.Type;
  readonly responseType: protobuf.Type;
  /** The method's request deserializer (the bytes a gRPC client would send → the handler's request object). */
  readonly deserialize: (bytes: Buffer) => unknown;
  /** The method's response serializer (the handler's answer → its bytes on the wire). */
  readonly serialize: (value: unknown) => Buffer;
}

/** protobufjs's descriptor extension adds `Root.fromDescriptor`, which its typings do not declare. */
interface RootWithDescriptors {
  fromDescriptor(set: protobuf.Message): protobuf.Root;
}

/**
 * protobufjs's descriptor extension, loaded by the gateway's first request: requiring it (and protobufjs) builds
 * descriptor.proto's types, memory a sidecar whose gateway is never used would hold for nothing. Loading it is also
 * what adds `Root.fromDescriptor`.
 */
function descriptorTypes(): typeof descriptorExt {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see above)
  return require('protobufjs/ext/descriptor') as typeof descriptorExt;
}

/** Method types by path, looked up in the server's service definitions on first use. */
export class ServedMethodTypes {
  private readonly byPath = new Map<string, MethodTypes | null>();
  private readonly roots = new Map<string, protobuf.Root | null>();

  constructor(private readonly services: () => ReadonlyMap<string, ServiceDefinition>) {}

  /** The types of the method at `/pkg.Service/Method`, or undefined when the server does not serve it. */
  get(path: string): MethodTypes | undefined {
    let types = this.byPath.get(path);
    if (types === undefined) {
      types = this.resolve(path) ?? null;
      this.byPath.set(path, types);
    }
    return types ?? undefined;
  }

  private resolve(path: string): MethodTypes | undefined {
    const [, serviceName, methodName] = path.split('/');
    const service = this.services().get(serviceName);
    if (!service) return undefined;
    const def = Object.values(service as Record<string, MethodDefinition<unknown, unknown>>).find(
      (d) => d.path === path,
    );
    if (!def) return undefined;
    const method = this.rootOf(serviceName, def)?.lookupService(serviceName).methods[methodName];
    if (!method) return undefined;
    method.resolve();
    return {
      kind: def.requestStream
        ? def.responseStream
          ? 'bidi'
          : 'clientStream'
        : def.responseStream
          ? 'serverStream'
          : 'unary',
      requestType: method.resolvedRequestType!,
      responseType: method.resolvedResponseType!,
      deserialize: def.requestDeserialize as (bytes: Buffer) => unknown,
      serialize: def.responseSerialize as (value: unknown) => Buffer,
    };
  }

  /** The types of a service's files, from the serialized FileDescriptorProtos on one of its methods. */
  private rootOf(serviceName: string, def: MethodDefinition<unknown, unknown>): protobuf.Root | undefined {
    let root = this.roots.get(serviceName);
    if (root === undefined) {
      const files = (def as { requestType?: { fileDescriptorProtos?: Buffer[] } }).requestType
        ?.fileDescriptorProtos;
      root = null;
      if (files) {
        const descriptor = descriptorTypes();
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded with the extension (see above)
        const Root = (require('protobufjs') as typeof protobuf).Root as unknown as RootWithDescriptors;
        root = Root.fromDescriptor(
          descriptor.FileDescriptorSet.fromObject({
            file: files.map((b) => descriptor.FileDescriptorProto.decode(b)),
          }),
        );
        root.resolveAll();
      }
      this.roots.set(serviceName, root);
    }
    return root ?? undefined;
  }
}
