/**
 * The etcd API's own errors (Auth, Cluster, Maintenance), declared once in a table: gRPC code and etcd's exact
 * message (clients re-type errors by message; etcd rpctypes/error.go, auth/store.go, membership/errors.go). Engine
 * errors (KV, leases, quota) stay in the engine's table; {@link toGrpcError} maps both.
 */
import { status } from '../grpc-core';

interface ApiErrorSpec {
  readonly code: status;
  readonly message: string;
}

export const ETCD_API_ERRORS = {
  ROOT_USER_NOT_EXIST: { code: status.FAILED_PRECONDITION, message: 'etcdserver: root user does not exist' },
  ROOT_ROLE_NOT_EXIST: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: root user does not have root role',
  },
  USER_ALREADY_EXIST: { code: status.FAILED_PRECONDITION, message: 'etcdserver: user name already exists' },
  USER_EMPTY: { code: status.INVALID_ARGUMENT, message: 'etcdserver: user name is empty' },
  USER_NOT_FOUND: { code: status.FAILED_PRECONDITION, message: 'etcdserver: user name not found' },
  ROLE_ALREADY_EXIST: { code: status.FAILED_PRECONDITION, message: 'etcdserver: role name already exists' },
  ROLE_NOT_FOUND: { code: status.FAILED_PRECONDITION, message: 'etcdserver: role name not found' },
  ROLE_EMPTY: { code: status.INVALID_ARGUMENT, message: 'etcdserver: role name is empty' },
  AUTH_FAILED: {
    code: status.INVALID_ARGUMENT,
    message: 'etcdserver: authentication failed, invalid user ID or password',
  },
  // etcd 3.4 does not map this one to a gRPC code, so it travels as Unknown with the auth package's text.
  NO_PASSWORD_USER: {
    code: status.UNKNOWN,
    message: 'auth: authentication failed, password was given for no password user',
  },
  PERMISSION_DENIED: { code: status.PERMISSION_DENIED, message: 'etcdserver: permission denied' },
  ROLE_NOT_GRANTED: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: role is not granted to the user',
  },
  PERMISSION_NOT_GRANTED: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: permission is not granted to the role',
  },
  AUTH_NOT_ENABLED: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: authentication is not enabled',
  },
  INVALID_AUTH_TOKEN: { code: status.UNAUTHENTICATED, message: 'etcdserver: invalid auth token' },
  INVALID_AUTH_MGMT: { code: status.INVALID_ARGUMENT, message: 'etcdserver: invalid auth management' },
  AUTH_OLD_REVISION: { code: status.INVALID_ARGUMENT, message: 'etcdserver: revision of auth store is old' },
  PERMISSION_NOT_GIVEN: { code: status.INVALID_ARGUMENT, message: 'etcdserver: permission not given' },
  VERIFY_ONLY_KEY: { code: status.UNKNOWN, message: 'auth: token signing attempted with verify-only key' },
  NOT_LEADER: { code: status.FAILED_PRECONDITION, message: 'etcdserver: not leader' },
  BAD_LEADER_TRANSFEREE: { code: status.FAILED_PRECONDITION, message: 'etcdserver: bad leader transferee' },
  MEMBER_NOT_FOUND: { code: status.NOT_FOUND, message: 'etcdserver: member not found' },
  PEER_URL_EXIST: { code: status.FAILED_PRECONDITION, message: 'etcdserver: Peer URLs already exists' },
  INVALID_PEER_URLS: { code: status.INVALID_ARGUMENT, message: 'etcdserver: given member URLs are invalid' },
  // Sent as Unknown by etcd 3.4 (a client-side error type without a gRPC status); clients re-type it by text.
  NOT_ENOUGH_STARTED_MEMBERS: {
    code: status.UNKNOWN,
    message: 'etcdserver: re-configuration failed due to not enough started members',
  },
  MEMBER_NOT_LEARNER: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: can only promote a learner member',
  },
  NOT_IMPLEMENTED: { code: status.UNIMPLEMENTED, message: 'etcdserver: not implemented by this backend' },
} as const satisfies Record<string, ApiErrorSpec>;

export type EtcdApiErrorCode = keyof typeof ETCD_API_ERRORS;

/** A coded etcd API failure; handlers throw it and the unary adapter sends its status. */
export class EtcdApiError extends Error {
  readonly code: EtcdApiErrorCode;
  readonly grpcCode: status;

  constructor(code: EtcdApiErrorCode, message?: string, grpcCode?: status) {
    super(message ?? ETCD_API_ERRORS[code].message);
    this.name = 'EtcdApiError';
    this.code = code;
    this.grpcCode = grpcCode ?? ETCD_API_ERRORS[code].code;
  }
}

/** The auth package's own texts, which etcd 3.4's Maintenance admin check sends unmapped (code Unknown). */
const RAW_AUTH_TEXT: Partial<Record<EtcdApiErrorCode, string>> = {
  USER_EMPTY: 'auth: user name is empty',
  USER_NOT_FOUND: 'auth: user not found',
  PERMISSION_DENIED: 'auth: permission denied',
  INVALID_AUTH_TOKEN: 'auth: invalid auth token',
  AUTH_OLD_REVISION: 'auth: revision in header is old',
};

/** An auth failure as etcd's Maintenance service reports it (v3rpc/maintenance.go `isAuthenticated`). */
export function rawAuthError(err: unknown): unknown {
  if (!(err instanceof EtcdApiError)) return err;
  const text = RAW_AUTH_TEXT[err.code];
  return text ? new EtcdApiError(err.code, text, status.UNKNOWN) : err;
}

const GO_CODE_NAMES: Partial<Record<status, string>> = {
  [status.INVALID_ARGUMENT]: 'InvalidArgument',
  [status.PERMISSION_DENIED]: 'PermissionDenied',
  [status.UNAUTHENTICATED]: 'Unauthenticated',
};

/** The Go status text etcd puts into an in-band watch cancel: `rpc error: code = X desc = <message>`. */
export function goStatusText(err: EtcdApiError): string {
  return `rpc error: code = ${GO_CODE_NAMES[err.grpcCode] ?? 'Unknown'} desc = ${err.message}`;
}
