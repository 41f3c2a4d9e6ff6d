import type * as grpc from '@grpc/grpc-js';
import { toGrpcError } from './errors';

/**
 * Adapts an async handler to grpc-js's callback style. Failures go through `mapError` (default: the engine error
 * table), so handlers just throw.
 */
export function unary<Req, Res>(
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  mapError: (err: unknown) => Partial<grpc.StatusObject> = toGrpcError,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handler(call.request, call).then(
      (res) => callback(null, res),
      (err: unknown) => callback(mapError(err) as grpc.ServerErrorResponse),
    );
  };
}

/** A status thrown by a handler as-is (e.g. the request-size check), bypassing the engine error table. */
export class GrpcStatusError extends Error {
  constructor(readonly status: Partial<grpc.StatusObject>) {
    super(status.details);
  }
}

/** Error mapper that passes {@link GrpcStatusError}s through and maps the rest with `inner`. */
export function withStatusPassthrough(
  inner: (err: unknown) => Partial<grpc.StatusObject> = toGrpcError,
): (err: unknown) => Partial<grpc.StatusObject> {
  return (err) => (err instanceof GrpcStatusError ? err.status : inner(err));
}
