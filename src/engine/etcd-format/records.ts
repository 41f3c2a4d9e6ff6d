/**
 * etcd's storage records: the `key` bucket's revision keys and `mvccpb.KeyValue` values, and the `lease` bucket's
 * `leasepb.Lease` values (etcd mvcc/revision.go, mvcc/kvstore_txn.go, lease/leasepb). docs/etcd-maintenance.md
 * describes the layout.
 */
import type { KeyValue } from '../contract';
import type { StoredVersion } from '../history-view';
import { asInt64, FieldWriter, readFields } from './proto-fields';

const TOMBSTONE = 0x74; // 't'

/** The 17-byte revision key (8-byte big-endian main, `_`, 8-byte big-endian sub), plus `t` for a deletion. */
export function revisionKey(main: number, sub: number, tombstone = false): Buffer {
  const b = Buffer.alloc(tombstone ? 18 : 17);
  b.writeBigUInt64BE(BigInt(main), 0);
  b[8] = 0x5f;
  b.writeBigUInt64BE(BigInt(sub), 9);
  if (tombstone) b[17] = TOMBSTONE;
  return b;
}

/** Parse a revision key. */
export function parseRevisionKey(k: Buffer): { main: number; sub: number; tombstone: boolean } {
  if ((k.length !== 17 && k.length !== 18) || k[8] !== 0x5f) throw new Error('malformed revision key');
  return {
    main: Number(k.readBigUInt64BE(0)),
    sub: Number(k.readBigUInt64BE(9)),
    tombstone: k.length === 18 && k[17] === TOMBSTONE,
  };
}

/** `mvccpb.KeyValue` as etcd marshals it (a deletion holds only the key). */
export function encodeKeyValue(kv: KeyValue): Buffer {
  return new FieldWriter()
    .bytes(1, kv.key)
    .int(2, kv.createRevision)
    .int(3, kv.modRevision)
    .int(4, kv.version)
    .bytes(5, kv.value)
    .int(6, kv.lease)
    .finish();
}

const EMPTY = Buffer.alloc(0);

export function decodeKeyValue(buf: Buffer): KeyValue {
  const kv: KeyValue = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n };
  for (const f of readFields(buf)) {
    if (f.bytes !== undefined) {
      if (f.field === 1) kv.key = Buffer.from(f.bytes);
      else if (f.field === 5) kv.value = Buffer.from(f.bytes);
    } else if (f.field === 2) kv.createRevision = Number(asInt64(f.int));
    else if (f.field === 3) kv.modRevision = Number(asInt64(f.int));
    else if (f.field === 4) kv.version = Number(asInt64(f.int));
    else if (f.field === 6) kv.lease = asInt64(f.int);
  }
  return kv;
}

/** A stored version as its bucket entry. */
export function versionEntry(v: StoredVersion): { key: Buffer; value: Buffer } {
  const kv = v.tombstone
    ? { ...v.kv, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n }
    : v.kv;
  return { key: revisionKey(v.main, v.sub, v.tombstone), value: encodeKeyValue(kv) };
}

/** A lease as etcd stores it: 8-byte big-endian ID → `leasepb.Lease{ID, TTL, RemainingTTL}`. */
export interface StoredLease {
  id: bigint;
  ttl: number;
  /** Seconds left when checkpointed; 0 = not recorded (etcd then restarts the full TTL). */
  remainingTtl: number;
}

export function leaseEntry(l: StoredLease): { key: Buffer; value: Buffer } {
  const key = Buffer.alloc(8);
  key.writeBigInt64BE(l.id);
  return { key, value: new FieldWriter().int(1, l.id).int(2, l.ttl).int(3, l.remainingTtl).finish() };
}

export function decodeLease(value: Buffer): StoredLease {
  const l: StoredLease = { id: 0n, ttl: 0, remainingTtl: 0 };
  for (const f of readFields(value)) {
    if (f.bytes !== undefined) continue;
    if (f.field === 1) l.id = asInt64(f.int);
    else if (f.field === 2) l.ttl = Number(asInt64(f.int));
    else if (f.field === 3) l.remainingTtl = Number(asInt64(f.int));
  }
  return l;
}
