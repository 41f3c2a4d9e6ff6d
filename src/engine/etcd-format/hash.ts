/**
 * etcd's Hash and HashKV (mvcc/kvstore.go `HashByRev`, backend `Hash`): CRC-32C (Castagnoli) over the bytes of the
 * store as etcd lays them out, so the same history hashes the same here and on a real etcd.
 */
import { crc32c } from '@node-rs/crc32';
import { EngineError } from '../errors';
import type { MvccHistoryView } from '../history-view';
import { versionEntry } from './records';

/** A running CRC-32C. */
export class Crc32c {
  private value = 0;

  update(b: Buffer | string): this {
    this.value = crc32c(typeof b === 'string' ? Buffer.from(b, 'latin1') : b, this.value);
    return this;
  }

  digest(): number {
    return this.value >>> 0;
  }
}

export interface HashKvResult {
  hash: number;
  /** The compaction point (-1 before any compaction). */
  compactRevision: number;
  /** The current revision (what etcd puts in the header, not the hashed one). */
  currentRevision: number;
}

/**
 * HashKV at `revision` (0 = current): the bucket name `key`, then every revision key and KeyValue up to `revision`,
 * versions at or below the compaction point only if a compaction at `revision` would keep them.
 */
export function hashKV(view: MvccHistoryView, revision: number): HashKvResult {
  const compactRevision = view.compactRevision();
  const currentRevision = view.currentRevision();
  if (revision > 0 && revision <= compactRevision) throw new EngineError('COMPACTED');
  if (revision > currentRevision) throw new EngineError('FUTURE_REV');
  const rev = revision === 0 ? currentRevision : revision;
  const h = new Crc32c().update('key');
  view.forEachVersion({ upTo: rev, keptAt: rev }, (v) => {
    const e = versionEntry(v);
    h.update(e.key).update(e.value);
  });
  return { hash: h.digest(), compactRevision, currentRevision };
}

/** A bucket of the store as etcd lays it out: name and entries in key order. */
export interface Bucket {
  name: string;
  entries(): Iterable<{ key: Buffer; value: Buffer }>;
}

/** Hash over whole buckets (in name order): etcd's backend Hash, which leaves out `meta`/`consistent_index`. */
export function hashBuckets(buckets: Bucket[]): number {
  const h = new Crc32c();
  for (const b of [...buckets].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    h.update(b.name);
    for (const e of b.entries()) {
      if (b.name === 'meta' && e.key.toString('latin1') === 'consistent_index') continue;
      h.update(e.key).update(e.value);
    }
  }
  return h.digest();
}
