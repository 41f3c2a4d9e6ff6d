import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  LeaseId,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../contract';
import { EngineError } from '../errors';
import { fromBin, interval, toBin, type KeyInterval } from '../key-range';
import { finishRange, type RangeRows } from '../range-finisher';
import { passesRevisionFilters, rangeFetchLimit } from '../range-rules';
import { checkReadRevision } from '../validate';
import { KeyIndex } from './key-index';
import { Rec, type PrevReader, type VersionFields } from './record';
import { NO_LEASE, ON_DISK, REMOVED, TOMBSTONE, VersionTable } from './version-table';

/** What the store needs from the lease keeper: existence checks and key attachment bookkeeping. */
export interface LeaseKeys {
  exists(id: LeaseId): boolean;
  attach(id: LeaseId, key: string): void;
  detach(id: LeaseId, key: string): void;
}

/** A write request in progress: every change shares `rev` and is ordered by its position in `changes`. */
export interface WriteBatch {
  readonly rev: number;
  readonly changes: Rec[];
}

/**
 * A version removed by compaction. `occurrence` tells apart the changes of one key within one revision (a put and
 * a from-key delete in the same txn, which etcd allows): 0 for its first change in that revision, 1 for the next.
 */
export interface RemovedVersion {
  rec: Rec;
  occurrence: number;
}

/** What a compaction removed, so a durable backend can delete the same versions from disk. */
export interface CompactionResult {
  removed: RemovedVersion[];
}

/** A txn's chosen path, decided from the pre-txn state before anything is written (etcd `compareToPath`). */
interface TxnPath {
  succeeded: boolean;
  ops: RequestOp[];
  /** Paths of the nested txns among `ops`, by op index. */
  nested: Map<number, TxnPath>;
}

const EMPTY_KVS: KeyValue[] = [];

