import type { LeaseId } from '../contract';
import { ByteArena, grown } from './byte-arena';

/** `vLen` of a tombstone. */
export const TOMBSTONE = -1;
/** `vLen` of a version whose value is on disk only (durable mode). */
export const ON_DISK = -2;
/** `vLen` of a version compaction removed, until {@link VersionTable.renumber} reclaims its slot. */
export const REMOVED = -3;

/** Shared "no lease" value, so unleased versions do not each carry a BigInt. */
export const NO_LEASE: LeaseId = 0n;

/**
 * Every version of every key, packed into typed arrays indexed by version id (~48 bytes a version, against ~80 for
 * a V8 object with its fields), with values as bytes in a {@link ByteArena}.
 *
 * Ids are handed out in execution order, so the table in id order is the revision log: (revision, position in the
 * revision) order, which is what watch replay, Hash and snapshots read. Compaction marks versions
 * {@link REMOVED}; {@link renumber} squeezes them out in place, keeping the order, once they are a quarter of the
 * table.
 */
export class VersionTable {
  modRev = new Float64Array(0);
  createRev = new Float64Array(0);
  ver = new Float64Array(0);
  keyId = new Int32Array(0);
  /** The key's previous version (older, possibly of the same revision), or -1. */
  prev = new Int32Array(0);
  /** Index into {@link leases}; 0 = no lease. */
  lease = new Int32Array(0);
  vChunk = new Int32Array(0);
  vOff = new Int32Array(0);
  /** Value length, or {@link TOMBSTONE}, {@link ON_DISK}, {@link REMOVED}. */
  vLen = new Int32Array(0);
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
    if (id >= this.modRev.length) this.grow(id + 1);
    this.modRev[id] = modRev;
    this.createRev[id] = createRev;
    this.ver[id] = ver;
    this.keyId[id] = keyId;
    this.prev[id] = prev;
    this.lease[id] = lease === NO_LEASE ? 0 : this.leases.ref(lease);
    if (value === null) this.vLen[id] = TOMBSTONE;
    else if (onDisk) this.vLen[id] = ON_DISK;
    else {
      this.values.put(value, value.length);
      this.vChunk[id] = this.values.lastChunk;
      this.vOff[id] = this.values.lastOffset;
      this.vLen[id] = value.length;
    }
    return id;
  }

  /** The lease of a version. */
  leaseOf(id: number): LeaseId {
    const l = this.lease[id];
    return l === 0 ? NO_LEASE : this.leases.id(l);
  }

  /** Whether the version's value is held here (not a tombstone, not on disk). */
  inMemory(id: number): boolean {
    return this.vLen[id] >= 0;
  }

  /** An in-memory value as a binary string. */
  valueStr(id: number): string {
    return this.values.str(this.vChunk[id], this.vOff[id], this.vLen[id]);
  }

  /** An in-memory value as a Buffer of its own. */
  valueBuf(id: number): Buffer {
    return this.values.buf(this.vChunk[id], this.vOff[id], this.vLen[id]);
  }

  /** The value is durable now: keep it on disk only. */
  offload(id: number): void {
    const len = this.vLen[id];
    if (len < 0) return;
    this.values.free(this.vChunk[id], len);
    this.vLen[id] = ON_DISK;
  }

  /** Compaction removed the version. */
  remove(id: number): void {
    const len = this.vLen[id];
    if (len >= 0) this.values.free(this.vChunk[id], len);
    if (this.lease[id] !== 0) this.leases.unref(this.lease[id]);
    this.lease[id] = 0;
    this.vLen[id] = REMOVED;
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
      if (this.vLen[id] === REMOVED) {
        map[id] = -1;
        continue;
      }
      map[id] = n;
      if (n !== id) {
        this.modRev[n] = this.modRev[id];
        this.createRev[n] = this.createRev[id];
        this.ver[n] = this.ver[id];
        this.keyId[n] = this.keyId[id];
        const p = this.prev[id];
        this.prev[n] = p < 0 ? -1 : map[p];
        this.lease[n] = this.lease[id];
        this.vChunk[n] = this.vChunk[id];
        this.vOff[n] = this.vOff[id];
        this.vLen[n] = this.vLen[id];
      } else {
        const p = this.prev[id];
        this.prev[n] = p < 0 ? -1 : map[p];
      }
      n++;
    }
    this.length = n;
    this.removed = 0;
    if (this.values.fragmented()) this.repackValues();
    return map;
  }

  /** Rewrite in-memory values into a fresh arena. */
  repackValues(): void {
    const fresh = new ByteArena();
    for (let id = 0; id < this.length; id++) {
      const len = this.vLen[id];
      if (len < 0) continue;
      fresh.put(this.valueStr(id), len);
      this.vChunk[id] = fresh.lastChunk;
      this.vOff[id] = fresh.lastOffset;
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
      if (m[mid] < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(n: number): void {
    this.modRev = grown(this.modRev, n);
    this.createRev = grown(this.createRev, n);
    this.ver = grown(this.ver, n);
    this.keyId = grown(this.keyId, n);
    this.prev = grown(this.prev, n);
    this.lease = grown(this.lease, n);
    this.vChunk = grown(this.vChunk, n);
    this.vOff = grown(this.vOff, n);
    this.vLen = grown(this.vLen, n);
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
