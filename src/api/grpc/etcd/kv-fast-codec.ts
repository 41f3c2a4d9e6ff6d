/**
 * Hand-written codecs for etcd KV Range and Put, the hot etcd calls (see ../wire/fast-codecs.ts for the fallback
 * to proto-loader). Requests decode to the objects proto-loader produces with {@link ETCD_PROTO_LOADER_OPTIONS}
 * (int64 as decimal strings, enums by name, defaults filled in); responses encode to the bytes protobufjs writes
 * for the objects codec.ts builds, header identity included, without parsing each int64 string into a Long.
 */
import { EMPTY_BYTES, FastPathMiss, ProtoReader } from '../wire/proto-reader';
import { delimitedSize, ProtoWriter, varintSize } from '../wire/proto-writer';
import type { FastCodec } from '../wire/fast-codecs';
import { smallDecimal, uint64Varint } from '../wire/int64-text';
import type { WireKeyValue, WirePutRequest, WireRangeRequest, WireResponseHeader } from './wire-types';

const MISS = new FastPathMiss();

/** etcdserverpb.RangeRequest.SortOrder names by number. */
const SORT_ORDER_NAMES: readonly string[] = ['NONE', 'ASCEND', 'DESCEND'];
/** etcdserverpb.RangeRequest.SortTarget names by number. */
const SORT_TARGET_NAMES: readonly string[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];

/** An enum as proto-loader's `enums: String` gives it: the name, or the number when it has none. */
function enumName(r: ProtoReader, names: readonly string[]): string | number {
  const n = r.uint32() | 0;
  return names[n] ?? n;
}

/** An int64 as `longs: String` gives it (small non-negative values only; others miss). */
function int64Text(r: ProtoReader): string {
  return String(r.smallInt64());
}

/** RangeRequest bytes → the proto-loader object. */
export function decodeRangeRequest(buf: Buffer): WireRangeRequest {
  const r = new ProtoReader(buf);
  const out: WireRangeRequest = {
    key: EMPTY_BYTES,
    range_end: EMPTY_BYTES,
    limit: '0',
    revision: '0',
    sort_order: 'NONE',
    sort_target: 'KEY',
    serializable: false,
    keys_only: false,
    count_only: false,
    min_mod_revision: '0',
    max_mod_revision: '0',
    min_create_revision: '0',
    max_create_revision: '0',
  };
  while (r.more()) {
    switch (r.uint32()) {
      case 10:
        out.key = r.bytes();
        break;
      case 18:
        out.range_end = r.bytes();
        break;
      case 24:
        out.limit = int64Text(r);
        break;
      case 32:
        out.revision = int64Text(r);
        break;
      case 40:
        out.sort_order = enumName(r, SORT_ORDER_NAMES);
        break;
      case 48:
        out.sort_target = enumName(r, SORT_TARGET_NAMES);
        break;
      case 56:
        out.serializable = r.bool();
        break;
      case 64:
        out.keys_only = r.bool();
        break;
      case 72:
        out.count_only = r.bool();
        break;
      case 80:
        out.min_mod_revision = int64Text(r);
        break;
      case 88:
        out.max_mod_revision = int64Text(r);
        break;
      case 96:
        out.min_create_revision = int64Text(r);
        break;
      case 104:
        out.max_create_revision = int64Text(r);
        break;
      default:
        throw MISS;
    }
  }
  return out;
}

/** PutRequest bytes → the proto-loader object. */
export function decodePutRequest(buf: Buffer): WirePutRequest {
  const r = new ProtoReader(buf);
  const out: WirePutRequest = {
    key: EMPTY_BYTES,
    value: EMPTY_BYTES,
    lease: '0',
    prev_kv: false,
    ignore_value: false,
    ignore_lease: false,
  };
  while (r.more()) {
    switch (r.uint32()) {
      case 10:
        out.key = r.bytes();
        break;
      case 18:
        out.value = r.bytes();
        break;
      case 24:
        out.lease = int64Text(r);
        break;
      case 32:
        out.prev_kv = r.bool();
        break;
      case 40:
        out.ignore_value = r.bool();
        break;
      case 48:
        out.ignore_lease = r.bool();
        break;
      default:
        throw MISS;
    }
  }
  return out;
}

// --- responses

/**
 * An optional int64 field's value for encoding: -1 when absent (not written), else its value; misses on anything
 * but a short decimal string or a safe non-negative integer (protobufjs's Long parsing handles the rest).
 */
function int64Field(v: unknown): number {
  if (v === undefined || v === null) return -1;
  const n =
    typeof v === 'string' ? smallDecimal(v) : typeof v === 'number' && Number.isSafeInteger(v) ? v : -1;
  if (n < 0) throw MISS;
  return n;
}

/** Size of a varint field with a one-byte tag, or 0 when absent. */
function varintFieldSize(n: number): number {
  return n < 0 ? 0 : 1 + varintSize(n);
}

function writeVarintField(w: ProtoWriter, tag: number, n: number): void {
  if (n < 0) return;
  w.buf[w.pos++] = tag;
  w.varint(n);
}

/**
 * The identity part of a header (cluster_id = 1, member_id = 2 before the revision; raft_term = 4 after it),
 * encoded once per distinct set of strings: the header factory hands out the same strings on every call.
 */
interface IdentityBytes {
  clusterId: unknown;
  memberId: unknown;
  raftTerm: unknown;
  before: Buffer;
  after: Buffer;
}

let identityCache: IdentityBytes | undefined;

