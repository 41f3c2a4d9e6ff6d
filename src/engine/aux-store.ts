/**
 * A durable store of small named buckets kept apart from the MVCC key space: etcd keeps its auth state, alarms and
 * membership in bolt buckets of their own, so writing them never bumps the KV revision and never shows up in a
 * range or a watch. statecar does the same; the buckets (and their bytes) are etcd's, so a snapshot carries them
 * unchanged (docs/etcd-maintenance.md).
 */

/** One change: `value` null deletes the entry. */
export interface AuxWrite {
  bucket: string;
  key: Buffer;
  value: Buffer | null;
}

/** An entry of a bucket. */
export interface AuxEntry {
  key: Buffer;
  value: Buffer;
}

/** The capability. Reads are synchronous (callers keep hot state in memory anyway and read it back at start). */
export interface AuxStore {
  /** Every entry of a bucket in byte order of the keys (empty when the bucket has none). */
  entries(bucket: string): AuxEntry[];
  /** Names of the buckets that hold at least one entry, in byte order. */
  buckets(): string[];
  /** Apply the writes atomically; resolves once they are durable (for durable backends). */
  write(writes: AuxWrite[]): Promise<void>;
}

/** Bucket name + key as one map key; the NUL separator cannot occur in a bucket name. */
export function auxMapKey(bucket: string, key: Buffer): string {
  return `${bucket}\0${key.toString('latin1')}`;
}

/** The inverse of {@link auxMapKey}. */
export function splitAuxMapKey(mapKey: string): { bucket: string; key: Buffer } {
  const i = mapKey.indexOf('\0');
  return { bucket: mapKey.slice(0, i), key: Buffer.from(mapKey.slice(i + 1), 'latin1') };
}

/** In-memory buckets: the memory engine's store, and the cache in front of a durable one. */
export class MemoryAuxStore implements AuxStore {
  private readonly data = new Map<string, Map<string, Buffer>>();

  constructor(initial: Iterable<AuxWrite> = []) {
    this.apply(initial);
  }

  entries(bucket: string): AuxEntry[] {
    const b = this.data.get(bucket);
    if (!b) return [];
    return [...b.keys()].sort().map((k) => ({ key: Buffer.from(k, 'latin1'), value: b.get(k)! }));
  }

  buckets(): string[] {
    return [...this.data.entries()]
      .filter(([, b]) => b.size > 0)
      .map(([name]) => name)
      .sort();
  }

  /** Apply in memory only (no durability of its own). */
  apply(writes: Iterable<AuxWrite>): void {
    for (const w of writes) {
      let b = this.data.get(w.bucket);
      if (!b) this.data.set(w.bucket, (b = new Map()));
      const k = w.key.toString('latin1');
      if (w.value === null) b.delete(k);
      else b.set(k, Buffer.from(w.value));
    }
  }

  async write(writes: AuxWrite[]): Promise<void> {
    this.apply(writes);
  }
}

/**
 * Buckets held in memory and written through to a durable backend by `persist` (one atomic write per call). A write
 * shows in memory only once it is durable, so a failed write (a full disk) changes nothing.
 */
export class WriteThroughAuxStore extends MemoryAuxStore {
  constructor(
    initial: Iterable<AuxWrite>,
    private readonly persist: (writes: AuxWrite[]) => Promise<void>,
  ) {
    super(initial);
  }

  override async write(writes: AuxWrite[]): Promise<void> {
    await this.persist(writes);
    this.apply(writes);
  }
}
