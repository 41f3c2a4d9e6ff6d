import type { KeyValue, LeaseId, WatchEvent } from '../contract';
import { fromBin } from '../key-range';
import type { RangeRows } from '../range-finisher';
import type { ChangeCodec } from '../watch-feed';

/** Shared "no lease" value, so unleased records do not each carry a BigInt. */
export const NO_LEASE: LeaseId = 0n;

const EMPTY = Buffer.alloc(0);

/**
 * One version of one key: a put, or a tombstone (`value === null`) that ends a generation.
 *
 * A key's versions form a chain from the newest back through `prev` (across generations, tombstones included)
 * until compaction cuts it. Keys and values are binary strings (see `key-range.ts`): at a million keys, a string
 * costs far less memory than a Buffer object. Kept deliberately small: it is the per-key memory cost.
 *
 * `value` may be an on-disk marker (see {@link diskMarker}) once a durable store has the value on disk: read the
 * content with {@link valueOf}, test for a tombstone with `value === null`.
 */
export class Rec {
  constructor(
    readonly key: string,
    public value: string | null,
    readonly modRev: number,
    readonly createRev: number,
    readonly version: number,
    readonly lease: LeaseId,
    public prev: Rec | null,
  ) {}
}

/** Loads the value of a version whose content lives on disk. */
export type ValueLoader = (r: Rec) => string;

const loaders = new Map<string, ValueLoader>();
let markers = 0;

/**
 * A marker that stands for "the value is on disk; ask `loader`". It starts with U+0100, a char no binary string
 * can contain (they hold 0x00–0xff only), so it can never be mistaken for a real value, and it is one shared string
 * per store, so an offloaded version costs no memory for its value.
 */
export function diskMarker(loader: ValueLoader): string {
  const marker = `\u0100${markers++}`;
  loaders.set(marker, loader);
  return marker;
}

/** Forget a store's marker when it closes. */
export function dropDiskMarker(marker: string): void {
  loaders.delete(marker);
}

/** The content of a live version (null for a tombstone), loading it from disk when it was offloaded. */
export function valueOf(r: Rec): string | null {
  const v = r.value;
  if (v === null || v.length === 0 || v.charCodeAt(0) !== 0x100) return v;
  return loaders.get(v)!(r);
}

/** The newest live version at or below `rev` in a key's chain, or null when the key is absent then. */
export function visibleAt(latest: Rec | null | undefined, rev: number): Rec | null {
  let r = latest ?? null;
  while (r !== null && r.modRev > rev) r = r.prev;
  return r !== null && r.value !== null ? r : null;
}

/** The contract's KeyValue for a live record. `key` may be passed in to reuse the caller's buffer. */
export function toKeyValue(r: Rec, keysOnly = false, key?: Buffer): KeyValue {
  const value = keysOnly ? null : valueOf(r);
  return {
    key: key ?? fromBin(r.key),
    createRevision: r.createRev,
    modRevision: r.modRev,
    version: r.version,
    value: value === null || value.length === 0 ? EMPTY : fromBin(value),
    lease: r.lease,
  };
}

/** The KeyValue of a DELETE event: only the key and the delete revision (docs/etcd-semantics.md#key-metadata). */
export function tombstoneKeyValue(r: Rec): KeyValue {
  return {
    key: fromBin(r.key),
    createRevision: 0,
    modRevision: r.modRev,
    version: 0,
    value: EMPTY,
    lease: NO_LEASE,
  };
}

/** How the range finisher reads versions (keys and values as binary strings, which compare byte-wise). */
export const REC_ROWS: RangeRows<Rec> = {
  key: (r) => r.key,
  value: (r) => valueOf(r) ?? '',
  version: (r) => r.version,
  createRevision: (r) => r.createRev,
  modRevision: (r) => r.modRev,
  toKeyValue: (r, keysOnly) => toKeyValue(r, keysOnly),
};

/** How the watch fan-out reads versions: each one is a change (a put, or a tombstone for a delete). */
export const REC_CHANGES: ChangeCodec<Rec> = {
  key: (r) => r.key,
  isDelete: (r) => r.value === null,
  event(r, withPrevKv) {
    const isDelete = r.value === null;
    const ev: WatchEvent = {
      type: isDelete ? 'DELETE' : 'PUT',
      kv: isDelete ? tombstoneKeyValue(r) : toKeyValue(r),
    };
    // prev_kv: the key at mod_revision - 1 (etcd reads exactly that), unless this put created it or history was
    // compacted. The previous version may be from this same revision (a put then a from-key delete in one txn).
    if (withPrevKv && (isDelete || r.createRev !== r.modRev)) {
      let p = r.prev;
      while (p !== null && p.modRev >= r.modRev) p = p.prev;
      if (p !== null && p.value !== null) ev.prevKv = toKeyValue(p);
    }
    return ev;
  },
};
