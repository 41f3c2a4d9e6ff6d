import { ByteArena, grown, hashBytes, hashStr } from './byte-arena';
import { PagedI32, PagedSmall, PagedU53 } from './paged-array';

/** `latest` of a key id that is free (or waiting to be freed); never a version id. */
const GONE = -2;
/** Key ids below 2^26 share their hash table slot with 5 bits of the key's hash (see KeyIndex.table). */
const TAG_SHIFT = 26;
const TAGS = 31 << TAG_SHIFT;
/** Inserts kept in the small sorted run before it is merged into the large one. */
const RUN_MAX = 2048;

/** The home slot of a 32-bit hash in a table of `size` slots: its top bits scaled to the size (no modulo). */
function slotOf(hash: number, size: number): number {
  // The product may round in its low bits (it is up to 2^63), which moves a slot by one at most: the same hash
  // always gives the same slot, and the clamp keeps the one at the very top inside the table.
  const s = Math.floor((hash * size) / 4294967296);
  return s < size ? s : size - 1;
}

/**
 * Key → newest version id, with byte-ordered iteration (etcd mvcc's `treeIndex`), packed.
 *
 * Every key gets a small integer id. Its bytes are stored once, in a {@link ByteArena}; the id's address and its
 * newest version are in typed arrays. Both indexes hold only ids and read the bytes from the arena:
 * - point lookups: an open-addressing hash table of ids (linear probing, 50–75 % full, deletion by backward
 *   shift, so no tombstones), hashing the probe key with FNV-1a;
 * - order: a large sorted array of ids plus a small sorted run of recent inserts, merged into the large one when
 *   the run is full (block copies between binary searches, O(keys) int moves every {@link RUN_MAX} inserts).
 *   A range scan merges the two.
 *
 * A removed key leaves the hash table at once; its id stays in the sorted arrays, skipped by scans, until the next
 * merge drops it, and only then is it reused, so an id in the sorted arrays always means the key it was given for.
 * About 20 bytes per key plus its bytes, against ~150 for a Map entry, a B-tree entry and a V8 string.
 */
export class KeyIndex {
  private arena = new ByteArena();
  /** Key id → the arena address of its bytes, and their length. */
  private readonly kAddr = new PagedU53();
  private readonly kLen = new PagedSmall();
  /** Key id → newest version id (a tombstone possibly); {@link GONE} for a free id. Read by the store directly. */
  readonly latest = new PagedI32(GONE);
  private ids = 0;
  private free: number[] = [];
  /** Removed ids still in the sorted arrays. */
  private leaving: number[] = [];
  private count = 0;
  /**
   * Any size, not a power of two: grown ×1.5 when 75 % full (back to 50 %), where doubling kept it 25–50 % full.
   * A slot holds a key id and, above it, 5 bits of the key's hash: a probe that meets another key is told apart by
   * those bits 31 times in 32 without reading that key's columns and bytes (cache misses), which keeps a fuller
   * table as fast as a half-empty one. Once ids outgrow 26 bits the tags go (`tags` 0) and every probe compares.
   */
  private table = new Int32Array(16).fill(-1);
  private tags = TAGS;
  private idMask = (1 << TAG_SHIFT) - 1;
  /** Bumped whenever a slot changes: a remembered miss below is good only while it stands. */
  private tableVersion = 0;
  /**
   * The last {@link find} that missed: its key, hash and the empty slot its probe ended at, so the {@link add}
   * that follows (a put of a new key) neither hashes nor probes again.
   */
  private missKey: string | undefined;
  private missHash = 0;
  private missSlot = -1;
  private missVersion = -1;
  private main = new Int32Array(0);
  private mainLen = 0;
  private run = new Int32Array(RUN_MAX);
  private runLen = 0;

  /** Keys held (live or ending in a tombstone). */
  get size(): number {
    return this.count;
  }

