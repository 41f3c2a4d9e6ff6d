import type { LeaseId } from '../contract';
import { ByteArena } from './byte-arena';
import { PagedI32, PagedRising, PagedSmall, PagedSparseI32, PagedU53 } from './paged-array';

/** `vLen` of a tombstone. */
export const TOMBSTONE = -1;
/** `vLen` of a version whose value is on disk only (durable mode). */
export const ON_DISK = -2;
/** `vLen` of a version compaction removed, until {@link VersionTable.renumber} reclaims its slot. */
export const REMOVED = -3;

/** Shared "no lease" value, so unleased versions do not each carry a BigInt. */
export const NO_LEASE: LeaseId = 0n;

/**
 * Every version of every key, packed into typed arrays indexed by version id (14–32 bytes a version, see the column
 * widths in docs/engine.md#memory-layout, against ~80 for a V8 object with its fields), with values as bytes in a
 * {@link ByteArena}.
 *
 * Ids are handed out in execution order, so the table in id order is the revision log: (revision, position in the
 * revision) order, which is what watch replay, Hash and snapshots read. Compaction marks versions
 * {@link REMOVED}; {@link renumber} squeezes them out in place, keeping the order, once they are a quarter of the
 * table.
 */
export class VersionTable {
  readonly modRev = new PagedRising();
  /** `modRev - createRev + 1`, 0 for a tombstone's 0: small for every version of a key created recently. */
  private readonly createGap = new PagedSmall();
  readonly ver = new PagedSmall();
  readonly keyId = new PagedI32();
  /**
   * Distance back to the key's previous version (older, possibly of the same revision), 0 for none: small for a
   * key written often, and nothing to store for a key written once.
   */
  private readonly prevGap = new PagedSmall();
  /** Index into {@link leases}; 0 = no lease (pages only where some version has one). */
  readonly lease = new PagedSparseI32();
  /** Arena address of the value. */
  readonly vAddr = new PagedU53();
  /** Value length, or {@link TOMBSTONE}, {@link ON_DISK}, {@link REMOVED} (the smallest, so 2 bytes a row). */
  readonly vLen = new PagedSmall(REMOVED);
  /** Ids in use: versions are `0 .. length-1`. */
  length = 0;
  /** Of those, how many are {@link REMOVED}. */
  removed = 0;
  values = new ByteArena();
  readonly leases = new LeaseTable();

  /** Append a version; `value` null for a tombstone, `onDisk` for a durable value not held in memory. */
  add(
    keyId: number,
    prev: number,
    modRev: number,
    createRev: number,
    ver: number,
    lease: LeaseId,
    value: Buffer | string | null,
    onDisk = false,
  ): number {
    const id = this.length++;
    if (id >= this.modRev.capacity) this.grow(id + 1);
    this.modRev.set(id, modRev);
    this.createGap.set(id, createRev === 0 ? 0 : modRev - createRev + 1);
    this.ver.set(id, ver);
    this.keyId.set(id, keyId);
    this.prevGap.set(id, prev < 0 ? 0 : id - prev);
    this.lease.set(id, lease === NO_LEASE ? 0 : this.leases.ref(lease));
    if (value === null) this.vLen.set(id, TOMBSTONE);
    else if (onDisk) this.vLen.set(id, ON_DISK);
    else {
      this.values.put(value, value.length);
      this.vAddr.set(id, this.values.lastAddr);
      this.vLen.set(id, value.length);
    }
    return id;
  }

  /** The create revision of a version (0 for a tombstone). */
  createRevOf(id: number): number {
    const g = this.createGap.get(id);
    return g === 0 ? 0 : this.modRev.get(id) - g + 1;
  }

  /** The key's previous version, or -1. */
  prevOf(id: number): number {
    const g = this.prevGap.get(id);
    return g === 0 ? -1 : id - g;
  }

  /** Link a version to an older one of its key (-1: none). */
  setPrev(id: number, prev: number): void {
    this.prevGap.set(id, prev < 0 ? 0 : id - prev);
  }

  /** The lease of a version. */
  leaseOf(id: number): LeaseId {
    const l = this.lease.get(id);
    return l === 0 ? NO_LEASE : this.leases.id(l);
  }

  /** Whether the version's value is held here (not a tombstone, not on disk). */
  inMemory(id: number): boolean {
    return this.vLen.get(id) >= 0;
  }

