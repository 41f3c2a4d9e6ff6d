/**
 * Point-in-time copies of a whole store, for etcd's Maintenance.Snapshot (and the restore that reads them back).
 * A snapshot is captured at once and read at leisure: writes, compactions and defragmentation after the capture do
 * not change what it shows. See docs/etcd-maintenance.md.
 */
import type { AuxEntry } from './aux-store';
import type { StoredLease } from './etcd-format/records';
import type { StoredVersion } from './history-view';

/** A captured snapshot. Call {@link release} when done (it may pin disk state). */
export interface EngineSnapshot {
  /** The revision it shows. */
  readonly revision: number;
  /** The compaction point then; -1 before any compaction. */
  readonly compactRevision: number;
  /** Every stored version in (main, sub) order; may be iterated more than once. */
  versions(): Iterable<StoredVersion>;
  readonly leases: readonly StoredLease[];
  /** Aux buckets (auth, alarms, ...) with their entries in key order. */
  readonly aux: ReadonlyArray<{ bucket: string; entries: AuxEntry[] }>;
  release(): void;
}

/** The capability. */
export interface SnapshotSource {
  capture(): EngineSnapshot;
}

/** Everything a restore writes into a fresh store. */
export interface SnapshotContent {
  revision: number;
  compactRevision: number;
  versions: Iterable<StoredVersion>;
  leases: StoredLease[];
  aux: Array<{ bucket: string; entries: AuxEntry[] }>;
}
