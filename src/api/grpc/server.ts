/**
 * The gRPC servers: the Dapr service and statecar's List service from statecar's own protos, plus any extra
 * services (e.g. the etcd API), served by statecar's own server on `node:http2` (./server/, docs/grpc-server.md).
 * Message sizes are capped at `--max-body-size` in both directions, as daprd does, and with DAPR_API_TOKEN every
 * call on the port needs the token. Server reflection is added last, over whatever services were registered.
 */
import type * as grpc from '@grpc/grpc-js';
import type { DaprApiContext } from '../api-context';
import { apiTokenLayer } from './auth-interceptor';
import { daprServiceImplementation } from './dapr-service';
import { DAPR_FAST_CODECS } from './dapr-fast-codec';
import { DEFAULT_MAX_REQUEST_BYTES } from './etcd';
import { lazyServiceDefinition, loadProtoTypes, loadServiceDefinition } from './proto-services';
import { addReflection } from './reflection';
import type { CallLayer } from './server/call-layer';
import { GrpcServer, type GrpcServerOptions } from './server/grpc-server';
import { statecarListService } from './statecar-service';
import { withCheckedDecode } from './wire/checked-decode';
import { withFastCodecs, type MethodMap } from './wire/fast-codecs';

/** Anything services can be added to: statecar's server, or a grpc-js `Server`. */
export type ServiceRegistrar = Pick<grpc.Server, 'addService'>;

/** Adds a service to the server. */
export type GrpcRegistrar = (server: ServiceRegistrar) => void;

const DAPR_PROTO = 'dapr/proto/runtime/v1/dapr.proto';

let daprService: grpc.ServiceDefinition | undefined;

/** The `dapr.proto.runtime.v1.Dapr` service definition, loaded from proto/ once. */
export function daprServiceDefinition(): grpc.ServiceDefinition {
  daprService ??= loadServiceDefinition(DAPR_PROTO, 'dapr.proto.runtime.v1.Dapr');
  return daprService;
}

let fastDaprService: grpc.ServiceDefinition | undefined;

/**
 * The Dapr service definition statecar serves: {@link daprServiceDefinition} whose deserializers reject invalid
 * UTF-8 in string fields and undecodable bytes in-band (wire/checked-decode.ts; the handlers answer them), with
 * hand-written codecs in front on the hot state methods (same objects and bytes, see dapr-fast-codec.ts). The plain
 * definition stays as it is for clients and for the benchmark's do-nothing floor, which measures proto-loader's
 * own cost. The proto is parsed on the first call the fast codecs do not answer (./proto-services.ts), its
 * protobufjs types on the first request that reaches the check.
 */
export function fastDaprServiceDefinition(): grpc.ServiceDefinition {
  let types: ReturnType<typeof loadProtoTypes> | undefined;
  fastDaprService ??= withFastCodecs(
    withCheckedDecode(
      lazyServiceDefinition(DAPR_PROTO, 'dapr.proto.runtime.v1.Dapr', daprServiceDefinition) as MethodMap,
      () => (types ??= loadProtoTypes(DAPR_PROTO)),
    ),
    DAPR_FAST_CODECS,
  ) as grpc.ServiceDefinition;
  return fastDaprService;
}

/**
 * grpc-js server options for a message-size limit, as statecar's Dapr port applies it. Only the benchmark's grpc-js
 * floor still runs a grpc-js server; channelz is off there too, as it records every call for nobody to read.
 */
export function grpcServerOptions(maxBytes: number): grpc.ServerOptions {
  return {
    'grpc.enable_channelz': 0,
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  };
}

/**
 * Options of the listener on `--etcd-port`, as etcd sets them: receive limit = max-request-bytes + 512 KiB (etcd:
 * v3rpc/grpc.go `grpcOverheadBytes`), so 2 MiB+ messages fail with RESOURCE_EXHAUSTED; send unlimited.
 */
export function etcdGrpcServerOptions(layers: CallLayer[] = []): GrpcServerOptions {
  return { maxReceiveMessageLength: DEFAULT_MAX_REQUEST_BYTES + 524_288, maxSendMessageLength: -1, layers };
}

/**
 * Build the Dapr gRPC server with the extra registrars (not yet listening). `layers` run before the token check, so
 * calls the check refuses are accounted too.
 */
export function createGrpcServer(
  ctx: DaprApiContext,
  registrars: GrpcRegistrar[] = [],
  layers: CallLayer[] = [],
): GrpcServer {
  const server = new GrpcServer({
    maxReceiveMessageLength: ctx.maxBodySize,
    maxSendMessageLength: ctx.maxBodySize,
    layers: [...layers, ...(ctx.apiToken !== undefined ? [apiTokenLayer(ctx.apiToken, ctx.appId)] : [])],
  });
  server.addService(fastDaprServiceDefinition(), daprServiceImplementation(ctx));
  server.addService(statecarListService.definition(), statecarListService.implementation(ctx));
  for (const register of registrars) register(server);
  addReflection(server);
  return server;
}

/** Listen on host:port; resolves with the bound port. */
export function bindGrpc(server: GrpcServer, host: string, port: number): Promise<number> {
  return server.listen(host, port);
}
