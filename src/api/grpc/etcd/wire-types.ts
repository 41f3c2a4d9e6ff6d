/**
 * Shapes of etcd messages as @grpc/proto-loader hands them over with {@link ETCD_PROTO_LOADER_OPTIONS}: field names
 * as in the proto, int64/uint64 as decimal strings, enums by name, bytes as Buffer. Requests arrive with defaults
 * filled in; responses may leave out zero fields (proto3 omits them on the wire anyway).
 *
 * Only what the handlers touch is typed.
 */

/** int64/uint64 as proto-loader delivers them (`longs: String`); numbers are accepted on output. */
export type Int64 = string;

/** etcdserverpb.ResponseHeader. */
export interface WireResponseHeader {
  cluster_id?: Int64;
  member_id?: Int64;
  revision?: Int64;
  raft_term?: Int64;
}

/** mvccpb.KeyValue. */
export interface WireKeyValue {
  key: Buffer;
  create_revision?: Int64;
  mod_revision?: Int64;
  version?: Int64;
  value?: Buffer;
  lease?: Int64;
}

/** etcdserverpb.RangeRequest. */
export interface WireRangeRequest {
  key: Buffer;
  range_end: Buffer;
  limit: Int64;
  revision: Int64;
  sort_order: string | number;
  sort_target: string | number;
  serializable: boolean;
  keys_only: boolean;
  count_only: boolean;
  min_mod_revision: Int64;
  max_mod_revision: Int64;
  min_create_revision: Int64;
  max_create_revision: Int64;
}

/** etcdserverpb.PutRequest. */
export interface WirePutRequest {
  key: Buffer;
  value: Buffer;
  lease: Int64;
  prev_kv: boolean;
  ignore_value: boolean;
  ignore_lease: boolean;
}

/** etcdserverpb.DeleteRangeRequest. */
export interface WireDeleteRangeRequest {
  key: Buffer;
  range_end: Buffer;
  prev_kv: boolean;
}

/** etcdserverpb.RequestOp (oneof `request` names the member set). */
export interface WireRequestOp {
  request?: 'request_range' | 'request_put' | 'request_delete_range' | 'request_txn';
  request_range?: WireRangeRequest;
  request_put?: WirePutRequest;
  request_delete_range?: WireDeleteRangeRequest;
  request_txn?: WireTxnRequest;
}

/** etcdserverpb.Compare (oneof `target_union` names the operand set). */
export interface WireCompare {
  result: string | number;
  target: string | number;
  key: Buffer;
  range_end: Buffer;
  target_union?: 'version' | 'create_revision' | 'mod_revision' | 'value' | 'lease';
  version?: Int64;
  create_revision?: Int64;
  mod_revision?: Int64;
  value?: Buffer;
  lease?: Int64;
}

/** etcdserverpb.TxnRequest. */
export interface WireTxnRequest {
  compare: WireCompare[];
  success: WireRequestOp[];
  failure: WireRequestOp[];
}

/** etcdserverpb.CompactionRequest. */
export interface WireCompactionRequest {
  revision: Int64;
  physical: boolean;
}

/** etcdserverpb.WatchCreateRequest. */
export interface WireWatchCreateRequest {
  key: Buffer;
  range_end: Buffer;
  start_revision: Int64;
  progress_notify: boolean;
  filters: (string | number)[];
  prev_kv: boolean;
  watch_id: Int64;
  fragment: boolean;
}

/** etcdserverpb.WatchRequest (oneof `request_union`). */
export interface WireWatchRequest {
  request_union?: 'create_request' | 'cancel_request' | 'progress_request';
  create_request?: WireWatchCreateRequest;
  cancel_request?: { watch_id: Int64 };
  progress_request?: Record<string, never>;
}

/** LeaseRevokeRequest / LeaseKeepAliveRequest. */
export interface WireLeaseIdRequest {
  ID: Int64;
}

/** etcdserverpb.LeaseGrantRequest. */
export interface WireLeaseGrantRequest {
  TTL: Int64;
  ID: Int64;
}

/** etcdserverpb.LeaseTimeToLiveRequest. */
export interface WireLeaseTimeToLiveRequest {
  ID: Int64;
  keys: boolean;
}

/** etcdserverpb.AlarmRequest. */
export interface WireAlarmRequest {
  action: string | number;
  memberID: Int64;
  alarm: string | number;
}

/** v3lockpb.LockRequest. */
export interface WireLockRequest {
  name: Buffer;
  lease: Int64;
}

/** v3lockpb.UnlockRequest. */
export interface WireUnlockRequest {
  key: Buffer;
}

/** v3electionpb.LeaderKey. */
export interface WireLeaderKey {
  name: Buffer;
  key: Buffer;
  rev: Int64;
  lease: Int64;
}

/** v3electionpb.CampaignRequest. */
export interface WireCampaignRequest {
  name: Buffer;
  lease: Int64;
  value: Buffer;
}

/** v3electionpb.ProclaimRequest. */
export interface WireProclaimRequest {
  leader?: WireLeaderKey | null;
  value: Buffer;
}

/** v3electionpb.ResignRequest. */
export interface WireResignRequest {
  leader?: WireLeaderKey | null;
}

/** v3electionpb.LeaderRequest (Leader and Observe). */
export interface WireLeaderRequest {
  name: Buffer;
}
