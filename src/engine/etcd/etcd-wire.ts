import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../contract';
import type { WireHeader } from './etcd-connection';

/**
 * Conversion between the contract's requests and answers and etcd's wire messages (as the proto loader shapes them:
 * 64-bit integers as decimal strings, enums by name), with the store's key prefix added on the way out and removed
 * on the way back. Every key the cluster returns lies under the prefix, since every range sent stays inside it.
 */

/** A `mvccpb.KeyValue` on the wire. */
export interface WireKeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

/** A `mvccpb.Event` on the wire. */
export interface WireEvent {
  type: 'PUT' | 'DELETE';
  kv: WireKeyValue | null;
  prev_kv: WireKeyValue | null;
}

const EMPTY = Buffer.alloc(0);
const NUL = Buffer.from([0]);

/** The key prefix of one store and the mapping of keys and ranges into it. */
export class KeyPrefix {
  /** The first key after every key with the prefix (a range end; `\0` for the whole key space). */
  readonly end: Buffer;
  /** A key whose count-only read costs nothing and shows the current revision: the bare prefix, or `\0`. */
  readonly probe: Buffer;

  /** `prefix` empty: the store is the cluster's whole key space (keys and ranges pass through unchanged). */
  constructor(readonly prefix: Buffer) {
    this.end = prefixEnd(prefix);
    this.probe = prefix.length > 0 ? prefix : NUL;
  }

  /** A contract key as the cluster's key. */
  key(k: Buffer): Buffer {
    return this.prefix.length === 0 ? k : Buffer.concat([this.prefix, k]);
  }

  /**
   * A contract range end as the cluster's: absent or empty stays "just the key" (and must stay absent on the wire:
   * etcd reads a present empty range end as "every key from key on"); `\0` ("every key from key on") becomes the end
   * of the prefix, so the range never leaves it.
   */
  rangeEnd(end: Buffer | undefined): Buffer | undefined {
    if (end === undefined || end.length === 0) return undefined;
    if (end.length === 1 && end[0] === 0) return this.end;
    return this.key(end);
  }

  /** A cluster key as the contract's (the prefix removed). */
  strip(k: Buffer): Buffer {
    return this.prefix.length === 0 ? k : k.subarray(this.prefix.length);
  }

  /** Whether a cluster key belongs to this store. */
  owns(k: Buffer): boolean {
    if (this.prefix.length === 0) return true;
    return k.length > this.prefix.length && k.subarray(0, this.prefix.length).equals(this.prefix);
  }

  /** The whole store as a cluster range. */
  all(): { key: Buffer; range_end: Buffer } {
    return { key: this.probe, range_end: this.end };
  }
}

/** clientv3's `GetPrefix` end: the prefix with its last byte below 0xff incremented. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return NUL;
}

const num = (s: string | undefined): number => (s === undefined || s === '' ? 0 : Number(s));
const str = (n: number | undefined): string => String(n ?? 0);
/** A revision filter: the contract treats one <= 0 as unset (etcd 3.4 would prune every key for a negative max). */
const bound = (n: number | undefined): string => String(n !== undefined && n > 0 ? n : 0);
const lease = (l: bigint | undefined): string => (l ?? 0n).toString();

/** The revision of a response header. */
export function headerRevision(h: WireHeader | undefined): number {
  return num(h?.revision);
}

/** A wire KeyValue as the contract's, the prefix removed. */
export function kvFromWire(p: KeyPrefix, w: WireKeyValue): KeyValue {
  return {
    key: p.strip(w.key),
    createRevision: num(w.create_revision),
    modRevision: num(w.mod_revision),
    version: num(w.version),
    value: w.value ?? EMPTY,
    lease: BigInt(w.lease || '0'),
  };
}

/** A wire event as the contract's. DELETE events keep only key and mod revision, as the contract says. */
export function eventFromWire(p: KeyPrefix, e: WireEvent): WatchEvent {
  const kv = kvFromWire(p, e.kv!);
  const ev: WatchEvent =
    e.type === 'DELETE'
      ? {
          type: 'DELETE',
          kv: {
            key: kv.key,
            createRevision: 0,
            modRevision: kv.modRevision,
            version: 0,
            value: EMPTY,
            lease: 0n,
          },
        }
      : { type: 'PUT', kv };
  if (e.prev_kv) ev.prevKv = kvFromWire(p, e.prev_kv);
  return ev;
}

