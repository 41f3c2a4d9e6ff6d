/**
 * Every error the Dapr API answers with, declared once: error code, HTTP status, gRPC code, ErrorInfo reason,
 * message template and which rich details it carries. Both protocol layers render a {@link DaprError} from this
 * table (HTTP: `{errorCode, message, details?}`; gRPC: status + `grpc-status-details-bin`), so a row is the whole
 * truth about an error on both wires. Texts and codes follow daprd (docs/dapr-api.md#errors).
 */
import { status as GrpcStatus } from './grpc/grpc-core';
import { isEngineError } from '../engine/errors';
import type { StateError } from '../state/state-errors';
import { isStateError } from '../state/state-errors';
import { isClientErrorKind } from './status-map';

/** The google.rpc error details Dapr attaches. */
export type ErrorDetail =
  | { type: 'ErrorInfo'; reason: string; domain: string; metadata?: Record<string, string> }
  | { type: 'ResourceInfo'; resourceType: string; resourceName: string; owner?: string; description?: string }
  | { type: 'BadRequest'; fieldViolations: { field: string; description: string }[] }
  | { type: 'Help'; links: { description: string; url: string }[] };

/**
 * How an error is shaped:
 * - `rich`: a kit error; HTTP body has `details`, gRPC carries ErrorInfo (+ ResourceInfo etc.).
 * - `legacy`: an APIError; HTTP body has no details, gRPC carries one ErrorInfo whose reason is the error code.
 * - `plain`: gRPC status without details (Dapr's lock errors); HTTP like legacy.
 */
type Shape = 'rich' | 'legacy' | 'plain';

interface DaprErrorSpec {
  readonly errorCode: string;
  readonly http: number;
  readonly grpc: GrpcStatus;
  readonly shape: Shape;
  /** ErrorInfo reason of rich errors. */
  readonly reason?: string;
  /** Message template; `{name}` is replaced by the parameter of that name. */
  readonly message: string;
  /** Rich errors: add ResourceInfo(state, store). */
  readonly resourceInfo?: boolean;
  /** Rich errors: add ErrorInfo metadata {appID} on HTTP only (Dapr passes the app id only there). */
  readonly appIdOnHttp?: boolean;
}

const HELP_STATE_STORES = {
  description: 'Check the list of state stores and the features they support',
  url: 'https://docs.dapr.io/reference/components-reference/supported-state-stores/',
};

