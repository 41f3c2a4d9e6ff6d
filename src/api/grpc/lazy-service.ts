/**
 * A service whose definition and handlers are built on the first call of one of its methods.
 *
 * Some services every gRPC port serves are called rarely or never (server reflection, grpc.health.v1), and the
 * packages behind them load grpc-js, proto-loader and protobufjs and parse their own `.proto` files when they are
 * required — ~15 MB of a sidecar's memory at rest for calls most sidecars never get (docs/performance.md,
 * issue 17). Registering such a service needs only its methods' paths and call shapes, which are fixed by the
 * protocol; everything else (the codecs, the handlers, the message types reflection and the etcd gateway read) is
 * asked of the real definition, built by `load` the first time anything needs it.
 */
import type {
  MethodDefinition,
  ServiceDefinition,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';

/** What the server needs to know of a method before its service is loaded. */
export interface MethodShape {
  /** The definition key (proto-loader's: the method's name as in the .proto). */
  readonly name: string;
  /** The implementation key the handlers are registered under (proto-loader's camelCase `originalName`). */
  readonly originalName: string;
  /** `/package.Service/Method`. */
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** A loaded service: its definition and its implementation, as `addService` takes them. */
export interface LoadedService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/**
 * A service definition for `shapes` whose codecs and message types are those of the definition `load` returns,
 * calling `load` once, on first use. The real definition must have the same method keys, paths and shapes.
 */
export function lazyDefinition(
  shapes: readonly MethodShape[],
  load: () => ServiceDefinition,
): ServiceDefinition {
  let loaded: ServiceDefinition | undefined;
  const method = (name: string): MethodDefinition<unknown, unknown> => {
    loaded ??= load();
    const def = loaded[name] as MethodDefinition<unknown, unknown> | undefined;
    if (!def) throw new Error(`lazily loaded service has no method ${name}`);
    return def;
  };
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const shape of shapes) {
    const { name } = shape;
    // Every message of a method passes through these codecs: its real definition is looked up once.
    let real: MethodDefinition<unknown, unknown> | undefined;
    const own = (): MethodDefinition<unknown, unknown> => (real ??= method(name));
    const def = {
      path: shape.path,
      originalName: shape.originalName,
      requestStream: shape.requestStream,
      responseStream: shape.responseStream,
      requestSerialize: (value: unknown) => own().requestSerialize(value),
      requestDeserialize: (bytes: Buffer) => own().requestDeserialize(bytes),
      responseSerialize: (value: unknown) => own().responseSerialize(value),
      responseDeserialize: (bytes: Buffer) => own().responseDeserialize(bytes),
    };
    // proto-loader's message types (with their file descriptors), for reflection and the etcd gateway.
    for (const key of ['requestType', 'responseType'] as const) {
      Object.defineProperty(def, key, {
        enumerable: true,
        get: () => (own() as unknown as Record<string, unknown>)[key],
      });
    }
    definition[name] = def as MethodDefinition<unknown, unknown>;
  }
  return definition as ServiceDefinition;
}

/**
 * A definition and implementation for `shapes` that delegate to what `load` returns, calling `load` once, on first
 * use. The real definition must have the same method keys, paths and shapes.
 */
export function lazyService(shapes: readonly MethodShape[], load: () => LoadedService): LoadedService {
  let loaded: LoadedService | undefined;
  const real = (): LoadedService => (loaded ??= load());
  const definition = lazyDefinition(shapes, () => real().definition);
  const implementation: UntypedServiceImplementation = {};
  for (const { name, originalName } of shapes) {
    implementation[originalName] = ((call: unknown, callback: unknown) => {
      const impl = real().implementation;
      const handler = (impl[originalName] ?? impl[name]) as unknown as (a: unknown, b: unknown) => void;
      handler(call, callback);
    }) as UntypedHandleCall;
  }
  return { definition, implementation };
}

/** The one service `register` adds to a server, captured (for packages that only offer `addToServer`). */
export function captureService(
  register: (server: { addService(d: ServiceDefinition, i: UntypedServiceImplementation): void }) => void,
): LoadedService[] {
  const out: LoadedService[] = [];
  register({ addService: (definition, implementation) => out.push({ definition, implementation }) });
  return out;
}