  /** The id of a key (binary string), or -1. */
  find(key: string): number {
    const table = this.table;
    const n = key.length;
    const hash = hashStr(key);
    let h = slotOf(hash, table.length);
    const tags = this.tags;
    const tag = (hash << TAG_SHIFT) & tags;
    for (;;) {
      const e = table[h];
      if (e < 0) {
        this.missKey = key;
        this.missHash = hash;
        this.missSlot = h;
        this.missVersion = this.tableVersion;
        return -1;
      }
      if ((e & tags) === tag) {
        const id = e & this.idMask;
        if (this.kLen.get(id) === n && this.arena.equals(this.kAddr.get(id), n, key)) return id;
      }
      if (++h === table.length) h = 0;
    }
  }

  /** The id of a key given as bytes, or -1: the point-read path, with no string made for the key. */
  findBytes(key: Uint8Array): number {
    const table = this.table;
    const n = key.length;
    const hash = hashBytes(key);
    let h = slotOf(hash, table.length);
    const tags = this.tags;
    const tag = (hash << TAG_SHIFT) & tags;
    for (;;) {
      const e = table[h];
      if (e < 0) return -1;
      if ((e & tags) === tag) {
        const id = e & this.idMask;
        if (this.kLen.get(id) === n && this.arena.equalsBytes(this.kAddr.get(id), key)) return id;
      }
      if (++h === table.length) h = 0;
    }
  }

  /** Add a key that is not held yet; returns its id, with no version yet (`latest` -1). */
  add(key: string): number {
    const id = this.free.pop() ?? this.ids++;
    if (id >= this.latest.capacity) {
      const n = id + 1;
      this.kAddr.ensure(n);
      this.kLen.ensure(n);
      this.latest.ensure(n);
    }
    this.arena.put(key, key.length);
    this.kAddr.set(id, this.arena.lastAddr);
    this.kLen.set(id, key.length);
    // Grow before the id counts as held (latest not GONE), or the rehash would put it in and insertSlot again.
    if (id > this.idMask) {
      // Past 2^26 ids: no room for tags any more; rehash without them.
      this.tags = 0;
      this.idMask = 0x7fffffff;
      this.missKey = undefined;
      this.rehash(this.table.length);
    }
    if (++this.count * 4 > this.table.length * 3) this.rehash(this.count * 2);
    this.latest.set(id, -1);
    if (key === this.missKey && this.missVersion === this.tableVersion) {
      this.table[this.missSlot] = id | ((this.missHash << TAG_SHIFT) & this.tags);
      this.tableVersion++;
    } else this.insertSlot(id, key === this.missKey ? this.missHash : hashStr(key));
    this.missKey = undefined;
    this.insertOrdered(id);
    return id;
  }

  /** Remove a key (compaction dropped its last version). */
  remove(id: number): void {
    this.deleteSlot(id);
    this.count--;
    this.latest.set(id, GONE);
    this.arena.free(this.kAddr.get(id), this.kLen.get(id));
    this.leaving.push(id);
    if (this.leaving.length >= RUN_MAX) this.merge();
    if (this.arena.fragmented()) this.repack();
  }

  /** The key of an id, as a binary string. */
  keyOf(id: number): string {
    return this.arena.str(this.kAddr.get(id), this.kLen.get(id));
  }

  /** The key of an id, as a Buffer of its own. */
  keyBuf(id: number): Buffer {
    return this.arena.buf(this.kAddr.get(id), this.kLen.get(id));
  }

  /** Visit the ids of keys in `[lo, hi)` in byte order; `hi === null` means no upper bound. */
  forRange(lo: string, hi: string | null, visit: (id: number) => void): void {
    const main = this.main;
    const run = this.run;
    const latest = this.latest;
    let i = this.lowerBound(main, 0, this.mainLen, lo);
    let j = this.lowerBound(run, 0, this.runLen, lo);
    const mainLen = this.mainLen;
    const runLen = this.runLen;
    for (;;) {
      let id: number;
      if (i < mainLen && (j >= runLen || this.cmpIds(main[i], run[j]) <= 0)) id = main[i++];
      else if (j < runLen) id = run[j++];
      else return;
      if (hi !== null && this.cmpStr(id, hi) >= 0) return;
      if (latest.get(id) !== GONE) visit(id);
    }
  }

  private cmpStr(id: number, s: string): number {
    return this.arena.compareStr(this.kAddr.get(id), this.kLen.get(id), s);
  }

  private cmpIds(a: number, b: number): number {
    const { kAddr, kLen } = this;
    return this.arena.compare(kAddr.get(a), kLen.get(a), kAddr.get(b), kLen.get(b));
  }

