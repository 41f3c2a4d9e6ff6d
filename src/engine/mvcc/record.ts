import type { KeyValue, LeaseId, WatchEvent } from '../contract';
import { fromBin } from '../key-range';
import type { ChangeCodec } from '../watch-feed';
import { NO_LEASE } from './version-table';

export { NO_LEASE } from './version-table';

const EMPTY = Buffer.alloc(0);

/**
 * One version of one key read out of the packed store (`version-table.ts`): a put, or a tombstone
 * (`value === null`) that ends a generation. The store keeps no objects per version; a Rec is made for what leaves
 * it as a unit — a write's changes (watch fan-out, the durable log), watch replay, snapshots — and holds copies, so
 * it stays valid whatever the store does afterwards.
 *
 * Keys and values are binary strings (see `key-range.ts`). `value` may be a durable store's on-disk marker (see
 * {@link diskMarker}): read the content with {@link valueOf}, test for a tombstone with `value === null`.
 *
 * `id` is the version's id in the store while the store's `epoch` is still `epoch` (compaction renumbers ids and
 * moves the epoch on): it lets the store find the version again without a lookup.
 */
export class Rec {
  constructor(
    readonly key: string,
    readonly value: string | null,
    readonly modRev: number,
    readonly createRev: number,
    readonly version: number,
    readonly lease: LeaseId,
    readonly id: number = -1,
    readonly epoch: number = -1,
  ) {}
}

/** The fields of a version, as read back from disk or from a snapshot. */
export type VersionFields = Pick<Rec, 'key' | 'value' | 'modRev' | 'createRev' | 'version' | 'lease'>;

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

/** The content of a version (null for a tombstone), loading it from disk when it was offloaded. */
export function valueOf(r: Rec): string | null {
  const v = r.value;
  if (v === null || v.length === 0 || v.charCodeAt(0) !== 0x100) return v;
  return loaders.get(v)!(r);
}

/** The contract's KeyValue for a live record. */
export function toKeyValue(r: Rec, keysOnly = false): KeyValue {
  const value = keysOnly ? null : valueOf(r);
  return {
    key: fromBin(r.key),
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

/** What the watch codec needs of the store: the key's state just before a change, for prev_kv. */
export interface PrevReader {
  /** The key's live version at `rev`, or null (absent, or compacted away). */
  liveRecAt(key: string, rev: number): Rec | null;
}

/** How the watch fan-out reads versions: each one is a change (a put, or a tombstone for a delete). */
export function recChanges(store: PrevReader): ChangeCodec<Rec> {
  return {
    key: (r) => r.key,
    isDelete: (r) => r.value === null,
    event(r, withPrevKv) {
      const isDelete = r.value === null;
      const ev: WatchEvent = {
        type: isDelete ? 'DELETE' : 'PUT',
        kv: isDelete ? tombstoneKeyValue(r) : toKeyValue(r),
      };
      // prev_kv: the key at mod_revision - 1 (etcd reads exactly that), unless this put created it or history was
      // compacted. Earlier changes of the same key in the same revision are not it (a put then a from-key delete).
      if (withPrevKv && (isDelete || r.createRev !== r.modRev)) {
        const p = store.liveRecAt(r.key, r.modRev - 1);
        if (p !== null) ev.prevKv = toKeyValue(p);
      }
      return ev;
    },
  };
}
