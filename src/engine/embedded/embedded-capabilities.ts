/**
 * The embedded engine's optional capabilities (see capabilities.ts): aux buckets, alarms, snapshots, history view
 * and defragmentation, built from the engine's parts.
 */
import type { AlarmStore } from '../alarms';
import type { AuxStore } from '../aux-store';
import type { EngineCapabilities } from '../capabilities';
import type { Lessor } from '../mvcc/lessor';
import { mvccHistoryView, selectVersions, storedVersion } from '../mvcc/mvcc-history';
import type { MvccStore } from '../mvcc/mvcc-store';
import { valueOf, type Rec } from '../mvcc/record';
import type { EngineSnapshot } from '../snapshot';
import type { DurableLog } from './durable-log';

/** The parts of an embedded engine its capabilities read. */
export interface EmbeddedParts {
  store: MvccStore;
  lessor: Lessor;
  aux: AuxStore;
  alarms: AlarmStore;
  /** The revision readers see (durable and delivered). */
  visibleRev: () => number;
  log?: DurableLog;
}

export function embeddedCapabilities(p: EmbeddedParts): EngineCapabilities {
  return {
    aux: p.aux,
    alarms: p.alarms,
    history: mvccHistoryView(p.store, p.visibleRev),
    // In memory there is no file to give space back to; the size estimate already follows compaction.
    defragmenter: { defragment: async () => p.log?.defragment() },
    snapshot: { capture: () => capture(p) },
  };
}

/**
 * Capture the visible state: the version list now (records never change once written, so the list is the point in
 * time) and, in durable mode, a pinned read of the file for the values that live only on disk.
 */
function capture(p: EmbeddedParts): EngineSnapshot {
  const revision = p.visibleRev();
  const compactRevision = p.store.compactRev;
  const pinned = p.log?.pinReads();
  const read: (r: Rec) => string | null = pinned ? pinned.read : valueOf;
  const captured: Array<{ rec: Rec; sub: number }> = [];
  try {
    selectVersions(p.store, { upTo: revision }, (rec, sub) => captured.push({ rec, sub }));
  } catch (err) {
    pinned?.release();
    throw err;
  }
  return {
    revision,
    compactRevision,
    *versions() {
      for (const c of captured) yield storedVersion(c.rec, c.sub, read);
    },
    // Leases restart their full TTL when restored, as in etcd, so no remaining TTL is recorded.
    leases: p.lessor.list().map((l) => ({ id: l.id, ttl: l.ttl, remainingTtl: 0 })),
    aux: p.aux.buckets().map((bucket) => ({ bucket, entries: p.aux.entries(bucket) })),
    release: () => pinned?.release(),
  };
}
