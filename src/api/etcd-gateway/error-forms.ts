/**
 * How the gateway reports a failed call, as etcd's gateway (grpc-gateway) does: the HTTP status for each gRPC code,
 * the error object of a unary call, and the error chunk that ends a stream.
 */
import { status as GrpcStatus } from '../grpc/grpc-core';
import type { CallStatus } from '../grpc/server/call-status';
import { goJsonStringify } from './json-mapping';

/** grpc-gateway's `HTTPStatusFromCode`. */
const HTTP_STATUS_BY_CODE: Readonly<Record<number, number>> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 408,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.UNAUTHENTICATED]: 401,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 412,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
};

/** The HTTP status etcd's gateway answers a gRPC code with (500 for codes it does not know). */
export function httpStatusOfCode(code: number): number {
  return HTTP_STATUS_BY_CODE[code] ?? 500;
}

/** Go's `http.StatusText` for the statuses above. */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The body of a failed unary call: `{"error": msg, "message": msg, "code": n}` (an empty message left out). */
export function errorBody(s: CallStatus): string {
  return goJsonStringify(
    s.details ? { error: s.details, message: s.details, code: s.code } : { code: s.code },
  );
}

/** The chunk that ends a failed stream: `{"error": {"grpc_code", "http_code", "message", "http_status"}}`. */
export function streamErrorChunk(s: CallStatus): string {
  const http = httpStatusOfCode(s.code);
  const error: Record<string, unknown> = { grpc_code: s.code, http_code: http };
  if (s.details) error.message = s.details;
  error.http_status = STATUS_TEXT[http] ?? '';
  return goJsonStringify({ error });
}
