/**
 * Server reflection on a running sidecar, spoken by a grpc-js client of the reflection protocol (what `grpcurl
 * list` and `grpcurl describe` send): both versions, on the Dapr gRPC port and on `--etcd-port`.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FileDescriptorProto } from 'protobufjs/ext/descriptor';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';

type Reflect = grpc.ClientDuplexStream<object, Record<string, unknown>>;
type ReflectionClient = grpc.Client & { ServerReflectionInfo(): Reflect };

function reflectionClient(version: 'v1' | 'v1alpha', port: number): ReflectionClient {
  const file = path.join(
    path.dirname(require.resolve('@grpc/reflection/package.json')),
    'build/proto/grpc/reflection',
    version,
    'reflection.proto',
  );
  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync(file, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    }),
  ) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  const Ctor = pkg.grpc.reflection[version].ServerReflection;
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as ReflectionClient;
}

/** One request, one response, on a fresh stream. */
function ask(client: ReflectionClient, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = client.ServerReflectionInfo();
    s.once('data', (m) => {
      resolve(m);
      s.end();
    });
    s.once('error', reject);
    s.write(request);
  });
}

/** The services of the file descriptors in a file_descriptor_response. */
function describedServices(res: Record<string, unknown>): Map<string, string[]> {
  const files = (res.file_descriptor_response as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
  const out = new Map<string, string[]>();
  for (const bin of files) {
    const fd = FileDescriptorProto.decode(bin) as unknown as {
      package: string;
      service: { name: string; method: { name: string }[] }[];
    };
    for (const svc of fd.service ?? [])
      out.set(
        `${fd.package}.${svc.name}`,
        svc.method.map((m) => m.name),
      );
  }
  return out;
}

let sidecar: Sidecar;

beforeAll(async () => {
  sidecar = await startSidecar({
    components: { 'statestore.yaml': stateComponent('statestore', 'state.in-memory') },
    etcdPort: true,
  });
});

afterAll(async () => {
  await sidecar?.stop();
});

test.each(['v1', 'v1alpha'] as const)(
  '%s: list services on the Dapr port, then describe Dapr',
  async (version) => {
    const c = reflectionClient(version, sidecar.grpcPort);
    try {
      const list = await ask(c, { list_services: '*' });
      const names = (list.list_services_response as { service: { name: string }[] }).service.map(
        (s) => s.name,
      );
      expect(names).toEqual(
        expect.arrayContaining(['dapr.proto.runtime.v1.Dapr', 'etcdserverpb.KV', 'etcdserverpb.Watch']),
      );

      const desc = await ask(c, { file_containing_symbol: 'dapr.proto.runtime.v1.Dapr' });
      const services = describedServices(desc);
      expect(services.get('dapr.proto.runtime.v1.Dapr')).toEqual(
        expect.arrayContaining(['GetState', 'SaveState']),
      );

      const missing = await ask(c, { file_containing_symbol: 'no.such.Symbol' });
      expect((missing.error_response as { error_code: number }).error_code).toBe(grpc.status.NOT_FOUND);
    } finally {
      c.close();
    }
  },
);

test('the etcd port describes the etcd services', async () => {
  const c = reflectionClient('v1', sidecar.etcdPort!);
  try {
    const list = await ask(c, { list_services: '*' });
    const names = (list.list_services_response as { service: { name: string }[] }).service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['etcdserverpb.KV', 'v3lockpb.Lock']));
    expect(names).not.toContain('dapr.proto.runtime.v1.Dapr');
    const desc = await ask(c, { file_containing_symbol: 'etcdserverpb.KV.Range' });
    expect(describedServices(desc).get('etcdserverpb.KV')).toEqual(
      expect.arrayContaining(['Range', 'Put', 'Txn']),
    );
  } finally {
    c.close();
  }
});