export function rangeToWire(p: KeyPrefix, r: RangeRequest): Record<string, unknown> {
  return withEnd(p, r.rangeEnd, {
    key: p.key(r.key),
    limit: str(r.limit),
    revision: str(r.revision),
    sort_order: r.sortOrder ?? 'NONE',
    sort_target: r.sortTarget ?? 'KEY',
    serializable: r.serializable === true,
    keys_only: r.keysOnly === true,
    count_only: r.countOnly === true,
    min_mod_revision: bound(r.minModRevision),
    max_mod_revision: bound(r.maxModRevision),
    min_create_revision: bound(r.minCreateRevision),
    max_create_revision: bound(r.maxCreateRevision),
  });
}

/** Add the mapped range end to a wire request, when there is one. */
function withEnd(p: KeyPrefix, end: Buffer | undefined, w: Record<string, unknown>): Record<string, unknown> {
  const e = p.rangeEnd(end);
  if (e !== undefined) w.range_end = e;
  return w;
}

export function rangeFromWire(p: KeyPrefix, w: Record<string, unknown>): RangeResponse {
  return {
    header: { revision: headerRevision(w.header as WireHeader) },
    kvs: ((w.kvs as WireKeyValue[] | undefined) ?? []).map((k) => kvFromWire(p, k)),
    more: w.more === true,
    count: num(w.count as string),
  };
}

export function putToWire(p: KeyPrefix, r: PutRequest): Record<string, unknown> {
  return {
    key: p.key(r.key),
    value: r.value ?? EMPTY,
    lease: lease(r.lease),
    prev_kv: r.prevKv === true,
    ignore_value: r.ignoreValue === true,
    ignore_lease: r.ignoreLease === true,
  };
}

export function putFromWire(p: KeyPrefix, w: Record<string, unknown>): PutResponse {
  const res: PutResponse = { header: { revision: headerRevision(w.header as WireHeader) } };
  if (w.prev_kv) res.prevKv = kvFromWire(p, w.prev_kv as WireKeyValue);
  return res;
}

export function deleteToWire(p: KeyPrefix, r: DeleteRangeRequest): Record<string, unknown> {
  return withEnd(p, r.rangeEnd, { key: p.key(r.key), prev_kv: r.prevKv === true });
}

export function deleteFromWire(p: KeyPrefix, w: Record<string, unknown>): DeleteRangeResponse {
  return {
    header: { revision: headerRevision(w.header as WireHeader) },
    deleted: num(w.deleted as string),
    prevKvs: ((w.prev_kvs as WireKeyValue[] | undefined) ?? []).map((k) => kvFromWire(p, k)),
  };
}

function compareToWire(p: KeyPrefix, c: Compare): Record<string, unknown> {
  const w = withEnd(p, c.rangeEnd, { result: c.result, target: c.target, key: p.key(c.key) });
  switch (c.target) {
    case 'VERSION':
      w.version = str(c.version);
      break;
    case 'CREATE':
      w.create_revision = str(c.createRevision);
      break;
    case 'MOD':
      w.mod_revision = str(c.modRevision);
      break;
    case 'VALUE':
      w.value = c.value ?? EMPTY;
      break;
    case 'LEASE':
      w.lease = lease(c.lease);
      break;
  }
  return w;
}

function opToWire(p: KeyPrefix, op: RequestOp): Record<string, unknown> {
  if (op.range) return { request_range: rangeToWire(p, op.range) };
  if (op.put) return { request_put: putToWire(p, op.put) };
  if (op.deleteRange) return { request_delete_range: deleteToWire(p, op.deleteRange) };
  return { request_txn: txnToWire(p, op.txn!) };
}

export function txnToWire(p: KeyPrefix, t: TxnRequest): Record<string, unknown> {
  return {
    compare: (t.compare ?? []).map((c) => compareToWire(p, c)),
    success: (t.success ?? []).map((o) => opToWire(p, o)),
    failure: (t.failure ?? []).map((o) => opToWire(p, o)),
  };
}

function opFromWire(p: KeyPrefix, w: Record<string, unknown>): ResponseOp {
  if (w.response_range) return { range: rangeFromWire(p, w.response_range as Record<string, unknown>) };
  if (w.response_put) return { put: putFromWire(p, w.response_put as Record<string, unknown>) };
  if (w.response_delete_range)
    return { deleteRange: deleteFromWire(p, w.response_delete_range as Record<string, unknown>) };
  return { txn: txnFromWire(p, w.response_txn as Record<string, unknown>) };
}

export function txnFromWire(p: KeyPrefix, w: Record<string, unknown>): TxnResponse {
  return {
    header: { revision: headerRevision(w.header as WireHeader) },
    succeeded: w.succeeded === true,
    responses: ((w.responses as Record<string, unknown>[] | undefined) ?? []).map((r) => opFromWire(p, r)),
  };
}
