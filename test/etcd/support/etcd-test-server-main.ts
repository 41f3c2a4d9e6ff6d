/**
 * Body of the standalone test server (see `etcd-test-server.ts`): an in-memory engine served through
 * {@link etcdServiceRegistrar} on a gRPC port, as the sidecar would, and an HTTP port with no routes (the Dapr API,
 * the SSE watch included, needs the whole sidecar).
 * Prints `READY <grpcPort> <httpPort>` once listening. Test-only; the sidecar CLI is the real thing.
 */
import Fastify from 'fastify';
import { createEmbeddedEngine } from '../../../src/engine';
import { etcdServiceRegistrar } from '../../../src/api/grpc/etcd';
import { etcdGrpcServerOptions } from '../../../src/api/grpc/server';
import { GrpcServer } from '../../../src/api/grpc/server/grpc-server';

async function main(): Promise<void> {
  const grpcPort = Number(process.env.ETCD_TEST_GRPC_PORT ?? 0);
  const httpPort = Number(process.env.ETCD_TEST_HTTP_PORT ?? 0);
  const engine = await createEmbeddedEngine({});
  const server = new GrpcServer(etcdGrpcServerOptions());
  etcdServiceRegistrar(engine)(server);
  const boundGrpc = await server.listen('127.0.0.1', grpcPort);
  const app = Fastify();
  await app.listen({ port: httpPort, host: '127.0.0.1' });
  const addr = app.server.address();
  const boundHttp = typeof addr === 'object' && addr ? addr.port : httpPort;
  process.stdout.write(`READY ${boundGrpc} ${boundHttp}\n`);
  const stop = (): void => {
    server.forceShutdown();
    void app.close().then(() => engine.close().then(() => process.exit(0)));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
