/**
 * The one mapping from the engine's protocol-neutral {@link StatusKind} to gRPC status codes.
 *
 * The etcd API translates engine failures through this table (with etcd's texts, `grpc/etcd/errors.ts`). The Dapr
 * API does not: daprd reports every component failure with the operation's own code (`dapr-errors.ts`
 * `stateFailure`), and asks this table only whether an engine failure is the caller's fault.
 */
import { status as GrpcStatus } from './grpc/grpc-core';
import type { StatusKind } from '../engine/errors';

interface StatusMapping {
  readonly grpc: GrpcStatus;
  /** The failure is the request's fault (a client error), not the store's. */
  readonly clientError: boolean;
}

/** StatusKind → gRPC code, and whether it is a client error (per google.rpc's documented HTTP mapping: 4xx). */
export const STATUS_MAP: Readonly<Record<StatusKind, StatusMapping>> = {
  INVALID_ARGUMENT: { grpc: GrpcStatus.INVALID_ARGUMENT, clientError: true },
  NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, clientError: true },
  FAILED_PRECONDITION: { grpc: GrpcStatus.FAILED_PRECONDITION, clientError: true },
  OUT_OF_RANGE: { grpc: GrpcStatus.OUT_OF_RANGE, clientError: true },
  RESOURCE_EXHAUSTED: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, clientError: false },
  UNAVAILABLE: { grpc: GrpcStatus.UNAVAILABLE, clientError: false },
  INTERNAL: { grpc: GrpcStatus.INTERNAL, clientError: false },
};

/** The gRPC status code for an engine status kind. */
export function grpcCodeOf(kind: StatusKind): GrpcStatus {
  return STATUS_MAP[kind].grpc;
}

/** Whether an engine failure of this kind is the caller's fault. */
export function isClientErrorKind(kind: StatusKind): boolean {
  return STATUS_MAP[kind].clientError;
}
