/**
 * The embedded store's {@link MvccHistoryView} and snapshot versions: the MVCC store read in etcd's storage order.
 */
import type { KeyValue } from '../contract';
import type { MvccHistoryView, StoredVersion, VersionFilter } from '../history-view';
import { fromBin } from '../key-range';
import type { MvccStore } from './mvcc-store';
import { NO_LEASE, valueOf, type Rec } from './record';

const EMPTY = Buffer.alloc(0);

/** A version as {@link StoredVersion}; `value` reads a live version's content (default: from the store). */
export function storedVersion(
  rec: Rec,
  sub: number,
  value: (r: Rec) => string | null = valueOf,
): StoredVersion {
  const key = fromBin(rec.key);
  if (rec.value === null) {
    const kv: KeyValue = {
      key,
      createRevision: 0,
      modRevision: 0,
      version: 0,
      value: EMPTY,
      lease: NO_LEASE,
    };
    return { main: rec.modRev, sub, tombstone: true, kv };
  }
  const v = value(rec);
  return {
    main: rec.modRev,
    sub,
    tombstone: false,
    kv: {
      key,
      createRevision: rec.createRev,
      modRevision: rec.modRev,
      version: rec.version,
      value: v ? fromBin(v) : EMPTY,
      lease: rec.lease,
    },
  };
}

/** The versions to visit for a filter, as (record, sub) pairs. */
export function selectVersions(
  store: MvccStore,
  filter: VersionFilter,
  visit: (rec: Rec, sub: number) => void,
): void {
  const compact = store.compactRev;
  const keptAt = filter.keptAt;
  const checkKept = keptAt !== undefined && store.anyLiveAt(keptAt);
  store.storedVersions(filter.upTo, (rec, sub) => {
    if (checkKept && rec.modRev <= compact && store.liveIdAt(rec.key, keptAt) !== rec.id) return;
    visit(rec, sub);
  });
}

/** The view of an embedded store at its visible revision. */
export function mvccHistoryView(store: MvccStore, visibleRev: () => number): MvccHistoryView {
  return {
    currentRevision: visibleRev,
    compactRevision: () => store.compactRev,
    forEachVersion(filter, visit) {
      selectVersions(store, { ...filter, upTo: Math.min(filter.upTo, visibleRev()) }, (rec, sub) =>
        visit(storedVersion(rec, sub)),
      );
    },
  };
}