/** Where a durable store's values come from once they are on disk only (see DurableLog). */
export interface DiskValues {
  /** The marker such versions carry when read out as a {@link Rec}. */
  readonly marker: string;
  /** The value of on-disk version `id` (cached, or read from disk). */
  load(id: number): string;
  /** Version `id` is gone (compaction): drop anything held for it. */
  forget(id: number): void;
  /** Version ids moved (old id → new id, -1 = gone). */
  remap(map: Int32Array): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * The multi-version key index and revision log (etcd `server/mvcc`: key index + revision-keyed backend, both in
 * memory here). Synchronous and single-writer: one request is applied at a time, so a request sees its own earlier
 * changes and no reader of the store sees half of one.
 *
 * Layout (docs/engine.md#memory-layout): keys in a packed {@link KeyIndex} (key id → newest version id), versions
 * in a packed {@link VersionTable} whose id order is the revision log, each version linked to the key's previous
 * one. No object is kept per key or per version.
 *
 * Revisions: a fresh store is at revision 1; every request that changes at least one key gets the next revision.
 */
export class MvccStore implements PrevReader {
  private readonly keys = new KeyIndex();
  private readonly v = new VersionTable();
  private live = 0;
  /** Revision of the last applied request. */
  currentRev = 1;
  /** Compaction point; -1 before any compaction (etcd's `compactMainRev`). */
  compactRev = -1;
  /** Moves on whenever version ids are renumbered: a {@link Rec}'s `id` holds only while its epoch is current. */
  epoch = 0;
  /**
   * Position within its revision (etcd's sub revision) of kept versions at or below the compaction point whose
   * position is not 0: their revision's other changes are gone, so it can no longer be counted. Only Hash, HashKV
   * and snapshots read it (storedVersions).
   */
  private compactedSubs = new Map<number, number>();
  private disk: DiskValues | undefined;

  /** How the range finisher reads rows, which are version ids here (valid within the one synchronous call). */
  private readonly rows: RangeRows<number> = {
    key: (id) => this.keys.keyOf(this.v.keyId.get(id)),
    value: (id) => this.valueString(id) ?? '',
    version: (id) => this.v.ver.get(id),
    createRevision: (id) => this.v.createRevOf(id),
    modRevision: (id) => this.v.modRev.get(id),
    toKeyValue: (id, keysOnly) => this.kvOf(id, keysOnly),
  };

  constructor(private readonly leases: LeaseKeys) {}

  /** Durable mode: where values offloaded to disk are read from. */
  attachDisk(disk: DiskValues): void {
    this.disk = disk;
  }

  /** Live keys at the newest revision. */
  get liveKeys(): number {
    return this.live;
  }

  /** Versions held in the history window (for size estimates). */
  get historySize(): number {
    return this.v.length - this.v.removed;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Version access

  /** The newest version at or below `rev` in a chain starting at `id`, if live (-1 when absent then). */
  private visibleId(id: number, rev: number): number {
    const v = this.v;
    while (id >= 0 && v.modRev.get(id) > rev) id = v.prevOf(id);
    return id >= 0 && v.vLen.get(id) !== TOMBSTONE ? id : -1;
  }

  /** The newest live version of key id `kid` (-1 when it ends in a tombstone). */
  private latestLiveOf(kid: number): number {
    const id = kid >= 0 ? this.keys.latest.get(kid) : -1;
    return id >= 0 && this.v.vLen.get(id) !== TOMBSTONE ? id : -1;
  }

  /** A version's value as a binary string; null for a tombstone. */
  private valueString(id: number): string | null {
    const len = this.v.vLen.get(id);
    if (len >= 0) return this.v.valueStr(id);
    if (len === ON_DISK) return this.disk!.load(id);
    return null;
  }

  private valueBuffer(id: number): Buffer {
    const len = this.v.vLen.get(id);
    if (len > 0) return this.v.valueBuf(id);
    if (len === ON_DISK) return fromBin(this.disk!.load(id));
    return EMPTY;
  }

  /** The contract's KeyValue of a live version; `key` may be passed in to reuse the caller's buffer. */
  private kvOf(id: number, keysOnly = false, key?: Buffer): KeyValue {
    const v = this.v;
    return {
      key: key ?? this.keys.keyBuf(v.keyId.get(id)),
      createRevision: v.createRevOf(id),
      modRevision: v.modRev.get(id),
      version: v.ver.get(id),
      value: keysOnly ? EMPTY : this.valueBuffer(id),
      lease: v.leaseOf(id),
    };
  }

  /** A version read out as a {@link Rec} (value copied, or the disk marker). */
  private recOf(id: number, key?: string): Rec {
    const v = this.v;
    const len = v.vLen.get(id);
    const value = len >= 0 ? v.valueStr(id) : len === ON_DISK ? this.disk!.marker : null;
    return new Rec(
      key ?? this.keys.keyOf(v.keyId.get(id)),
      value,
      v.modRev.get(id),
      v.createRevOf(id),
      v.ver.get(id),
      v.leaseOf(id),
      id,
      this.epoch,
    );
  }

  /** The id of version `r` now: its own while its epoch holds, else found again by key, revision and position. */
  idOf(r: Rec, occurrence = 0): number {
    if (r.epoch === this.epoch && r.id >= 0) return r.id;
    const kid = this.keys.find(r.key);
    let id = kid >= 0 ? this.keys.latest.get(kid) : -1;
    const v = this.v;
    while (id >= 0 && v.modRev.get(id) > r.modRev) id = v.prevOf(id);
    // Changes of one revision are adjacent in the chain, newest first: step to the wanted occurrence.
    let n = 0;
    for (let p = id; p >= 0 && v.modRev.get(p) === r.modRev; p = v.prevOf(p)) n++;
    for (let k = n - 1; k > occurrence && id >= 0; k--) id = v.prevOf(id);
    return id >= 0 && v.modRev.get(id) === r.modRev ? id : -1;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reads

  /** Throw etcd's compacted / future errors for a read at `rev` (0 = latest) against `upTo`. */
  checkReadRevision(rev: number, upTo: number): void {
    checkReadRevision(rev, this.compactRev, upTo);
  }

  /** Range evaluation in etcd's order (apply.go `Range`), reading the state at `atRev`. */
  range(req: RangeRequest, atRev: number, headerRev: number): RangeResponse {
    const rev = req.revision && req.revision > 0 ? req.revision : atRev;
    if (req.rangeEnd === undefined || req.rangeEnd.length === 0) return this.get(req, rev, headerRev);
    const iv = interval(toBin(req.key), req.rangeEnd && toBin(req.rangeEnd));
    // Count always covers the whole range; the versions themselves only as far as rangeFetchLimit says.
    const fetchLimit = rangeFetchLimit(req) || Infinity;
    const ids: number[] = [];
    let count = 0;
    if (iv.end === null || (iv.end !== undefined && iv.end > iv.start)) {
      const latest = this.keys.latest;
      this.keys.forRange(iv.start, iv.end, (kid) => {
        const id = this.visibleId(latest.get(kid), rev);
        if (id < 0) return;
        count++;
        if (ids.length < fetchLimit) ids.push(id);
      });
    }
    return finishRange(req, ids, count, headerRev, this.rows);
  }

  /**
   * A single-key range: the hot path of every Dapr GetState, so it skips interval, sort and limit handling (none
   * of which can change a one-key result except the filters, still applied here).
   */
  private get(req: RangeRequest, rev: number, headerRev: number): RangeResponse {
    const kid = this.keys.findBytes(req.key);
    const id = kid < 0 ? -1 : this.visibleId(this.keys.latest.get(kid), rev);
    if (id < 0 || !passesRevisionFilters(req, this.v.modRev.get(id), this.v.createRevOf(id))) {
      return { header: { revision: headerRev }, kvs: EMPTY_KVS, more: false, count: id < 0 ? 0 : 1 };
    }
    const key = Buffer.isBuffer(req.key) ? req.key : undefined;
    const kvs = req.countOnly ? EMPTY_KVS : [this.kvOf(id, req.keysOnly === true, key)];
    return { header: { revision: headerRev }, kvs, more: false, count: 1 };
  }

  /** Ids of the live versions in an interval at the newest revision, in key order. */
  private liveIn(iv: KeyInterval): number[] {
    const out: number[] = [];
    if (iv.end === undefined) {
      const id = this.latestLiveOf(this.keys.find(iv.start));
      if (id >= 0) out.push(id);
      return out;
    }
    if (iv.end !== null && iv.end <= iv.start) return out;
    const latest = this.keys.latest;
    const vLen = this.v.vLen;
    this.keys.forRange(iv.start, iv.end, (kid) => {
      const id = latest.get(kid);
      if (id >= 0 && vLen.get(id) !== TOMBSTONE) out.push(id);
    });
    return out;
  }

  /** The live version of a key (binary string) at `rev`, read out, or null. */
  liveRecAt(key: string, rev: number): Rec | null {
    const id = this.liveIdAt(key, rev);
    return id < 0 ? null : this.recOf(id, key);
  }

  /** The id of the live version of a key (binary string) at `rev`, or -1. Valid until the next write. */
  liveIdAt(key: string, rev: number): number {
    const kid = this.keys.find(key);
    return kid < 0 ? -1 : this.visibleId(this.keys.latest.get(kid), rev);
  }

  /** The key and revision of version `id` (where its value is on disk). */
  versionKey(id: number): { modRev: number; key: string } {
    return { modRev: this.v.modRev.get(id), key: this.keys.keyOf(this.v.keyId.get(id)) };
  }

  /** The previous version of the key of version `id`, or -1 (for the durable cache's hot-key rule). */
  prevOf(id: number): number {
    return this.v.prevOf(id);
  }

  /** Versions in the history window with revision in [from, to], in order, until `visit` returns false. */
  history(from: number, to: number, visit: (r: Rec) => boolean): void {
    const v = this.v;
    for (let id = v.firstAtOrAfter(from); id < v.length; id++) {
      if (v.vLen.get(id) === REMOVED) continue;
      if (v.modRev.get(id) > to) return;
      if (!visit(this.recOf(id))) return;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes

  /** Start a write request at the next revision. */
  begin(): WriteBatch {
    return { rev: this.currentRev + 1, changes: [] };
  }

  /** Finish a write request: the revision advances only if something changed. */
  end(w: WriteBatch): void {
    if (w.changes.length > 0) this.currentRev = w.rev;
  }

  /** Pre-apply checks of a put (etcd `checkRequestPut`): ignore_* need the key, a lease must exist. */
  checkPut(req: PutRequest): void {
    if ((req.ignoreValue || req.ignoreLease) && this.latestLiveOf(this.keys.find(toBin(req.key))) < 0) {
      throw new EngineError('KEY_NOT_FOUND');
    }
    if (req.lease !== undefined && req.lease !== NO_LEASE && !this.leases.exists(req.lease)) {
      throw new EngineError('LEASE_NOT_FOUND');
    }
  }

  /** Apply a put (already checked). */
  put(w: WriteBatch, req: PutRequest): PutResponse {
    const key = toBin(req.key);
    const v = this.v;
    let kid = this.keys.find(key);
    const cur = kid >= 0 ? this.keys.latest.get(kid) : -1;
    const live = cur >= 0 && v.vLen.get(cur) !== TOMBSTONE ? cur : -1;
    const value = req.ignoreValue && live >= 0 ? this.valueString(live)! : req.value ? toBin(req.value) : '';
    const liveLease = live >= 0 ? v.leaseOf(live) : NO_LEASE;
    const reqLease = req.ignoreLease && live >= 0 ? liveLease : (req.lease ?? NO_LEASE);
    const lease = reqLease === 0n ? NO_LEASE : reqLease;
    const res: PutResponse = { header: { revision: w.rev } };
    if (req.prevKv && live >= 0) res.prevKv = this.kvOf(live);
    if (kid < 0) kid = this.keys.add(key);
    const createRev = live >= 0 ? v.createRevOf(live) : w.rev;
    const version = live >= 0 ? v.ver.get(live) + 1 : 1;
    const id = v.add(kid, cur, w.rev, createRev, version, lease, value);
    this.keys.latest.set(kid, id);
    w.changes.push(new Rec(key, value, w.rev, createRev, version, lease, id, this.epoch));
    if (live < 0) this.live++;
    if (live >= 0 && liveLease !== NO_LEASE && liveLease !== lease) this.leases.detach(liveLease, key);
    if (lease !== NO_LEASE && (live < 0 || liveLease !== lease)) this.leases.attach(lease, key);
    return res;
  }

  /** Delete one live key (for lease revocation); false when it is not live. */
  deleteKey(w: WriteBatch, key: string): boolean {
    const id = this.latestLiveOf(this.keys.find(key));
    if (id < 0) return false;
    this.tombstone(w, id, key);
    return true;
  }

  private tombstone(w: WriteBatch, cur: number, key: string): void {
    const kid = this.v.keyId.get(cur);
    const id = this.v.add(kid, cur, w.rev, 0, 0, NO_LEASE, null);
    this.keys.latest.set(kid, id);
    w.changes.push(new Rec(key, null, w.rev, 0, 0, NO_LEASE, id, this.epoch));
    this.live--;
    const lease = this.v.leaseOf(cur);
    if (lease !== NO_LEASE) this.leases.detach(lease, key);
  }

  /** Apply a delete-range: every live key in the range, in key order, at one revision. */
  deleteRange(w: WriteBatch, req: DeleteRangeRequest, preRev: number): DeleteRangeResponse {
    const iv = interval(toBin(req.key), req.rangeEnd && toBin(req.rangeEnd));
    const victims = this.liveIn(iv);
    const prevKvs = req.prevKv ? victims.map((id) => this.kvOf(id)) : EMPTY_KVS;
    for (const id of victims) this.tombstone(w, id, this.keys.keyOf(this.v.keyId.get(id)));
    return {
      header: { revision: w.changes.length > 0 ? w.rev : preRev },
      deleted: victims.length,
      prevKvs,
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Txn

  /**
   * Decide a txn's path: every compare (nested ones too) against the pre-txn state, then run the pre-apply checks of
   * the chosen path, so a failing check writes nothing.
   */
  planTxn(req: TxnRequest, preRev: number): TxnPath {
    const path = this.choosePath(req);
    this.checkPath(path, preRev);
    return path;
  }

  private choosePath(req: TxnRequest): TxnPath {
    const succeeded = (req.compare ?? []).every((c) => this.compare(c));
    const ops = (succeeded ? req.success : req.failure) ?? [];
    const nested = new Map<number, TxnPath>();
    ops.forEach((op, i) => {
      if (op.txn) nested.set(i, this.choosePath(op.txn));
    });
    return { succeeded, ops, nested };
  }

  private checkPath(path: TxnPath, preRev: number): void {
    path.ops.forEach((op, i) => {
      if (op.range) this.checkReadRevision(op.range.revision ?? 0, preRev);
      else if (op.put) this.checkPut(op.put);
      else if (op.txn) this.checkPath(path.nested.get(i)!, preRev);
    });
  }

  /** etcd `applyCompare`: a range with no keys compares a zero KeyValue, except VALUE which always fails. */
  private compare(c: Compare): boolean {
    const iv = interval(toBin(c.key), c.rangeEnd && toBin(c.rangeEnd));
    const ids = this.liveIn(iv);
    if (ids.length === 0) return c.target === 'VALUE' ? false : this.compareOne(c, -1);
    for (const id of ids) if (!this.compareOne(c, id)) return false;
    return true;
  }

  /** etcd `compareKV`: `stored <result> given`; id -1 is the zero KeyValue. */
  private compareOne(c: Compare, id: number): boolean {
    const v = this.v;
    let res: number;
    switch (c.target) {
      case 'VALUE':
        res = cmp(id >= 0 ? (this.valueString(id) ?? '') : '', c.value ? toBin(c.value) : '');
        break;
      case 'VERSION':
        res = cmp(id >= 0 ? v.ver.get(id) : 0, c.version ?? 0);
        break;
      case 'CREATE':
        res = cmp(id >= 0 ? v.createRevOf(id) : 0, c.createRevision ?? 0);
        break;
      case 'MOD':
        res = cmp(id >= 0 ? v.modRev.get(id) : 0, c.modRevision ?? 0);
        break;
      case 'LEASE':
        res = cmp(id >= 0 ? v.leaseOf(id) : NO_LEASE, c.lease ?? NO_LEASE);
        break;
    }
    return compareResult(c, res);
  }

  /** Execute a planned txn path in order; later ops see earlier writes. */
  applyTxn(w: WriteBatch, path: TxnPath, preRev: number): TxnResponse {
    const responses: ResponseOp[] = path.ops.map((op, i) => {
      if (op.range) {
        const atRev = w.changes.length > 0 ? w.rev : preRev;
        return { range: this.range(op.range, atRev, atRev) };
      }
      if (op.put) return { put: this.put(w, op.put) };
      if (op.deleteRange) return { deleteRange: this.deleteRange(w, op.deleteRange, preRev) };
      const inner = this.applyTxn(w, path.nested.get(i)!, preRev);
      // A nested txn's response carries an empty header (docs/etcd-semantics.md#txn).
      inner.header = { revision: 0 };
      return { txn: inner };
    });
    return {
      header: { revision: w.changes.length > 0 ? w.rev : preRev },
      succeeded: path.succeeded,
      responses,
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Durable values

  /**
   * Version `r` (first change of its key in its revision) is durable: keep its value on disk only. Returns its id
   * (-1 if compaction already removed it).
   */
  offload(r: Rec): number {
    const id = this.idOf(r, 0);
    if (id >= 0) this.v.offload(id);
    return id;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Compaction

  /** First id of the history window (versions at or above the compaction point). */
  private windowStart(): number {
    return this.compactRev < 0 ? 0 : this.v.firstAtOrAfter(this.compactRev);
  }

  /**
   * Drop history at or below `rev` (etcd key_index `compact`): per key, every version older than the newest one at
   * or below `rev`, and that one too when it is a tombstone. Only keys written since the previous compaction can
   * hold such versions, so the work is proportional to the writes since then, not to the key count; the removed
   * versions' slots are reclaimed in place once they are a quarter of the table.
   */
  compact(rev: number): CompactionResult {
    const removed: RemovedVersion[] = [];
    const v = this.v;
    const from = this.windowStart();
    const to = v.firstAtOrAfter(rev + 1);
    const subs = this.subsOf(from, to);
    const seen = new Set<number>();
    for (let id = from; id < to; id++) {
      if (v.vLen.get(id) === REMOVED) continue;
      const kid = v.keyId.get(id);
      if (seen.has(kid)) continue;
      seen.add(kid);
      this.compactKey(kid, rev, removed);
    }
    // Versions kept at or below `rev` keep their position within their revision for Hash and snapshots.
    for (let id = from; id < to; id++) {
      if (v.vLen.get(id) !== REMOVED && subs[id - from] > 0) this.compactedSubs.set(id, subs[id - from]);
    }
    this.compactRev = rev;
    if (v.wantsRenumber()) this.renumber();
    return { removed };
  }

  private compactKey(kid: number, rev: number, removed: RemovedVersion[]): void {
    const v = this.v;
    const latest = this.keys.latest.get(kid);
    if (latest < 0) return;
    let newer = -1;
    let r = latest;
    while (r >= 0 && v.modRev.get(r) > rev) {
      newer = r;
      r = v.prevOf(r);
    }
    if (r < 0) return;
    // The chain from r down, newest first; changes of one revision are adjacent, the oldest is occurrence 0.
    const chain: number[] = [];
    for (let x = r; x >= 0; x = v.prevOf(x)) chain.push(x);
    const occurrence = new Array<number>(chain.length);
    for (let i = chain.length - 1; i >= 0; i--) {
      occurrence[i] =
        i < chain.length - 1 && v.modRev.get(chain[i + 1]) === v.modRev.get(chain[i])
          ? occurrence[i + 1] + 1
          : 0;
    }
    const key = this.keys.keyOf(kid);
    for (let i = 1; i < chain.length; i++) this.removeVersion(chain[i], key, occurrence[i], removed);
    v.setPrev(r, -1);
    if (v.vLen.get(r) === TOMBSTONE) {
      this.removeVersion(r, key, occurrence[0], removed);
      if (newer < 0) this.keys.remove(kid);
      else v.setPrev(newer, -1);
    }
  }

  private removeVersion(id: number, key: string, occurrence: number, removed: RemovedVersion[]): void {
    // Only the key and revision are read from it (to delete the same version from disk).
    removed.push({ rec: new Rec(key, null, this.v.modRev.get(id), 0, 0, NO_LEASE), occurrence });
    this.disk?.forget(id);
    this.compactedSubs.delete(id);
    this.v.remove(id);
  }

  /** Squeeze removed versions out of the table and move every reference to version ids. */
  private renumber(): void {
    const map = this.v.renumber();
    const latest = this.keys.latest;
    for (let kid = 0; kid < latest.capacity; kid++)
      if (latest.get(kid) >= 0) latest.set(kid, map[latest.get(kid)]);
    const subs = new Map<number, number>();
    for (const [id, sub] of this.compactedSubs) if (map[id] >= 0) subs.set(map[id], sub);
    this.compactedSubs = subs;
    this.disk?.remap(map);
    this.epoch++;
  }

  /** Sub revisions of ids `[from, to)` (versions at or below the compaction point keep their recorded one). */
  private subsOf(from: number, to: number): Int32Array {
    const v = this.v;
    const subs = new Int32Array(Math.max(0, to - from));
    let groupRev = -1;
    let pos = 0;
    for (let id = from; id < to; id++) {
      if (v.vLen.get(id) === REMOVED) continue;
      const rev = v.modRev.get(id);
      if (rev !== groupRev) {
        groupRev = rev;
        pos = 0;
      }
      subs[id - from] = rev <= this.compactRev ? (this.compactedSubs.get(id) ?? 0) : pos;
      pos++;
    }
    return subs;
  }

  /**
   * Every stored version up to revision `upTo` in etcd's (revision, sub revision) order, with its sub revision:
   * what etcd's `key` bucket holds. Id order is that order.
   */
  storedVersions(upTo: number, visit: (rec: Rec, sub: number) => void): void {
    const end = this.v.firstAtOrAfter(upTo + 1);
    const subs = this.subsOf(0, end);
    for (let id = 0; id < end; id++) if (this.v.vLen.get(id) !== REMOVED) visit(this.recOf(id), subs[id]);
  }

  /** Whether any key is live at `rev`. */
  anyLiveAt(rev: number): boolean {
    let found = false;
    const latest = this.keys.latest;
    this.keys.forRange('', null, (kid) => {
      if (!found && this.visibleId(latest.get(kid), rev) >= 0) found = true;
    });
    return found;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Restore

  /**
   * Re-insert a version read back from disk, in revision order; `onDisk` = its value stays on disk. `sub` is its
   * position in its revision, given for versions at or below the compaction point (see compactedSubs).
   */
  restore(rec: VersionFields, onDisk: boolean, sub = 0): void {
    let kid = this.keys.find(rec.key);
    if (kid < 0) kid = this.keys.add(rec.key);
    const cur = this.keys.latest.get(kid);
    const v = this.v;
    const id = v.add(kid, cur, rec.modRev, rec.createRev, rec.version, rec.lease, rec.value, onDisk);
    if (sub > 0) this.compactedSubs.set(id, sub);
    this.keys.latest.set(kid, id);
    const wasLive = cur >= 0 && v.vLen.get(cur) !== TOMBSTONE;
    const isLive = rec.value !== null;
    if (isLive && !wasLive) this.live++;
    if (!isLive && wasLive) this.live--;
    const curLease = wasLive ? v.leaseOf(cur) : NO_LEASE;
    if (curLease !== NO_LEASE) this.leases.detach(curLease, rec.key);
    if (isLive && rec.lease !== NO_LEASE) this.leases.attach(rec.lease, rec.key);
    if (rec.modRev > this.currentRev) this.currentRev = rec.modRev;
  }
}

function cmp<T>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareResult(c: Compare, res: number): boolean {
  switch (c.result) {
    case 'EQUAL':
      return res === 0;
    case 'NOT_EQUAL':
      return res !== 0;
    case 'GREATER':
      return res > 0;
    case 'LESS':
      return res < 0;
  }
}
