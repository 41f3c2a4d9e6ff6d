import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../../../engine/contract';
import type { ResponseHeaderFactory } from './header';
import type {
  Int64,
  WireCompare,
  WireDeleteRangeRequest,
  WireKeyValue,
  WirePutRequest,
  WireRangeRequest,
  WireRequestOp,
  WireTxnRequest,
} from './wire-types';

/**
 * Conversion between etcd wire messages and engine requests/responses. Pure data mapping: no validation beyond
 * what the wire itself implies (the engine owns etcd's semantics and errors), as etcd keeps `v3rpc` apart from
 * `apply`.
 */

/** A wire int64 (decimal string, or number/Long-like) as a JS number. Revisions stay far below 2^53. */
export function toNumber(v: Int64 | number | undefined | null): number {
  if (v === undefined || v === null || v === '') return 0;
  return typeof v === 'number' ? v : Number(v);
}

/** A wire int64 as bigint, without precision loss (lease IDs use the full int64 range). */
export function toBigInt(v: Int64 | number | undefined | null): bigint {
  // '0' is what nearly every request carries (no lease): no string parse for it.
  if (v === undefined || v === null || v === '' || v === '0') return 0n;
  return typeof v === 'number' ? BigInt(v) : BigInt(String(v));
}

/** A number or bigint as a wire int64 string. */
export function int64(v: number | bigint): string {
  return typeof v === 'bigint' ? v.toString() : String(Math.trunc(v));
}

const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const COMPARE_RESULTS: readonly CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];

/**
 * An enum field by name. proto-loader gives names for known values and the raw number for unknown ones; an
 * unknown value falls back to the zero value, which is what a Go server's `switch` without a matching case does.
 */
function enumValue<T extends string>(v: string | number | undefined, names: readonly T[]): T {
  if (typeof v === 'number') return names[v] ?? names[0]!;
  return names.includes(v as T) ? (v as T) : names[0]!;
}

/** Range end as the engine wants it: absent means "single key". */
function optEnd(end: Buffer | undefined): Buffer | undefined {
  return end && end.length > 0 ? end : undefined;
}

/**
 * Wire RangeRequest → engine request.
 * @param inTxn a Range inside a txn: a negative `revision` is kept, and the engine applies etcd's check of it against
 *   the compaction point as part of the txn (apply.go `checkRequestRange`); a top-level Range reads the latest
 *   revision instead, as etcd's `rangeKeys` does.
 */
export function rangeRequestFromWire(r: WireRangeRequest, inTxn = false): RangeRequest {
  const limit = toNumber(r.limit);
  const rawRevision = toNumber(r.revision);
  const revision = rawRevision < 0 && !inTxn ? 0 : rawRevision;
  return {
    key: r.key ?? Buffer.alloc(0),
    rangeEnd: optEnd(r.range_end),
    // etcd treats limit <= 0 as unlimited; the contract wants 0.
    limit: limit > 0 ? limit : 0,
    revision,
    sortOrder: enumValue(r.sort_order, SORT_ORDERS),
    sortTarget: enumValue(r.sort_target, SORT_TARGETS),
    serializable: !!r.serializable,
    keysOnly: !!r.keys_only,
    countOnly: !!r.count_only,
    // A negative lower bound filters nothing (etcd drops kvs with `rev < min`), so it is the same as unset.
    minModRevision: Math.max(0, toNumber(r.min_mod_revision)),
    maxModRevision: toNumber(r.max_mod_revision),
    minCreateRevision: Math.max(0, toNumber(r.min_create_revision)),
    maxCreateRevision: toNumber(r.max_create_revision),
  };
}

/**
 * True when a negative upper bound filters out every key (etcd drops kvs with `rev > max` when `max != 0`). The
 * contract has no such value, so the KV service answers with the count alone. Inside a txn the engine rejects it.
 */
export function filtersEverything(r: WireRangeRequest): boolean {
  return toNumber(r.max_mod_revision) < 0 || toNumber(r.max_create_revision) < 0;
}

/** Wire PutRequest → engine request (lease as bigint). */
export function putRequestFromWire(r: WirePutRequest): PutRequest {
  return {
    key: r.key ?? Buffer.alloc(0),
    value: r.value ?? Buffer.alloc(0),
    lease: toBigInt(r.lease),
    prevKv: !!r.prev_kv,
    ignoreValue: !!r.ignore_value,
    ignoreLease: !!r.ignore_lease,
  };
}

/** Wire DeleteRangeRequest → engine request. */
export function deleteRangeRequestFromWire(r: WireDeleteRangeRequest): DeleteRangeRequest {
  return { key: r.key ?? Buffer.alloc(0), rangeEnd: optEnd(r.range_end), prevKv: !!r.prev_kv };
}