/** The table. Keys are statecar's names for the situations; `errorCode` is what clients see. */
export const DAPR_ERRORS = {
  // --- state: rich (kit) errors
  STATE_STORE_NOT_CONFIGURED: {
    errorCode: 'ERR_STATE_STORE_NOT_CONFIGURED',
    http: 500,
    grpc: GrpcStatus.FAILED_PRECONDITION,
    shape: 'rich',
    reason: 'DAPR_STATE_NOT_CONFIGURED',
    message: 'state store {store} is not configured',
    appIdOnHttp: true,
  },
  STATE_STORE_NOT_FOUND: {
    errorCode: 'ERR_STATE_STORE_NOT_FOUND',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'rich',
    reason: 'DAPR_STATE_NOT_FOUND',
    message: 'state store {store} is not found',
    appIdOnHttp: true,
  },
  STATE_ILLEGAL_KEY: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'rich',
    reason: 'DAPR_STATE_ILLEGAL_KEY',
    message: "input key/keyPrefix '{key}' can't contain '||'",
    resourceInfo: true,
  },
  STATE_TRANSACTIONS_NOT_SUPPORTED: {
    errorCode: 'ERR_STATE_STORE_NOT_SUPPORTED',
    http: 500,
    grpc: GrpcStatus.UNIMPLEMENTED,
    shape: 'rich',
    reason: 'DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED',
    message: "state store {store} doesn't support transactions",
    resourceInfo: true,
  },
  STATE_TOO_MANY_TRANSACTIONS: {
    errorCode: 'ERR_STATE_STORE_TOO_MANY_TRANSACTIONS',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'rich',
    reason: 'DAPR_STATE_TOO_MANY_TRANSACTIONS',
    message:
      'the transaction contains {count} operations, which is more than what the state store supports: {max}',
    resourceInfo: true,
  },
  STATE_QUERY_FAILED: {
    errorCode: 'ERR_STATE_QUERY',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'rich',
    reason: 'DAPR_STATE_QUERY_FAILED',
    message: 'state store {store} query failed: {error}',
    resourceInfo: true,
  },
  // --- state: legacy (APIError) errors
  STATE_SAVE_ETAG_MISMATCH: {
    errorCode: 'ERR_STATE_SAVE',
    http: 409,
    grpc: GrpcStatus.ABORTED,
    shape: 'legacy',
    message:
      'failed saving state in state store {store}: possible etag mismatch. error from state store: {error}',
  },
  STATE_SAVE_ETAG_INVALID: {
    errorCode: 'ERR_STATE_SAVE',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'failed saving state in state store {store}: invalid etag value: {error}',
  },
  STATE_SAVE: {
    errorCode: 'ERR_STATE_SAVE',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'failed saving state in state store {store}: {error}',
  },
  STATE_SAVE_EMPTY_KEY_GRPC: {
    errorCode: 'ERR_STATE_SAVE',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'state key cannot be empty',
  },
  STATE_DELETE_ETAG_MISMATCH: {
    errorCode: 'ERR_STATE_DELETE',
    http: 409,
    grpc: GrpcStatus.ABORTED,
    shape: 'legacy',
    message: 'failed deleting state with key {key}: possible etag mismatch. error from state store: {error}',
  },
  STATE_DELETE_ETAG_INVALID: {
    errorCode: 'ERR_STATE_DELETE',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'failed deleting state with key {key}: invalid etag value: {error}',
  },
  STATE_DELETE: {
    errorCode: 'ERR_STATE_DELETE',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'failed deleting state with key {key}: {error}',
  },
  STATE_BULK_DELETE_ETAG_MISMATCH: {
    errorCode: 'ERR_STATE_BULK_DELETE',
    http: 409,
    grpc: GrpcStatus.ABORTED,
    shape: 'legacy',
    message:
      'failed deleting state in state store {store}: possible etag mismatch. error from state store: {error}',
  },
  STATE_BULK_DELETE_ETAG_INVALID: {
    errorCode: 'ERR_STATE_BULK_DELETE',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'failed deleting state in state store {store}: invalid etag value: {error}',
  },
  STATE_BULK_DELETE: {
    errorCode: 'ERR_STATE_BULK_DELETE',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'failed deleting state in state store {store}: {error}',
  },
  STATE_GET: {
    errorCode: 'ERR_STATE_GET',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'fail to get {key} from state store {store}: {error}',
  },
  STATE_BULK_GET: {
    errorCode: 'ERR_STATE_BULK_GET',
    http: 500,
    // Dapr returns the raw store error over gRPC, which grpc-go reports as Unknown.
    grpc: GrpcStatus.UNKNOWN,
    shape: 'plain',
    message: 'failed getting state in state store {store}: {error}',
  },
  STATE_TRANSACTION: {
    errorCode: 'ERR_STATE_TRANSACTION',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'error while executing state transaction: {error}',
  },
  STATE_WATCH: {
    // statecar's own route (Dapr has no state watch): a store failure, worded as Dapr's other state failures.
    errorCode: 'ERR_STATE_WATCH',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'failed watching state store {store}: {error}',
  },
  STATE_UNSUPPORTED_OPERATION: {
    errorCode: 'ERR_NOT_SUPPORTED_STATE_OPERATION',
    http: 400,
    grpc: GrpcStatus.UNIMPLEMENTED,
    shape: 'legacy',
    message: 'operation type {operation} not supported',
  },
  STATE_INVALID_JSON_VALUE: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    // Dapr returns the raw json.Unmarshal error over gRPC: status Unknown.
    grpc: GrpcStatus.UNKNOWN,
    shape: 'plain',
    message: '{error}',
  },
  // --- state: statecar's own alpha APIs (list keys, the SSE watch)
  STATE_LIST_INVALID: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'invalid list request for state store {store}: {error}',
  },
  STATE_LIST: {
    errorCode: 'ERR_STATE_LIST',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'failed listing the keys of state store {store}: {error}',
  },
  STATE_WATCH_COMPACTED: {
    errorCode: 'ERR_STATE_WATCH_COMPACTED',
    http: 410,
    grpc: GrpcStatus.OUT_OF_RANGE,
    shape: 'legacy',
    message: 'cannot resume the watch of state store {store}: {error}',
  },
  // --- configuration (Dapr's APIErrors; over gRPC an ErrorInfo whose reason is the code)
  CONFIGURATION_STORE_NOT_CONFIGURED: {
    errorCode: 'ERR_CONFIGURATION_STORE_NOT_CONFIGURED',
    http: 500,
    grpc: GrpcStatus.FAILED_PRECONDITION,
    shape: 'legacy',
    message: 'configuration stores not configured',
  },
  CONFIGURATION_STORE_NOT_FOUND: {
    errorCode: 'ERR_CONFIGURATION_STORE_NOT_FOUND',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'configuration store {store} not found',
  },
  CONFIGURATION_GET: {
    errorCode: 'ERR_CONFIGURATION_GET',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'failed to get {keys} from Configuration store {store}: {error}',
  },
  CONFIGURATION_SUBSCRIBE: {
    errorCode: 'ERR_CONFIGURATION_SUBSCRIBE',
    http: 500,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'failed to subscribe {keys} from Configuration store {store}: {error}',
  },
  CONFIGURATION_UNSUBSCRIBE: {
    errorCode: 'ERR_CONFIGURATION_UNSUBSCRIBE',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'failed to unsubscribe to configuration request {id}: {error}',
  },
  APP_CHANNEL_NIL: {
    errorCode: 'ERR_APP_CHANNEL_NIL',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'app channel is not initialized. cannot subscribe to configuration updates',
  },
  // --- generic request errors
  MALFORMED_REQUEST: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: '{error}',
  },
  BODY_TOO_LARGE: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    shape: 'legacy',
    message: 'failed to read request body: stream too large (limit {limit} bytes)',
  },
  GRPC_INVALID_UTF8: {
    // grpc-go refuses proto3 strings that are not UTF-8 before the handler runs: a plain status, no details.
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'plain',
    message: 'grpc: error unmarshalling request: {error}',
  },
  GRPC_UNDECODABLE: {
    // Bytes that are not a message of the request type: grpc-go's answer (Internal) and text.
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INTERNAL,
    shape: 'plain',
    message: 'grpc: error unmarshalling request: {error}',
  },
  // --- answered by the HTTP layer before a route runs (api/http/protocol-errors.ts)
  HTTP_HEADERS_TOO_LARGE: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 431,
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    shape: 'legacy',
    message: 'request header fields or URL too large',
  },
  HTTP_REQUEST_TIMEOUT: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 408,
    grpc: GrpcStatus.DEADLINE_EXCEEDED,
    shape: 'legacy',
    message: 'the request did not arrive in time',
  },
  HTTP_EXPECTATION_FAILED: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 417,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'legacy',
    message: 'unsupported Expect header: {error}',
  },
  INTERNAL: {
    errorCode: 'ERR_INTERNAL',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: '{error}',
  },
  // --- lock (APIErrors: no details on gRPC)
  LOCK_EXPIRY_NOT_POSITIVE: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'plain',
    message: 'ExpiryInSeconds is not positive in lock store {store}',
  },
  LOCK_STORE_NOT_CONFIGURED: {
    errorCode: 'ERR_LOCK_STORE_NOT_CONFIGURED',
    http: 500,
    grpc: GrpcStatus.FAILED_PRECONDITION,
    shape: 'plain',
    message: 'lock store is not configured',
  },
  LOCK_RESOURCE_ID_EMPTY: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'plain',
    message: 'ResourceId is empty in lock store {store}',
  },
  LOCK_OWNER_EMPTY: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'plain',
    message: 'LockOwner is empty in lock store {store}',
  },
  LOCK_ILLEGAL_RESOURCE_ID: {
    errorCode: 'ERR_MALFORMED_REQUEST',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'plain',
    message: "input key/keyPrefix '{key}' can't contain '||'",
  },
  LOCK_STORE_NOT_FOUND: {
    errorCode: 'ERR_LOCK_STORE_NOT_FOUND',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    shape: 'plain',
    message: 'lock store {store} not found',
  },
  TRY_LOCK: {
    errorCode: 'ERR_TRY_LOCK',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'plain',
    message: 'failed to try acquiring lock: {error}',
  },
  UNLOCK: {
    errorCode: 'ERR_UNLOCK',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'plain',
    message: 'failed to release lock: {error}',
  },
  // --- health, metadata, routing, auth
  HEALTH_NOT_READY: {
    errorCode: 'ERR_HEALTH_NOT_READY',
    http: 500,
    grpc: GrpcStatus.UNAVAILABLE,
    shape: 'legacy',
    message: 'dapr is not ready: {error}',
  },
  HEALTH_APPID_NOT_MATCH: {
    errorCode: 'ERR_HEALTH_APPID_NOT_MATCH',
    http: 500,
    grpc: GrpcStatus.INTERNAL,
    shape: 'legacy',
    message: 'dapr app-id does not match',
  },
  OUTBOUND_HEALTH_NOT_READY: {
    errorCode: 'ERR_OUTBOUND_HEALTH_NOT_READY',
    http: 500,
    grpc: GrpcStatus.UNAVAILABLE,
    shape: 'legacy',
    message: 'dapr outbound is not ready',
  },
  DIRECT_INVOKE: {
    errorCode: 'ERR_DIRECT_INVOKE',
    http: 404,
    grpc: GrpcStatus.NOT_FOUND,
    shape: 'legacy',
    message: 'failed getting app id either from the URL path or the header dapr-app-id',
  },
  UNAUTHENTICATED: {
    errorCode: 'Unauthorized',
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
    shape: 'rich',
    reason: 'Unauthorized',
    message: 'Unauthorized',
  },
} as const satisfies Record<string, DaprErrorSpec>;

