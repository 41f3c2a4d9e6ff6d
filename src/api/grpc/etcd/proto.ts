import path from 'node:path';
import type * as protoLoader from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';
import { lazyDefinition } from '../lazy-service';
import { serviceShapes } from '../proto-shapes';
import { protoRoot } from '../proto-path';
import { withFastCodecs, withOverrides, type FastCodec, type MethodMap } from '../wire/fast-codecs';

/**
 * Loading of statecar's etcd `.proto` files (under `proto/etcd/`).
 *
 * The loader options are the lossless ones etcd3 npm also uses: 64-bit integers as decimal strings (lease, cluster
 * and member IDs use the full int64/uint64 range), enums by name, defaults filled in, the active oneof member
 * named. The codec (`codec.ts`) turns the strings into numbers/bigints for the engine.
 */

/** Options for @grpc/proto-loader; shared with the test client so both sides decode the same way. */
export const ETCD_PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The proto files statecar serves, relative to {@link etcdProtoDir}. */
export const ETCD_PROTO_FILES = [
  'etcdserverpb/rpc.proto',
  'mvccpb/kv.proto',
  'authpb/auth.proto',
  'v3lockpb/v3lock.proto',
  'v3electionpb/v3election.proto',
];

/** Directory holding `etcdserverpb/`, `mvccpb/`, ...: `proto/etcd` under statecar's one proto root. */
export function etcdProtoDir(): string {
  return path.join(protoRoot(), 'etcd');
}

let cached: protoLoader.PackageDefinition | undefined;

/** The parsed package definition (parsed once per process). */
export function etcdPackageDefinition(): protoLoader.PackageDefinition {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded with the first parse (see below)
  cached ??= (require('@grpc/proto-loader') as typeof protoLoader).loadSync(
    ETCD_PROTO_FILES.map((f) => path.join(etcdProtoDir(), f)),
    { ...ETCD_PROTO_LOADER_OPTIONS, includeDirs: [etcdProtoDir()] },
  );
  return cached;
}

/** Property under which the decoded request object carries its encoded size in bytes. */
export const WIRE_SIZE = Symbol('etcdWireSize');

/** Encoded size of a request decoded through {@link etcdServiceDefinition}; 0 if unknown. */
export function wireSize(request: object): number {
  return (request as { [WIRE_SIZE]?: number })[WIRE_SIZE] ?? 0;
}

/** The file (of {@link ETCD_PROTO_FILES}) declaring each served service. */
const SERVICE_FILES: Record<string, string> = {
  'etcdserverpb.KV': 'etcdserverpb/rpc.proto',
  'etcdserverpb.Watch': 'etcdserverpb/rpc.proto',
  'etcdserverpb.Lease': 'etcdserverpb/rpc.proto',
  'etcdserverpb.Cluster': 'etcdserverpb/rpc.proto',
  'etcdserverpb.Maintenance': 'etcdserverpb/rpc.proto',
  'etcdserverpb.Auth': 'etcdserverpb/rpc.proto',
  'v3lockpb.Lock': 'v3lockpb/v3lock.proto',
  'v3electionpb.Election': 'v3electionpb/v3election.proto',
};

/**
 * A service definition ready for `server.addService`, e.g. `etcdserverpb.KV`. The protos are parsed on the first
 * call the fast codecs do not answer (or the first look at the message types): registering the services reads only
 * their methods from the .proto text (../proto-shapes.ts). Request deserializers are wrapped
 * to remember the encoded size: etcd's 1.5 MiB `--max-request-bytes` check is on the encoded request, which the
 * handler cannot otherwise see.
 * @param fastCodecs hand-written codecs for hot methods, tried before proto-loader's (see wire/fast-codecs.ts).
 */
export function etcdServiceDefinition(
  fullName: string,
  fastCodecs: Record<string, FastCodec> = {},
): grpc.ServiceDefinition {
  const file = SERVICE_FILES[fullName];
  if (!file) throw new Error(`service ${fullName} not in proto/etcd`);
  const def = lazyDefinition(serviceShapes(path.join(etcdProtoDir(), file), fullName), () => {
    const loaded = etcdPackageDefinition()[fullName] as grpc.ServiceDefinition | undefined;
    if (!loaded) throw new Error(`service ${fullName} not in proto/etcd`);
    return loaded;
  }) as MethodMap;
  const wrapped: MethodMap = {};
  for (const [name, method] of Object.entries(withFastCodecs(def, fastCodecs))) {
    const inner = method.requestDeserialize;
    wrapped[name] = withOverrides(method, {
      requestDeserialize: (buf: Buffer) => {
        const obj = inner(buf) as Record<symbol, number>;
        obj[WIRE_SIZE] = buf.length;
        return obj;
      },
    });
  }
  return wrapped as grpc.ServiceDefinition;
}
