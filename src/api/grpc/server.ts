/**
 * The gRPC server: the Dapr service and statecar's List service from statecar's own protos, plus any extra
 * services (e.g. the etcd API) registered by the caller. Message sizes are capped at `--max-body-size` in both directions, as daprd does, and
 * with DAPR_API_TOKEN every call on the port needs the token.
 */
import * as grpc from '@grpc/grpc-js';
import type { DaprApiContext } from '../api-context';
import { apiTokenInterceptor } from './auth-interceptor';
import { daprServiceImplementation } from './dapr-service';
import { DAPR_FAST_CODECS } from './dapr-fast-codec';
import { loadServiceDefinition } from './proto-services';
import { statecarListService } from './statecar-service';
import { withFastCodecs, type MethodMap } from './wire/fast-codecs';

/** Adds a service to the server. */
export type GrpcRegistrar = (server: grpc.Server) => void;

let daprService: grpc.ServiceDefinition | undefined;

/** The `dapr.proto.runtime.v1.Dapr` service definition, loaded from proto/ once. */
export function daprServiceDefinition(): grpc.ServiceDefinition {
  daprService ??= loadServiceDefinition('dapr/proto/runtime/v1/dapr.proto', 'dapr.proto.runtime.v1.Dapr');
  return daprService;
}

let fastDaprService: grpc.ServiceDefinition | undefined;

/**
 * The Dapr service definition statecar serves: {@link daprServiceDefinition} with hand-written codecs on the hot
 * state methods (same objects and bytes, see dapr-fast-codec.ts). The plain definition stays as it is for clients
 * and for the benchmark's do-nothing floor, which measures proto-loader's own cost.
 */
export function fastDaprServiceDefinition(): grpc.ServiceDefinition {
  fastDaprService ??= withFastCodecs(
    daprServiceDefinition() as MethodMap,
    DAPR_FAST_CODECS,
  ) as grpc.ServiceDefinition;
  return fastDaprService;
}

/**
 * Options every statecar gRPC server uses. Channelz is off: statecar serves no channelz service, and with it on
 * grpc-js records every call (counters, timestamps, trace events) on the hot path for nobody to read.
 */
export const GRPC_SERVER_BASE_OPTIONS: grpc.ServerOptions = { 'grpc.enable_channelz': 0 };

/** gRPC channel options for a message-size limit (plus {@link GRPC_SERVER_BASE_OPTIONS}). */
export function grpcServerOptions(maxBytes: number): grpc.ServerOptions {
  return {
    ...GRPC_SERVER_BASE_OPTIONS,
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  };
}

/**
 * Build a server with the Dapr service and the extra registrars (not yet bound). `options` are merged over the
 * size limits (e.g. `interceptors` for metrics).
 */
export function createGrpcServer(
  ctx: DaprApiContext,
  registrars: GrpcRegistrar[] = [],
  options: grpc.ServerOptions = {},
): grpc.Server {
  // The caller's interceptors (metrics, in-flight tracking) wrap the token check, so rejected calls count too.
  const interceptors = [
    ...(options.interceptors ?? []),
    ...(ctx.apiToken !== undefined ? [apiTokenInterceptor(ctx.apiToken, ctx.appId)] : []),
  ];
  const server = new grpc.Server({ ...grpcServerOptions(ctx.maxBodySize), ...options, interceptors });
  server.addService(fastDaprServiceDefinition(), daprServiceImplementation(ctx));
  server.addService(statecarListService.definition(), statecarListService.implementation(ctx));
  for (const register of registrars) register(server);
  return server;
}

/** Bind a server to host:port; resolves with the bound port. */
export function bindGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  // IPv6 literals need brackets in a gRPC target.
  const target = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
}