  /** An in-memory value as a binary string. */
  valueStr(id: number): string {
    return this.values.str(this.vAddr.get(id), this.vLen.get(id));
  }

  /** An in-memory value as a Buffer of its own. */
  valueBuf(id: number): Buffer {
    return this.values.buf(this.vAddr.get(id), this.vLen.get(id));
  }

  /** The value is durable now: keep it on disk only. */
  offload(id: number): void {
    const len = this.vLen.get(id);
    if (len < 0) return;
    this.values.free(this.vAddr.get(id), len);
    this.vLen.set(id, ON_DISK);
  }

  /** Compaction removed the version. */
  remove(id: number): void {
    const len = this.vLen.get(id);
    if (len >= 0) this.values.free(this.vAddr.get(id), len);
    if (this.lease.get(id) !== 0) this.leases.unref(this.lease.get(id));
    this.lease.set(id, 0);
    this.vLen.set(id, REMOVED);
    this.removed++;
  }

  /** Whether enough versions are removed that {@link renumber} is worth its pass over the table. */
  wantsRenumber(): boolean {
    return this.removed > 1024 && this.removed * 4 > this.length;
  }

  /**
   * Squeeze removed versions out, in place and in order. Returns old id → new id (-1 for a removed one) so the
   * owner can move what refers to versions; `prev` links are moved here.
   */
  renumber(): Int32Array {
    const map = new Int32Array(this.length);
    let n = 0;
    for (let id = 0; id < this.length; id++) {
      if (this.vLen.get(id) === REMOVED) {
        map[id] = -1;
        continue;
      }
      map[id] = n;
      const p = this.prevOf(id);
      if (n !== id) {
        this.modRev.set(n, this.modRev.get(id));
        // The gap to the create revision moves with the row as it is.
        this.createGap.set(n, this.createGap.get(id));
        this.ver.set(n, this.ver.get(id));
        this.keyId.set(n, this.keyId.get(id));
        this.lease.set(n, this.lease.get(id));
        this.vAddr.set(n, this.vAddr.get(id));
        this.vLen.set(n, this.vLen.get(id));
      }
      this.setPrev(n, p < 0 ? -1 : map[p]);
      n++;
    }
    this.length = n;
    this.removed = 0;
    for (const c of this.columns()) c.truncate(n);
    if (this.values.fragmented()) this.repackValues();
    return map;
  }

  /** Rewrite in-memory values into a fresh arena. */
  repackValues(): void {
    const fresh = new ByteArena();
    for (let id = 0; id < this.length; id++) {
      const len = this.vLen.get(id);
      if (len < 0) continue;
      fresh.put(this.valueStr(id), len);
      this.vAddr.set(id, fresh.lastAddr);
    }
    this.values = fresh;
  }

  /** First id whose revision is at least `rev` (ids are in revision order). */
  firstAtOrAfter(rev: number): number {
    let lo = 0;
    let hi = this.length;
    const m = this.modRev;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (m.get(mid) < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(n: number): void {
    for (const c of this.columns()) c.ensure(n);
  }

  private columns(): Array<PagedU53 | PagedI32 | PagedSmall | PagedSparseI32 | PagedRising> {
    const { modRev, createGap, ver, keyId, prevGap, lease, vAddr, vLen } = this;
    return [modRev, createGap, ver, keyId, prevGap, lease, vAddr, vLen];
  }
}

/** Lease ids of versions as small indexes with reference counts (leases are few; versions with one many). */
export class LeaseTable {
  private readonly ids: LeaseId[] = [NO_LEASE];
  private readonly refs: number[] = [0];
  private readonly byId = new Map<LeaseId, number>();
  private readonly spare: number[] = [];

  ref(id: LeaseId): number {
    let i = this.byId.get(id);
    if (i === undefined) {
      i = this.spare.pop() ?? this.ids.length;
      this.ids[i] = id;
      this.refs[i] = 0;
      this.byId.set(id, i);
    }
    this.refs[i]++;
    return i;
  }

  unref(i: number): void {
    if (--this.refs[i] > 0) return;
    this.byId.delete(this.ids[i]);
    this.ids[i] = NO_LEASE;
    this.spare.push(i);
  }

  id(i: number): LeaseId {
    return this.ids[i];
  }
}