function compareFromWire(c: WireCompare): Compare {
  const out: Compare = {
    key: c.key ?? Buffer.alloc(0),
    rangeEnd: optEnd(c.range_end),
    target: enumValue(c.target, COMPARE_TARGETS),
    result: enumValue(c.result, COMPARE_RESULTS),
  };
  // Only the oneof member actually sent is passed on: etcd reads the operand through the getter of `target`,
  // which yields 0/empty when another member was set.
  switch (c.target_union) {
    case 'version':
      out.version = toNumber(c.version);
      break;
    case 'create_revision':
      out.createRevision = toNumber(c.create_revision);
      break;
    case 'mod_revision':
      out.modRevision = toNumber(c.mod_revision);
      break;
    case 'value':
      out.value = c.value ?? Buffer.alloc(0);
      break;
    case 'lease':
      out.lease = toBigInt(c.lease);
      break;
    default:
      break;
  }
  return out;
}

function requestOpFromWire(op: WireRequestOp): RequestOp {
  switch (op.request) {
    case 'request_range':
      return { range: rangeRequestFromWire(op.request_range!, true) };
    case 'request_put':
      return { put: putRequestFromWire(op.request_put!) };
    case 'request_delete_range':
      return { deleteRange: deleteRangeRequestFromWire(op.request_delete_range!) };
    case 'request_txn':
      return { txn: txnRequestFromWire(op.request_txn!) };
    default:
      // An op with nothing set: the engine answers KEY_NOT_FOUND ("etcdserver: key not found" on the wire), as
      // etcd does.
      return {};
  }
}

/** Wire TxnRequest → engine request, nested txns included. */
export function txnRequestFromWire(r: WireTxnRequest): TxnRequest {
  return {
    compare: (r.compare ?? []).map(compareFromWire),
    success: (r.success ?? []).map(requestOpFromWire),
    failure: (r.failure ?? []).map(requestOpFromWire),
  };
}

/** True when no op (nested included) writes: etcd serves such txns without a raft round and without size check. */
export function isReadOnlyTxn(r: WireTxnRequest): boolean {
  const ops = [...(r.success ?? []), ...(r.failure ?? [])];
  return ops.every(
    (op) =>
      op.request === 'request_range' ||
      op.request === undefined ||
      (op.request === 'request_txn' && isReadOnlyTxn(op.request_txn!)),
  );
}

/** Engine KeyValue → wire, leaving zero fields out as proto3 does. */
export function keyValueToWire(kv: KeyValue): WireKeyValue {
  const out: WireKeyValue = { key: kv.key };
  if (kv.createRevision) out.create_revision = int64(kv.createRevision);
  if (kv.modRevision) out.mod_revision = int64(kv.modRevision);
  if (kv.version) out.version = int64(kv.version);
  if (kv.value && kv.value.length > 0) out.value = kv.value;
  if (kv.lease) out.lease = int64(kv.lease);
  return out;
}

/** Engine RangeResponse → wire; `top` = false for a response nested in a Txn (header with revision only). */
export function rangeResponseToWire(r: RangeResponse, header: ResponseHeaderFactory, top = true) {
  return {
    header: top ? header.full(r.header.revision) : header.inner(r.header.revision),
    kvs: r.kvs.map(keyValueToWire),
    more: r.more,
    count: int64(r.count),
  };
}

/** Engine PutResponse → wire; `top` as for {@link rangeResponseToWire}. */
export function putResponseToWire(r: PutResponse, header: ResponseHeaderFactory, top = true) {
  return {
    header: top ? header.full(r.header.revision) : header.inner(r.header.revision),
    ...(r.prevKv ? { prev_kv: keyValueToWire(r.prevKv) } : {}),
  };
}

/** Engine DeleteRangeResponse → wire; `top` as for {@link rangeResponseToWire}. */
export function deleteRangeResponseToWire(r: DeleteRangeResponse, header: ResponseHeaderFactory, top = true) {
  return {
    header: top ? header.full(r.header.revision) : header.inner(r.header.revision),
    deleted: int64(r.deleted),
    prev_kvs: (r.prevKvs ?? []).map(keyValueToWire),
  };
}

function responseOpToWire(op: ResponseOp, header: ResponseHeaderFactory): object {
  if (op.range) return { response_range: rangeResponseToWire(op.range, header, false) };
  if (op.put) return { response_put: putResponseToWire(op.put, header, false) };
  if (op.deleteRange)
    return { response_delete_range: deleteRangeResponseToWire(op.deleteRange, header, false) };
  if (op.txn) return { response_txn: txnResponseToWire(op.txn, header, false) };
  return {};
}

/**
 * Txn response. Only the top-level header gets cluster/member/term (etcd fills headers of top-level responses
 * only); inner Range/Put/Delete headers carry just the revision and a nested txn's header is empty.
 */
export function txnResponseToWire(r: TxnResponse, header: ResponseHeaderFactory, top = true): object {
  return {
    header: top ? header.full(r.header.revision) : {},
    succeeded: r.succeeded,
    responses: r.responses.map((op) => responseOpToWire(op, header)),
  };
}

/** Engine watch event → mvccpb.Event. */
export function eventToWire(e: WatchEvent): object {
  return {
    type: e.type,
    kv: keyValueToWire(e.kv),
    ...(e.prevKv ? { prev_kv: keyValueToWire(e.prevKv) } : {}),
  };
}
