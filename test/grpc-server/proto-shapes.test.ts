/**
 * The method shapes statecar registers before parsing a proto (src/api/grpc/proto-shapes.ts and the lazily loaded
 * health and reflection services) are exactly what proto-loader makes of the same files — names, paths, streaming
 * and `originalName` — and a lazy definition answers with the real definition's codecs and message types.
 */
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { daprServiceDefinition, fastDaprServiceDefinition } from '../../src/api/grpc/server';
import { etcdPackageDefinition, etcdProtoDir, etcdServiceDefinition } from '../../src/api/grpc/etcd/proto';
import { protoRoot } from '../../src/api/grpc/proto-path';
import { serviceShapes } from '../../src/api/grpc/proto-shapes';
import { statecarListService } from '../../src/api/grpc/statecar-service';
import { GrpcHealth } from '../../src/api/grpc/health-service';
import { addReflection } from '../../src/api/grpc/reflection';
import { GrpcServer } from '../../src/api/grpc/server/grpc-server';

type Def = Record<string, protoLoader.MethodDefinition<object, object>>;

/** What a server reads of each method at registration. */
function shapesOf(def: object): object[] {
  return Object.entries(def as Def).map(([name, m]) => ({
    name,
    path: m.path,
    originalName: m.originalName,
    requestStream: m.requestStream,
    responseStream: m.responseStream,
  }));
}

const ETCD_SERVICES: [string, string][] = [
  ['etcdserverpb.KV', 'etcdserverpb/rpc.proto'],
  ['etcdserverpb.Watch', 'etcdserverpb/rpc.proto'],
  ['etcdserverpb.Lease', 'etcdserverpb/rpc.proto'],
  ['etcdserverpb.Cluster', 'etcdserverpb/rpc.proto'],
  ['etcdserverpb.Maintenance', 'etcdserverpb/rpc.proto'],
  ['etcdserverpb.Auth', 'etcdserverpb/rpc.proto'],
  ['v3lockpb.Lock', 'v3lockpb/v3lock.proto'],
  ['v3electionpb.Election', 'v3electionpb/v3election.proto'],
];

test('the Dapr and StateList services: shapes from the text equal proto-loader’s', () => {
  const dapr = daprServiceDefinition();
  expect(shapesOf(fastDaprServiceDefinition())).toEqual(shapesOf(dapr));
  expect(
    serviceShapes(path.join(protoRoot(), 'dapr/proto/runtime/v1/dapr.proto'), 'dapr.proto.runtime.v1.Dapr'),
  ).toEqual(shapesOf(dapr));
  const list = protoLoader.loadSync('statecar/v1alpha1/state_list.proto', { includeDirs: [protoRoot()] })[
    'statecar.v1alpha1.StateList'
  ];
  expect(shapesOf(statecarListService.definition())).toEqual(shapesOf(list));
});

test.each(ETCD_SERVICES)('%s: shapes from the text equal proto-loader’s', (name, file) => {
  const loaded = etcdPackageDefinition()[name];
  expect(serviceShapes(path.join(etcdProtoDir(), file), name)).toEqual(shapesOf(loaded));
  expect(shapesOf(etcdServiceDefinition(name))).toEqual(shapesOf(loaded));
});

test('a lazy definition has the real codecs and message types', () => {
  const lazy = etcdServiceDefinition('etcdserverpb.KV') as unknown as Def;
  const real = etcdPackageDefinition()['etcdserverpb.KV'] as Def;
  const request = { key: Buffer.from('k'), range_end: Buffer.from('l'), limit: '3' };
  const bytes = real.Range.requestSerialize(request);
  expect(lazy.Range.requestSerialize(request)).toEqual(bytes);
  expect(lazy.Range.requestDeserialize(bytes)).toMatchObject({ key: Buffer.from('k'), limit: '3' });
  expect(lazy.Range.requestType).toBe(real.Range.requestType);
  expect(lazy.Range.responseType.fileDescriptorProtos).toBe(real.Range.responseType.fileDescriptorProtos);
});

test('health and reflection register the shapes of their packages', () => {
  const server = new GrpcServer();
  new GrpcHealth(() => ({ ready: true })).registrar(server);
  addReflection(server);
  const services = server.services();
  expect(shapesOf(services.get('grpc.health.v1.Health')!)).toEqual(shapesOf(healthService));
  for (const version of ['v1', 'v1alpha']) {
    const file = path.join(
      path.dirname(require.resolve('@grpc/reflection/package.json')),
      'build/proto/grpc/reflection',
      version,
      'reflection.proto',
    );
    const name = `grpc.reflection.${version}.ServerReflection`;
    expect(shapesOf(services.get(name)!)).toEqual(shapesOf(protoLoader.loadSync(file)[name]));
  }
});