function uint64FieldBytes(tag: number, v: unknown): Buffer {
  if (v === undefined || v === null) return EMPTY_BYTES;
  const varint = typeof v === 'string' ? uint64Varint(v) : undefined;
  if (!varint) throw MISS;
  return Buffer.concat([Buffer.from([tag]), varint]);
}

function identityBytes(h: WireResponseHeader): IdentityBytes {
  const c = identityCache;
  if (c && c.clusterId === h.cluster_id && c.memberId === h.member_id && c.raftTerm === h.raft_term) return c;
  const fresh: IdentityBytes = {
    clusterId: h.cluster_id,
    memberId: h.member_id,
    raftTerm: h.raft_term,
    before: Buffer.concat([uint64FieldBytes(8, h.cluster_id), uint64FieldBytes(16, h.member_id)]),
    after: uint64FieldBytes(32, h.raft_term),
  };
  identityCache = fresh;
  return fresh;
}

/** A header ready to write: its identity bytes, its revision (-1 = absent) and its content size. */
interface HeaderPlan {
  id: IdentityBytes;
  revision: number;
  size: number;
}

function planHeader(h: unknown): HeaderPlan | undefined {
  if (h === undefined || h === null) return undefined;
  if (typeof h !== 'object') throw MISS;
  const header = h as WireResponseHeader;
  const id = identityBytes(header);
  const revision = int64Field(header.revision);
  return { id, revision, size: id.before.length + varintFieldSize(revision) + id.after.length };
}

function writeHeader(w: ProtoWriter, p: HeaderPlan): void {
  w.buf[w.pos++] = 10;
  w.varint(p.size);
  w.raw(p.id.before);
  writeVarintField(w, 24, p.revision);
  w.raw(p.id.after);
}

/** A KeyValue ready to write: its bytes fields, int64 fields (-1 = absent) and content size. */
interface KvPlan {
  key: Buffer | undefined;
  value: Buffer | undefined;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
  size: number;
}

function optBuffer(v: unknown): Buffer | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Buffer.isBuffer(v)) throw MISS;
  return v;
}

function planKv(kv: unknown): KvPlan {
  if (typeof kv !== 'object' || kv === null) throw MISS;
  const k = kv as WireKeyValue;
  const key = optBuffer(k.key);
  const value = optBuffer(k.value);
  const createRevision = int64Field(k.create_revision);
  const modRevision = int64Field(k.mod_revision);
  const version = int64Field(k.version);
  const lease = int64Field(k.lease);
  const size =
    (key ? delimitedSize(key.length) : 0) +
    varintFieldSize(createRevision) +
    varintFieldSize(modRevision) +
    varintFieldSize(version) +
    (value ? delimitedSize(value.length) : 0) +
    varintFieldSize(lease);
  return { key, value, createRevision, modRevision, version, lease, size };
}

/** mvccpb.KeyValue fields in protobufjs's order: key 1, create 2, mod 3, version 4, value 5, lease 6. */
function writeKv(w: ProtoWriter, tag: number, p: KvPlan): void {
  w.buf[w.pos++] = tag;
  w.varint(p.size);
  if (p.key) w.bytesField(10, p.key);
  writeVarintField(w, 16, p.createRevision);
  writeVarintField(w, 24, p.modRevision);
  writeVarintField(w, 32, p.version);
  if (p.value) w.bytesField(42, p.value);
  writeVarintField(w, 48, p.lease);
}

/** A bool field as protobufjs writes it: present (even false) unless null/undefined. -1 = absent. */
function boolField(v: unknown): number {
  if (v === undefined || v === null) return -1;
  if (typeof v !== 'boolean') throw MISS;
  return v ? 1 : 0;
}

/** RangeResponse object → bytes: header 1, kvs 2, more 3, count 4. */
export function encodeRangeResponse(value: object): Buffer | undefined {
  const v = value as { header?: unknown; kvs?: unknown; more?: unknown; count?: unknown };
  const header = planHeader(v.header);
  if (v.kvs !== undefined && v.kvs !== null && !Array.isArray(v.kvs)) return undefined;
  const kvs = ((v.kvs as unknown[] | undefined) ?? []).map(planKv);
  const more = boolField(v.more);
  const count = int64Field(v.count);
  let size = (header ? delimitedSize(header.size) : 0) + varintFieldSize(more) + varintFieldSize(count);
  for (const kv of kvs) size += delimitedSize(kv.size);
  const w = new ProtoWriter(size);
  if (header) writeHeader(w, header);
  for (const kv of kvs) writeKv(w, 18, kv);
  writeVarintField(w, 24, more);
  writeVarintField(w, 32, count);
  return w.finish();
}

/** PutResponse object → bytes: header 1, prev_kv 2. */
export function encodePutResponse(value: object): Buffer | undefined {
  const v = value as { header?: unknown; prev_kv?: unknown };
  const header = planHeader(v.header);
  const prev = v.prev_kv === undefined || v.prev_kv === null ? undefined : planKv(v.prev_kv);
  const size = (header ? delimitedSize(header.size) : 0) + (prev ? delimitedSize(prev.size) : 0);
  const w = new ProtoWriter(size);
  if (header) writeHeader(w, header);
  if (prev) writeKv(w, 18, prev);
  return w.finish();
}

/** Fast codecs of `etcdserverpb.KV`, by method name. */
export const KV_FAST_CODECS: Record<string, FastCodec> = {
  Range: { decodeRequest: decodeRangeRequest, encodeResponse: encodeRangeResponse },
  Put: { decodeRequest: decodePutRequest, encodeResponse: encodePutResponse },
};
