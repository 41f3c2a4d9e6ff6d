/**
 * etcd snapshot files: a bbolt database with etcd's buckets, streamed with a SHA-256 of its bytes appended (what
 * `etcdctl snapshot save` writes and `snapshot status` / `snapshot restore` read), and the reading back of such a
 * file into a {@link SnapshotContent}. See docs/etcd-maintenance.md for the buckets.
 */
import { createHash } from 'node:crypto';
import type { AuxEntry } from '../aux-store';
import type { StoredVersion } from '../history-view';
import type { EngineSnapshot, SnapshotContent } from '../snapshot';
import { BoltFormatError, BoltReader, planBolt, writeBolt, type BoltBucket, type BoltEntry } from './bbolt';
import { hashBuckets } from './hash';
import {
  decodeKeyValue,
  decodeLease,
  leaseEntry,
  parseRevisionKey,
  revisionKey,
  versionEntry,
} from './records';

/** Aux buckets a snapshot carries over into a restored store (membership is the restoring member's own). */
export const RESTORED_AUX_BUCKETS = ['alarm', 'auth', 'authRoles', 'authUsers'];

/** What the serving side adds: its membership records and its applied index. */
export interface SnapshotExtras {
  /** `members` bucket entries (hex member ID → member JSON). */
  members: BoltEntry[];
  /** etcd's `consistent_index` (the applied raft index). */
  consistentIndex: number;
  /** `cluster` bucket's `clusterVersion`, e.g. `3.4.0`. */
  clusterVersion: string;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function fixed(name: string, entries: BoltEntry[]): BoltBucket {
  const sorted = [...entries].sort((a, b) => Buffer.compare(a.key, b.key));
  return { name, entries: () => sorted };
}

/** The buckets of a snapshot, as etcd lays them out. */
export function snapshotBuckets(snap: EngineSnapshot, extras: SnapshotExtras): BoltBucket[] {
  const meta: BoltEntry[] = [{ key: Buffer.from('consistent_index'), value: u64(extras.consistentIndex) }];
  if (snap.compactRevision > 0) {
    const rev = revisionKey(snap.compactRevision, 0);
    meta.push({ key: Buffer.from('finishedCompactRev'), value: rev });
    meta.push({ key: Buffer.from('scheduledCompactRev'), value: rev });
  }
  const byName = new Map<string, BoltBucket>([
    ['key', { name: 'key', entries: () => mapIter(snap.versions(), versionEntry) }],
    ['lease', fixed('lease', snap.leases.map(leaseEntry))],
    ['meta', fixed('meta', meta)],
    [
      'cluster',
      fixed('cluster', [{ key: Buffer.from('clusterVersion'), value: Buffer.from(extras.clusterVersion) }]),
    ],
    ['members', fixed('members', extras.members)],
    ['members_removed', fixed('members_removed', [])],
    ['alarm', fixed('alarm', [])],
    ['auth', fixed('auth', [])],
    ['authRoles', fixed('authRoles', [])],
    ['authUsers', fixed('authUsers', [])],
  ]);
  for (const { bucket, entries } of snap.aux) {
    if (bucket === 'key' || bucket === 'lease' || bucket === 'meta') continue;
    byName.set(bucket, fixed(bucket, entries));
  }
  return [...byName.values()];
}

function* mapIter<T, U>(it: Iterable<T>, f: (t: T) => U): Generator<U> {
  for (const x of it) yield f(x);
}

/** etcd's whole-store Hash over a snapshot's buckets. */
export function snapshotHash(snap: EngineSnapshot, extras: SnapshotExtras): number {
  return hashBuckets(snapshotBuckets(snap, extras));
}

/** A planned snapshot file: its size, then its bytes (a node at a time) followed by the SHA-256 trailer. */
export interface SnapshotStream {
  /** Bytes of the bbolt file, without the 32-byte trailer. */
  size: number;
  /** The file in order, then the 32-byte SHA-256 of everything before it. */
  chunks(): Generator<Buffer>;
}

export function snapshotStream(snap: EngineSnapshot, extras: SnapshotExtras): SnapshotStream {
  const buckets = snapshotBuckets(snap, extras);
  const plan = planBolt(buckets);
  return {
    size: plan.pages * 4096,
    *chunks() {
      const sha = createHash('sha256');
      for (const b of writeBolt(buckets, plan)) {
        sha.update(b);
        yield b;
      }
      yield sha.digest();
    },
  };
}

/** Why a snapshot file cannot be restored, with etcd's wording where etcd has one. */
export class SnapshotFileError extends Error {}

/** Go's `%v` of a byte slice: `[1 2 3]`. */
function goBytes(b: Buffer): string {
  return `[${[...b].join(' ')}]`;
}

/**
 * Check a saved snapshot's SHA-256 trailer (etcd `snapshot restore`) and return the database bytes without it.
 * A file without a trailer is refused unless `skipHashCheck` (then it is read whole, as a bare database file).
 */
export function verifySnapshotFile(file: Buffer, skipHashCheck = false): Buffer {
  const hasHash = file.length % 512 === 32;
  if (!hasHash) {
    if (!skipHashCheck) throw new SnapshotFileError('snapshot missing hash but --skip-hash-check=false');
    return file;
  }
  const db = file.subarray(0, file.length - 32);
  if (!skipHashCheck) {
    const want = file.subarray(file.length - 32);
    const got = createHash('sha256').update(db).digest();
    if (!want.equals(got))
      throw new SnapshotFileError(`expected sha256 ${goBytes(want)}, got ${goBytes(got)}`);
  }
  return db;
}

/** Read an etcd database (a snapshot without its trailer) into what a restore writes. */
export function readSnapshotDatabase(db: Buffer): SnapshotContent {
  try {
    const bolt = new BoltReader(db);
    const versions: StoredVersion[] = [];
    const hasKeys = bolt.forEach('key', (k, v) => {
      const r = parseRevisionKey(k);
      versions.push({ ...r, kv: decodeKeyValue(v) });
    });
    if (!hasKeys) throw new SnapshotFileError('not an etcd snapshot: no "key" bucket');
    const leases = [] as SnapshotContent['leases'];
    bolt.forEach('lease', (_k, v) => leases.push(decodeLease(v)));
    let compactRevision = -1;
    bolt.forEach('meta', (k, v) => {
      if (k.toString() === 'finishedCompactRev') compactRevision = parseRevisionKey(v).main;
    });
    const aux: Array<{ bucket: string; entries: AuxEntry[] }> = [];
    for (const bucket of RESTORED_AUX_BUCKETS) {
      const entries: AuxEntry[] = [];
      bolt.forEach(bucket, (key, value) =>
        entries.push({ key: Buffer.from(key), value: Buffer.from(value) }),
      );
      if (entries.length > 0) aux.push({ bucket, entries });
    }
    const last = versions.length > 0 ? versions[versions.length - 1].main : 1;
    return { revision: Math.max(last, compactRevision, 1), compactRevision, versions, leases, aux };
  } catch (err) {
    if (err instanceof SnapshotFileError) throw err;
    if (err instanceof BoltFormatError)
      throw new SnapshotFileError(`snapshot file integrity check failed: ${err.message}`);
    throw new SnapshotFileError(`snapshot file integrity check failed: ${(err as Error).message}`);
  }
}