export type DaprErrorName = keyof typeof DAPR_ERRORS;

/** Template parameters; missing ones render as empty strings. */
export type DaprErrorParams = Partial<
  Record<'store' | 'key' | 'keys' | 'id' | 'error' | 'operation' | 'count' | 'max' | 'limit', string | number>
>;

/** A Dapr API error, renderable on both protocols. */
export class DaprError extends Error {
  override readonly name = 'DaprError';
  readonly errorName: DaprErrorName;
  readonly spec: DaprErrorSpec;
  readonly params: DaprErrorParams;
  /** Extra ErrorInfo metadata (e.g. the transaction counts). */
  readonly infoMetadata?: Record<string, string>;

  constructor(
    errorName: DaprErrorName,
    params: DaprErrorParams = {},
    extra: { infoMetadata?: Record<string, string>; cause?: unknown } = {},
  ) {
    const spec: DaprErrorSpec = DAPR_ERRORS[errorName];
    super(
      spec.message.replace(/\{(\w+)\}/g, (_m, p: string) => String(params[p as keyof DaprErrorParams] ?? '')),
      extra.cause === undefined ? undefined : { cause: extra.cause },
    );
    this.errorName = errorName;
    this.spec = spec;
    this.params = params;
    this.infoMetadata = extra.infoMetadata;
  }

