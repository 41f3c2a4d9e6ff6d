/**
 * The one mapping from the engine's protocol-neutral {@link StatusKind} to gRPC status codes and HTTP statuses.
 *
 * Both API layers (the Dapr API and the etcd API) translate engine failures through this table, so an engine error
 * surfaces with the same meaning on every protocol.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { StatusKind } from '../engine/errors';

interface StatusMapping {
  readonly grpc: GrpcStatus;
  readonly http: number;
}

/** StatusKind → gRPC code and HTTP status (per google.rpc's documented HTTP mapping). */
export const STATUS_MAP: Readonly<Record<StatusKind, StatusMapping>> = {
  INVALID_ARGUMENT: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, http: 404 },
  FAILED_PRECONDITION: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 400 },
  OUT_OF_RANGE: { grpc: GrpcStatus.OUT_OF_RANGE, http: 400 },
  RESOURCE_EXHAUSTED: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429 },
  UNAVAILABLE: { grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  INTERNAL: { grpc: GrpcStatus.INTERNAL, http: 500 },
};

/** The gRPC status code for an engine status kind. */
export function grpcCodeOf(kind: StatusKind): GrpcStatus {
  return STATUS_MAP[kind].grpc;
}

/** The HTTP status for an engine status kind. */
export function httpStatusOf(kind: StatusKind): number {
  return STATUS_MAP[kind].http;
}
