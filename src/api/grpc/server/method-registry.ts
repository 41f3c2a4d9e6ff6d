/**
 * The table of served methods, filled from grpc-js service definitions and grpc-js-style implementations exactly as
 * `grpc.Server.addService` takes them: each method is looked up in the implementation by its definition key, then by
 * its `originalName`; the kind (unary, client-, server- or bidi streaming) comes from `requestStream` /
 * `responseStream`.
 */
import type { ServiceDefinition, UntypedHandleCall, UntypedServiceImplementation } from '@grpc/grpc-js';

/** The four call shapes. */
export type HandlerKind = 'unary' | 'clientStream' | 'serverStream' | 'bidi';

/** One servable method. */
export interface RegisteredMethod {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** `package.Service`. */
  readonly service: string;
  readonly kind: HandlerKind;
  /** The handler; undefined when the definition has the method but the implementation does not (UNIMPLEMENTED). */
  readonly func: UntypedHandleCall | undefined;
  readonly serialize: (value: unknown) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
}

/** `/pkg.Svc/Method` split into service and method name, or undefined when malformed. */
export function splitPath(path: string): { service: string; method: string } | undefined {
  if (path.charCodeAt(0) !== 47 /* / */) return undefined;
  const at = path.lastIndexOf('/');
  if (at <= 0) return undefined;
  return { service: path.slice(1, at), method: path.slice(at + 1) };
}

/** Methods by path. */
export class MethodRegistry {
  private readonly methods = new Map<string, RegisteredMethod>();
  private readonly services = new Map<string, ServiceDefinition>();

  /** The method served at `path`. */
  get(path: string): RegisteredMethod | undefined {
    return this.methods.get(path);
  }

  /** True when some method of `service` (`pkg.Svc`) is registered. */
  hasService(service: string): boolean {
    return this.services.has(service);
  }

  /** Every registered service definition, by full name (what reflection describes). */
  serviceDefinitions(): ReadonlyMap<string, ServiceDefinition> {
    return this.services;
  }

  /** Register a service; throws on an empty definition or a path registered twice (as grpc-js does). */
  add(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    const names = Object.keys(service);
    if (names.length === 0) throw new Error('Cannot add an empty service to a server');
    for (const name of names) {
      const def = service[name];
      const split = splitPath(def.path);
      if (!split) throw new Error(`malformed method path ${JSON.stringify(def.path)}`);
      if (this.methods.has(def.path)) throw new Error(`Method handler for ${def.path} already provided.`);
      const func =
        implementation[name] ??
        (def.originalName !== undefined ? implementation[def.originalName] : undefined);
      const kind: HandlerKind = def.requestStream
        ? def.responseStream
          ? 'bidi'
          : 'clientStream'
        : def.responseStream
          ? 'serverStream'
          : 'unary';
      this.methods.set(def.path, {
        path: def.path,
        service: split.service,
        kind,
        func,
        serialize: def.responseSerialize as (value: unknown) => Buffer,
        deserialize: def.requestDeserialize as (bytes: Buffer) => unknown,
      });
      this.services.set(split.service, service);
    }
  }
}
