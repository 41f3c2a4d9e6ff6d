/**
 * A read-only view of an engine's MVCC history in etcd's storage order, for Hash, HashKV and snapshots. It is the
 * only way that code reads the store, so the store's in-memory layout can change without touching them.
 */
import type { KeyValue } from './contract';

/** One stored version: what etcd keeps under one key of its `key` bucket. */
export interface StoredVersion {
  /** The revision of the change. */
  main: number;
  /** Its position among the changes of that revision, from 0. */
  sub: number;
  /** A deletion: `kv` then carries only the key. */
  tombstone: boolean;
  kv: KeyValue;
}

export interface VersionFilter {
  /** Only versions at or below this revision. */
  upTo: number;
  /**
   * etcd's HashKV rule: versions at or below the compaction point are visited only if a compaction at this revision
   * would keep them (the newest version at or below it of a key live then), unless no key is live then at all.
   */
  keptAt?: number;
}

/** The capability. Iteration is synchronous: it sees one consistent state. */
export interface MvccHistoryView {
  /** The newest revision readers can see. */
  currentRevision(): number;
  /** The compaction point; -1 before any compaction. */
  compactRevision(): number;
  /** Every stored version passing the filter, in (main, sub) order. */
  forEachVersion(filter: VersionFilter, visit: (v: StoredVersion) => void): void;
}
