/**
 * DAPR_API_TOKEN on the Dapr gRPC port (Dapr's pkg/api/grpc/auth.go): every call on the port, whatever its service,
 * must carry metadata `dapr-api-token` with the token, else it ends with UNAUTHENTICATED `Unauthorized` and an
 * ErrorInfo (reason `Unauthorized`, metadata `http.code` and `http.error_message`) before any handler runs.
 */
import type { Metadata } from '@grpc/grpc-js';
import { DaprError } from '../dapr-errors';
import { toServiceError } from './rich-status';
import type { CallLayer } from './server/call-layer';
import type { CallStatus } from './server/call-status';

/** Why a call's metadata fails the token check, or '' when it passes. */
export function tokenProblem(md: Metadata, token: string): string {
  const got = md.get('dapr-api-token');
  if (got.length === 0) return 'missing api token in request metadata';
  return got[0] === token ? '' : 'api token mismatch';
}

/** The status a call failing the check gets. */
function refusal(problem: string, appId: string): CallStatus {
  const err = new DaprError(
    'UNAUTHENTICATED',
    {},
    { infoMetadata: { 'http.code': '401', 'http.error_message': problem } },
  );
  const se = toServiceError(err, appId);
  return { code: err.grpcCode, details: err.message, metadata: se.metadata };
}

/** A call layer enforcing `token`; the token is not passed on to handlers. */
export function apiTokenLayer(token: string, appId: string): CallLayer {
  const refusals = new Map<string, CallStatus>();
  return (call) => {
    const problem = tokenProblem(call.metadata, token);
    if (!problem) {
      call.metadata.remove('dapr-api-token');
      return undefined;
    }
    let s = refusals.get(problem);
    if (!s) refusals.set(problem, (s = refusal(problem, appId)));
    return s;
  };
}
