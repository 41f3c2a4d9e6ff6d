import type * as grpc from '@grpc/grpc-js';
import { toGrpcError } from './errors';

/**
 * Adapts a promise-returning handler to grpc-js's callback style. Failures go through `mapError` (default: the
 * engine error table), so handlers just throw — synchronously or by rejecting: a hot handler need not be an async
 * function (one promise and one await fewer per call), and what it throws before its first await is answered
 * exactly as a rejection would be.
 */
export function unary<Req, Res>(
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  mapError: (err: unknown) => Partial<grpc.StatusObject> = toGrpcError,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Promise<Res>;
    try {
      result = handler(call.request, call);
    } catch (err) {
      callback(mapError(err) as grpc.ServerErrorResponse);
      return;
    }
    result.then(
      (res) => callback(null, res),
      (err: unknown) => callback(mapError(err) as grpc.ServerErrorResponse),
    );
  };
}
