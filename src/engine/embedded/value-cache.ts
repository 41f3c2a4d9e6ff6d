/**
 * Bytes charged per cached value on top of its length: the V8 string header (~16–24 B), the map entry and the
 * queue slot. An estimate, so that a cache of many tiny values is still bounded in memory, not only in value bytes.
 */
export const CACHE_ENTRY_OVERHEAD = 48;

/**
 * A bounded cache of durable values, by version id.
 *
 * A durable version's value normally lives only on disk (see `DurableLog.offload`), so a read costs an LMDB get and
 * an unpack. When a read loads a value, {@link admit} keeps it here, so the next read of that version is a map
 * lookup. A (revision, key) version never changes, so an entry never needs invalidating; it is only evicted, or
 * dropped when compaction removes the version ({@link forget}), or moved when the store renumbers its versions
 * ({@link remap}).
 *
 * Eviction is FIFO in order of admission. An evicted hot value is re-admitted by its next read, so a working set
 * that fits stays in memory; FIFO needs no bookkeeping on a hit. Values loaded by a read are admitted, and so is a
 * new version of a key whose previous version is cached (a hot key stays hot across overwrites). Other writes are
 * not, so bulk loading costs no memory here.
 *
 * Memory: each entry costs its value (one byte per char) plus {@link CACHE_ENTRY_OVERHEAD}; the total is kept at
 * or under `maxBytes`. The admission queue holds at most twice the entries plus a constant (forgotten entries are
 * swept out of it), so the cache's own bookkeeping is bounded too. A value over an eighth of `maxBytes` is not
 * cached, so one large value cannot flush the hot set.
 */
export class ValueCache {
  private readonly entries = new Map<number, string>();
  /** Version ids in admission order from `head` on; ids no longer in `entries` are skipped. */
  private queue: number[] = [];
  private head = 0;
  private used = 0;
  private readonly maxEntryBytes: number;

  /** @param maxBytes the bound (0 = cache nothing) */
  constructor(private readonly maxBytes: number) {
    this.maxEntryBytes = Math.floor(maxBytes / 8);
  }

  /** Bytes currently charged (values + per-entry overhead). */
  get bytes(): number {
    return this.used;
  }

  /** Versions currently cached. */
  get size(): number {
    return this.entries.size;
  }

  get(id: number): string | undefined {
    return this.entries.get(id);
  }

  has(id: number): boolean {
    return this.entries.has(id);
  }

  /**
   * Keep `value`, the content of durable version `id` (not cached yet), evicting the oldest entries to make room.
   * Returns false, changing nothing, for a value too large for the cache.
   */
  admit(id: number, value: string): boolean {
    const cost = value.length + CACHE_ENTRY_OVERHEAD;
    if (cost > this.maxEntryBytes || this.entries.has(id)) return false;
    while (this.used + cost > this.maxBytes) this.evictOldest();
    this.entries.set(id, value);
    this.queue.push(id);
    this.used += cost;
    return true;
  }

  /** Forget a version that compaction removed, so its value holds no memory or budget. */
  forget(id: number): void {
    const value = this.entries.get(id);
    if (value === undefined) return;
    this.entries.delete(id);
    this.used -= value.length + CACHE_ENTRY_OVERHEAD;
    if (this.queue.length - this.head > 2 * this.entries.size + 1024) this.sweep();
  }

  /** The store renumbered its versions (old id → new id, -1 = gone). */
  remap(map: Int32Array): void {
    const moved = new Map<number, string>();
    for (const [id, value] of this.entries) {
      const to = id < map.length ? map[id] : -1;
      if (to >= 0) moved.set(to, value);
      else this.used -= value.length + CACHE_ENTRY_OVERHEAD;
    }
    const queue: number[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const id = this.queue[i];
      const to = id < map.length ? map[id] : -1;
      if (to >= 0 && this.entries.has(id)) queue.push(to);
    }
    this.entries.clear();
    for (const [id, value] of moved) this.entries.set(id, value);
    this.queue = queue;
    this.head = 0;
  }

  private evictOldest(): void {
    for (;;) {
      const id = this.queue[this.head++];
      const value = this.entries.get(id);
      if (value === undefined) continue;
      this.entries.delete(id);
      this.used -= value.length + CACHE_ENTRY_OVERHEAD;
      break;
    }
    // Reclaim the evicted prefix now and then (amortised O(1) per eviction).
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Drop forgotten ids from the queue (keeping each live id's first slot). */
  private sweep(): void {
    const seen = new Set<number>();
    const queue: number[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const id = this.queue[i];
      if (this.entries.has(id) && !seen.has(id)) {
        seen.add(id);
        queue.push(id);
      }
    }
    this.queue = queue;
    this.head = 0;
  }
}
