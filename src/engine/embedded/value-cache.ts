import type { Rec } from '../mvcc/record';

/**
 * Bytes charged per cached value on top of its length: the V8 string header (~16–24 B) and the queue slot (8 B).
 * An estimate, so that a cache of many tiny values is still bounded in memory, not only in value bytes.
 */
export const CACHE_ENTRY_OVERHEAD = 32;

/**
 * A bounded cache of durable values, kept in the versions themselves.
 *
 * A durable version normally holds only the store's on-disk marker as its value (see `DurableLog.offload`), so a
 * read costs an LMDB get and an unpack. When a read loads a value, {@link admit} puts the content back into the
 * version's `value` field, so the next read of that version is an ordinary in-memory read: a hit costs nothing,
 * not even a lookup. A (revision, key) version never changes, so an entry never needs invalidating; it is only
 * evicted (its `value` set back to the marker) or dropped when compaction removes the version.
 *
 * Eviction is FIFO in order of admission. An evicted hot value is re-admitted by its next read, so a working set
 * that fits stays in memory; FIFO needs no bookkeeping on a hit (LRU would, and a hit never reaches the cache).
 * Values loaded by a read are admitted, and so is a new version of a key whose previous version is cached (a hot
 * key stays hot across overwrites). Other writes are not, so bulk loading costs no memory here.
 *
 * Memory: each entry costs its value (one byte per char) plus {@link CACHE_ENTRY_OVERHEAD}; the total is kept
 * at or under `maxBytes`. A value over an eighth of `maxBytes` is not cached, so one large value cannot flush the
 * hot set.
 */
export class ValueCache {
  /** Cached versions, oldest admission first, from `head` on (slots before `head` are already evicted). */
  private queue: Array<Rec | undefined> = [];
  private head = 0;
  private used = 0;
  private readonly maxEntryBytes: number;

  /**
   * @param marker the store's on-disk marker, put back into a version's `value` when it is evicted
   * @param maxBytes the bound (0 = cache nothing)
   */
  constructor(
    private readonly marker: string,
    private readonly maxBytes: number,
  ) {
    this.maxEntryBytes = Math.floor(maxBytes / 8);
  }

  /** Bytes currently charged (values + per-entry overhead). */
  get bytes(): number {
    return this.used;
  }

  /** Versions currently cached. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /**
   * Keep `value`, the content of durable version `r` (not cached yet), in `r` itself, evicting the oldest entries
   * to make room. Returns false, changing nothing, for a value too large for the cache.
   */
  admit(r: Rec, value: string): boolean {
    const cost = value.length + CACHE_ENTRY_OVERHEAD;
    if (cost > this.maxEntryBytes) return false;
    while (this.used + cost > this.maxBytes) this.evictOldest();
    r.value = value;
    this.queue.push(r);
    this.used += cost;
    return true;
  }

  /** Forget versions that compaction removed from the store, so their values do not hold memory or budget. */
  drop(removed: readonly Rec[]): void {
    if (this.size === 0 || removed.length === 0) return;
    const gone = new Set(removed);
    const kept: Rec[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const r = this.queue[i]!;
      if (gone.has(r)) this.release(r);
      else kept.push(r);
    }
    this.queue = kept;
    this.head = 0;
  }

  private evictOldest(): void {
    const r = this.queue[this.head]!;
    this.queue[this.head++] = undefined;
    this.release(r);
    // Reclaim the evicted prefix now and then (amortised O(1) per eviction).
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private release(r: Rec): void {
    this.used -= r.value!.length + CACHE_ENTRY_OVERHEAD;
    r.value = this.marker;
  }
}