  /** First position in `arr[from, to)` whose key is not below `s`. */
  private lowerBound(arr: Int32Array, from: number, to: number, s: string): number {
    let lo = from;
    let hi = to;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmpStr(arr[mid], s) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First position in `arr[from, to)` whose key is not below key id `id`'s. */
  private lowerBoundId(arr: Int32Array, from: number, to: number, id: number): number {
    let lo = from;
    let hi = to;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmpIds(arr[mid], id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insertOrdered(id: number): void {
    // Appending in order (keys written in ascending order, the usual bulk load) needs no run.
    if (this.runLen === 0 && (this.mainLen === 0 || this.cmpIds(this.main[this.mainLen - 1], id) < 0)) {
      // 1/8 slack: at a million keys ×1.5 growth left up to 2 MB unused.
      this.main = grown(this.main, this.mainLen + 1, undefined, 1.125);
      this.main[this.mainLen++] = id;
      return;
    }
    const at = this.lowerBoundId(this.run, 0, this.runLen, id);
    this.run.copyWithin(at + 1, at, this.runLen);
    this.run[at] = id;
    if (++this.runLen === RUN_MAX) this.merge();
  }

  /** Merge the run into the large array, dropping removed ids, and let those ids be reused. */
  private merge(): void {
    const latest = this.latest;
    const main = this.main;
    const out = new Int32Array(Math.max(16, this.mainLen + this.runLen - this.leaving.length));
    let n = 0;
    let i = 0;
    const copyUpTo = (end: number): void => {
      for (; i < end; i++) {
        const id = main[i];
        if (latest.get(id) !== GONE) out[n++] = id;
      }
    };
    for (let j = 0; j < this.runLen; j++) {
      const id = this.run[j];
      copyUpTo(this.lowerBoundId(main, i, this.mainLen, id));
      if (latest.get(id) !== GONE) out[n++] = id;
    }
    copyUpTo(this.mainLen);
    this.main = out;
    this.mainLen = n;
    this.runLen = 0;
    for (const id of this.leaving) this.free.push(id);
    this.leaving = [];
  }

  private insertSlot(id: number, hash: number): void {
    const table = this.table;
    let h = slotOf(hash, table.length);
    while (table[h] >= 0) if (++h === table.length) h = 0;
    table[h] = id | ((hash << TAG_SHIFT) & this.tags);
    this.tableVersion++;
  }

  private slotHash(id: number): number {
    return slotOf(this.arena.hash(this.kAddr.get(id), this.kLen.get(id)), this.table.length);
  }

  private deleteSlot(id: number): void {
    const table = this.table;
    const size = table.length;
    const next = (i: number): number => (i + 1 === size ? 0 : i + 1);
    /** How far slot `i` is past slot `from`, going round. */
    const after = (i: number, from: number): number => (i >= from ? i - from : i + size - from);
    const idMask = this.idMask;
    let h = this.slotHash(id);
    while ((table[h] & idMask) !== id) h = next(h);
    // Backward-shift deletion: move later entries of the probe sequence into the hole, so lookups stay exact.
    let hole = h;
    for (let i = next(h); table[i] >= 0; i = next(i)) {
      const home = this.slotHash(table[i] & idMask);
      const dist = after(i, home);
      const holeDist = after(i, hole);
      if (dist >= holeDist) {
        table[hole] = table[i];
        hole = i;
      }
    }
    table[hole] = -1;
    this.tableVersion++;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(-1);
    this.tableVersion++;
    for (let id = 0; id < this.ids; id++) {
      if (this.latest.get(id) !== GONE)
        this.insertSlot(id, this.arena.hash(this.kAddr.get(id), this.kLen.get(id)));
    }
  }

  /** Rewrite the live keys into a fresh arena (ids and indexes unchanged). */
  private repack(): void {
    const fresh = new ByteArena();
    for (let id = 0; id < this.ids; id++) {
      if (this.latest.get(id) === GONE) continue;
      fresh.put(this.keyOf(id), this.kLen.get(id));
      this.kAddr.set(id, fresh.lastAddr);
    }
    this.arena = fresh;
  }
}
