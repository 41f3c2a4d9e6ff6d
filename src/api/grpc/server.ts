/**
 * The gRPC server: the Dapr service from statecar's own protos, plus any extra services (e.g. the etcd API)
 * registered by the caller. Message sizes are capped at `--max-body-size` in both directions, as daprd does, and
 * with DAPR_API_TOKEN every call on the port needs the token.
 */
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { DaprApiContext } from '../api-context';
import { apiTokenInterceptor } from './auth-interceptor';
import { authorityFront } from './authority-front';
import { daprServiceImplementation } from './dapr-service';
import { DAPR_FAST_CODECS } from './dapr-fast-codec';
import { protoRoot } from './proto-path';
import { withCheckedDecode } from './wire/checked-decode';
import { withFastCodecs, type MethodMap } from './wire/fast-codecs';

/** Adds a service to the server. */
export type GrpcRegistrar = (server: grpc.Server) => void;

interface ServiceCtor {
  service: grpc.ServiceDefinition;
}

const DAPR_PROTO = 'dapr/proto/runtime/v1/dapr.proto';

let daprService: grpc.ServiceDefinition | undefined;

/** The `dapr.proto.runtime.v1.Dapr` service definition, loaded from proto/ once. */
export function daprServiceDefinition(): grpc.ServiceDefinition {
  if (daprService) return daprService;
  const def = protoLoader.loadSync(DAPR_PROTO, {
    includeDirs: [protoRoot()],
    keepCase: false,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    dapr: { proto: { runtime: { v1: { Dapr: ServiceCtor } } } };
  };
  daprService = pkg.dapr.proto.runtime.v1.Dapr.service;
  return daprService;
}

let fastDaprService: grpc.ServiceDefinition | undefined;

/** The Dapr protos as protobufjs types (proto field names), for the request checks of checked-decode.ts. */
function daprProtoTypes(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(protoRoot(), target);
  root.loadSync(DAPR_PROTO, { keepCase: true });
  root.resolveAll();
  return root;
}

/**
 * The Dapr service definition statecar serves: {@link daprServiceDefinition} whose deserializers reject invalid
 * UTF-8 in string fields and undecodable bytes in-band (wire/checked-decode.ts; the handlers answer them), with
 * hand-written codecs in front on the hot state methods (same objects and bytes, see dapr-fast-codec.ts). The plain
 * definition stays as it is for clients and for the benchmark's do-nothing floor, which measures proto-loader's
 * own cost.
 */
export function fastDaprServiceDefinition(): grpc.ServiceDefinition {
  fastDaprService ??= withFastCodecs(
    withCheckedDecode(daprServiceDefinition() as MethodMap, daprProtoTypes()),
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
  for (const register of registrars) register(server);
  return server;
}

/** The front listeners of each server (see {@link bindGrpc}), closed when the server shuts down. */
const fronts = new WeakMap<grpc.Server, net.Server[]>();

/** Make `server`'s shutdown close its front listeners first (once per server). */
function closeFrontsOnShutdown(server: grpc.Server): net.Server[] {
  let list = fronts.get(server);
  if (list) return list;
  const own: net.Server[] = [];
  list = own;
  fronts.set(server, own);
  const closeAll = (): void => {
    for (const l of own.splice(0)) l.close();
  };
  const tryShutdown = server.tryShutdown.bind(server);
  const forceShutdown = server.forceShutdown.bind(server);
  server.tryShutdown = (callback) => {
    closeAll();
    tryShutdown(callback);
  };
  server.forceShutdown = () => {
    closeAll();
    forceShutdown();
  };
  return own;
}

/**
 * Listen on host:port for `server`; resolves with the bound port. The listener is statecar's own TCP server, whose
 * connections go through the authority front (authority-front.ts: a `:authority` that is a whole URL, which etcd
 * 3.4's client sends, is made `host:port`) into grpc-js's connection injector. `server.tryShutdown` and
 * `forceShutdown` close these listeners too.
 */
export async function bindGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer(authorityFront((connection) => injector.injectConnection(connection)));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(port, host, () => {
      listener.removeListener('error', reject);
      resolve();
    });
  });
  closeFrontsOnShutdown(server).push(listener);
  return (listener.address() as net.AddressInfo).port;
}
