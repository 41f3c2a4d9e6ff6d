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