  get errorCode(): string {
    return this.spec.errorCode;
  }

  get httpStatus(): number {
    return this.spec.http;
  }

  get grpcCode(): GrpcStatus {
    return this.spec.grpc;
  }

  /** The details for one protocol; `appId` is only used where Dapr includes it. */
  details(protocol: 'http' | 'grpc', appId: string): ErrorDetail[] {
    const spec = this.spec;
    if (spec.shape === 'plain') return [];
    if (spec.shape === 'legacy') {
      // Dapr's legacy errors: no details on HTTP; over gRPC a single ErrorInfo whose reason is the code.
      return protocol === 'http' ? [] : [{ type: 'ErrorInfo', reason: spec.errorCode, domain: 'dapr.io' }];
    }
    let metadata = this.infoMetadata;
    if (spec.appIdOnHttp && protocol === 'http' && appId) metadata = { ...metadata, appID: appId };
    const out: ErrorDetail[] = [
      { type: 'ErrorInfo', reason: spec.reason ?? spec.errorCode, domain: 'dapr.io', metadata },
    ];
    if (spec.resourceInfo) {
      out.push({
        type: 'ResourceInfo',
        resourceType: 'state',
        resourceName: String(this.params.store ?? ''),
      });
    }
    if (this.errorName === 'STATE_ILLEGAL_KEY') {
      out.push({
        type: 'BadRequest',
        fieldViolations: [{ field: String(this.params.key ?? ''), description: this.message }],
      });
    }
    if (this.errorName === 'STATE_TRANSACTIONS_NOT_SUPPORTED')
      out.push({ type: 'Help', links: [HELP_STATE_STORES] });
    return out;
  }

