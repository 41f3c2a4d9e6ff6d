/**
 * DAPR_API_TOKEN on the Dapr gRPC port (Dapr's pkg/api/grpc/auth.go): every call on the port, whatever its service,
 * must carry metadata `dapr-api-token` with the token, else it ends with UNAUTHENTICATED `Unauthorized` and an
 * ErrorInfo (reason `Unauthorized`, metadata `http.code` and `http.error_message`) before any handler runs. The
 * exception is `grpc.health.v1.Health`, statecar's own addition: probes carry no token, as the HTTP healthz routes
 * need none.
 */
import { ServerInterceptingCall } from '@grpc/grpc-js';
import type { Metadata, ServerInterceptor } from '@grpc/grpc-js';
import { DaprError } from '../dapr-errors';
import { toServiceError } from './rich-status';

/** Why a call's metadata fails the token check, or '' when it passes. */
export function tokenProblem(md: Metadata, token: string): string {
  const got = md.get('dapr-api-token');
  if (got.length === 0) return 'missing api token in request metadata';
  return got[0] === token ? '' : 'api token mismatch';
}

/** A server interceptor enforcing `token`. */
export function apiTokenInterceptor(token: string, appId: string): ServerInterceptor {
  return (method, call) => {
    if (method.path.startsWith('/grpc.health.v1.Health/')) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, forward) => {
            const problem = tokenProblem(md, token);
            if (!problem) {
              // The token is not passed on to handlers.
              md.remove('dapr-api-token');
              forward(md);
              return;
            }
            const err = new DaprError(
              'UNAUTHENTICATED',
              {},
              { infoMetadata: { 'http.code': '401', 'http.error_message': problem } },
            );
            const se = toServiceError(err, appId);
            call.sendStatus({ code: err.grpcCode, details: err.message, metadata: se.metadata });
          },
        }),
    });
  };
}
