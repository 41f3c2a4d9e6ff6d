import type { KeyValue, LeaseId } from '../contract';
import { fromBin } from '../key-range';

/** Shared "no lease" value, so unleased records do not each carry a BigInt. */
export const NO_LEASE: LeaseId = 0n;

const EMPTY = Buffer.alloc(0);

/**
 * One version of one key: a put, or a tombstone (`value === null`) that ends a generation.
 *
 * A key's versions form a chain from the newest back through `prev` (across generations, tombstones included)
 * until compaction cuts it. Keys and values are binary strings (see `key-range.ts`): at a million keys, a string
 * costs far less memory than a Buffer object. Kept deliberately small: it is the per-key memory cost.
 */
export class Rec {
  constructor(
    readonly key: string,
    readonly value: string | null,
    readonly modRev: number,
    readonly createRev: number,
    readonly version: number,
    readonly lease: LeaseId,
    public prev: Rec | null,
  ) {}
}

/** The newest live version at or below `rev` in a key's chain, or null when the key is absent then. */
export function visibleAt(latest: Rec | null | undefined, rev: number): Rec | null {
  let r = latest ?? null;
  while (r !== null && r.modRev > rev) r = r.prev;
  return r !== null && r.value !== null ? r : null;
}

/** The contract's KeyValue for a live record. `key` may be passed in to reuse the caller's buffer. */
export function toKeyValue(r: Rec, keysOnly = false, key?: Buffer): KeyValue {
  return {
    key: key ?? fromBin(r.key),
    createRevision: r.createRev,
    modRevision: r.modRev,
    version: r.version,
    value: keysOnly || r.value === null || r.value.length === 0 ? EMPTY : fromBin(r.value),
    lease: r.lease,
  };
}

/** The KeyValue of a DELETE event: only the key and the delete revision (etcd.md §2.2). */
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