  /** True when the HTTP body carries `details` (kit errors). */
  get richOnHttp(): boolean {
    return this.spec.shape === 'rich';
  }
}

export function isDaprError(err: unknown): err is DaprError {
  return err instanceof DaprError;
}

/** Which family of rows a state failure belongs to. */
export type StateOperation = 'save' | 'delete' | 'bulkDelete' | 'get' | 'bulkGet' | 'transaction' | 'watch';

const ETAG_ROWS: Record<'save' | 'delete' | 'bulkDelete', [DaprErrorName, DaprErrorName, DaprErrorName]> = {
  save: ['STATE_SAVE_ETAG_MISMATCH', 'STATE_SAVE_ETAG_INVALID', 'STATE_SAVE'],
  delete: ['STATE_DELETE_ETAG_MISMATCH', 'STATE_DELETE_ETAG_INVALID', 'STATE_DELETE'],
  bulkDelete: ['STATE_BULK_DELETE_ETAG_MISMATCH', 'STATE_BULK_DELETE_ETAG_INVALID', 'STATE_BULK_DELETE'],
};

/**
 * Map a failure of a state operation to its Dapr error: the one place where state error kinds meet Dapr's codes.
 * Non-state errors (engine errors, bugs) become the operation's generic store-failure row. Engine messages are
 * protocol-neutral (no etcd `etcdserver:` text reaches a Dapr client).
 */
export function stateFailure(op: StateOperation, store: string, key: string, err: unknown): DaprError {
  if (isDaprError(err)) return err;
  // A watch is the one state operation whose request the engine validates itself (a start revision, a range).
  if (op === 'watch' && isEngineError(err) && isClientErrorKind(err.status)) {
    return new DaprError('MALFORMED_REQUEST', { error: err.message }, { cause: err });
  }
  if (!isStateError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return genericStateFailure(op, store, key, message, err);
  }
  const e: StateError = err;
  switch (e.kind) {
    case 'ILLEGAL_KEY':
      return new DaprError('STATE_ILLEGAL_KEY', { store, key: e.key ?? key });
    case 'TOO_MANY_OPS':
      return new DaprError(
        'STATE_TOO_MANY_TRANSACTIONS',
        { store, count: e.count, max: e.max },
        { infoMetadata: { currentOpsTransaction: String(e.count), maxOpsPerTransaction: String(e.max) } },
      );
    case 'UNSUPPORTED_OPERATION':
      return new DaprError('STATE_UNSUPPORTED_OPERATION', { operation: e.operation ?? '' });
    case 'INVALID_VALUE':
      return new DaprError('STATE_INVALID_JSON_VALUE', { error: e.message });
    case 'ETAG_MISMATCH':
    case 'ETAG_INVALID':
      if (op === 'save' || op === 'delete' || op === 'bulkDelete') {
        const [mismatch, invalid] = ETAG_ROWS[op];
        return new DaprError(e.kind === 'ETAG_MISMATCH' ? mismatch : invalid, {
          store,
          key,
          error: e.message,
        });
      }
      return genericStateFailure(op, store, key, e.message, e);
    case 'COMPACTED':
    case 'INVALID_REQUEST':
    case 'STORE':
      return genericStateFailure(op, store, key, e.message, e);
  }
}

function genericStateFailure(
  op: StateOperation,
  store: string,
  key: string,
  message: string,
  cause: unknown,
): DaprError {
  // Engine errors keep their own status on the etcd API, but Dapr reports every component failure with the
  // operation's code, so the Dapr API does the same.
  switch (op) {
    case 'save':
      return new DaprError('STATE_SAVE', { store, key, error: message }, { cause });
    case 'delete':
      return new DaprError('STATE_DELETE', { store, key, error: message }, { cause });
    case 'bulkDelete':
      return new DaprError('STATE_BULK_DELETE', { store, key, error: message }, { cause });
    case 'get':
      return new DaprError('STATE_GET', { store, key, error: message }, { cause });
    case 'bulkGet':
      return new DaprError('STATE_BULK_GET', { store, error: message }, { cause });
    case 'transaction':
      return new DaprError('STATE_TRANSACTION', { store, error: message }, { cause });
    case 'watch':
      return new DaprError('STATE_WATCH', { store, error: message }, { cause });
  }
}
