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
import { interval, toBin, type KeyInterval } from '../key-range';
import { finishRange } from '../range-finisher';
import { passesRevisionFilters, rangeFetchLimit } from '../range-rules';
import { checkReadRevision } from '../validate';
import { KeyIndex } from './key-index';
import { NO_LEASE, Rec, REC_ROWS, toKeyValue, valueOf, visibleAt } from './record';

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

/**
 * The multi-version key index and revision log (etcd `server/mvcc`: key index + revision-keyed backend, both in
 * memory here). Synchronous and single-writer: one request is applied at a time, so a request sees its own earlier
 * changes and no reader of the store sees half of one.
 *
 * Revisions: a fresh store is at revision 1; every request that changes at least one key gets the next revision.
 */
export class MvccStore {
  /** Key → newest version (possibly a tombstone). Ordered, for ranges. */
  private readonly tree = new KeyIndex();
  /** Every version still in the history window, in (revision, execution) order: the watch replay source. */
  private log: Rec[] = [];
  private live = 0;
  /** Revision of the last applied request. */
  currentRev = 1;
  /** Compaction point; -1 before any compaction (etcd's `compactMainRev`). */
  compactRev = -1;
  /**
   * Position within its revision (etcd's sub revision) of kept versions at or below the compaction point whose
   * position is not 0: their revision's other changes are gone from {@link log}, so it can no longer be counted
   * there. Only Hash, HashKV and snapshots read it (stored-versions.ts).
   */
  private readonly compactedSubs = new WeakMap<Rec, number>();

  constructor(private readonly leases: LeaseKeys) {}

  /** Live keys at the newest revision. */
  get liveKeys(): number {
    return this.live;
  }

  /** Versions held in the history window (for size estimates). */
  get historySize(): number {
    return this.log.length;
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
    const recs: Rec[] = [];
    let count = 0;
    if (iv.end === null || (iv.end !== undefined && iv.end > iv.start)) {
      this.tree.forRange(iv.start, iv.end, (_k, latest) => {
        const r = visibleAt(latest, rev);
        if (r === null) return;
        count++;
        if (recs.length < fetchLimit) recs.push(r);
      });
    }
    return finishRange(req, recs, count, headerRev, REC_ROWS);
  }

  /**
   * A single-key range: the hot path of every Dapr GetState, so it skips interval, sort and limit handling (none
   * of which can change a one-key result except the filters, still applied here).
   */
  private get(req: RangeRequest, rev: number, headerRev: number): RangeResponse {
    const r = visibleAt(this.tree.get(toBin(req.key)), rev);
    if (r === null || !passesRevisionFilters(req, r.modRev, r.createRev)) {
      return { header: { revision: headerRev }, kvs: EMPTY_KVS, more: false, count: r === null ? 0 : 1 };
    }
    const key = Buffer.isBuffer(req.key) ? req.key : undefined;
    const kvs = req.countOnly ? EMPTY_KVS : [toKeyValue(r, req.keysOnly === true, key)];
    return { header: { revision: headerRev }, kvs, more: false, count: 1 };
  }

  /** Live versions in an interval at the newest revision, in key order. */
  private liveIn(iv: KeyInterval): Rec[] {
    const out: Rec[] = [];
    if (iv.end === undefined) {
      const r = this.tree.get(iv.start);
      if (r !== undefined && r.value !== null) out.push(r);
      return out;
    }
    if (iv.end !== null && iv.end <= iv.start) return out;
    this.tree.forRange(iv.start, iv.end, (_k, r) => {
      if (r.value !== null) out.push(r);
    });
    return out;
  }

  /** The newest live version of a key (binary string), if any. */
  latestLive(key: string): Rec | null {
    const r = this.tree.get(key);
    return r !== undefined && r.value !== null ? r : null;
  }

  /**
   * Versions in the history window with revision in [from, to], in order. Stops early when `visit` returns false.
   * Returns the revision of the last version visited (0 if none).
   */
  history(from: number, to: number, visit: (r: Rec) => boolean): void {
    const log = this.log;
    let lo = 0;
    let hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log[mid].modRev < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < log.length; i++) {
      const r = log[i];
      if (r.modRev > to) return;
      if (!visit(r)) return;
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
    if (w.changes.length === 0) return;
    this.currentRev = w.rev;
    for (const r of w.changes) this.log.push(r);
  }

  /** Pre-apply checks of a put (etcd `checkRequestPut`): ignore_* need the key, a lease must exist. */
  checkPut(req: PutRequest): void {
    if ((req.ignoreValue || req.ignoreLease) && this.latestLive(toBin(req.key)) === null) {
      throw new EngineError('KEY_NOT_FOUND');
    }
    if (req.lease !== undefined && req.lease !== NO_LEASE && !this.leases.exists(req.lease)) {
      throw new EngineError('LEASE_NOT_FOUND');
    }
  }

  /** Apply a put (already checked). */
  put(w: WriteBatch, req: PutRequest): PutResponse {
    const key = toBin(req.key);
    const cur = this.tree.get(key) ?? null;
    const live = cur !== null && cur.value !== null ? cur : null;
    const value = req.ignoreValue && live ? valueOf(live)! : req.value ? toBin(req.value) : '';
    const lease = req.ignoreLease && live ? live.lease : (req.lease ?? NO_LEASE);
    const rec = new Rec(
      key,
      value,
      w.rev,
      live ? live.createRev : w.rev,
      live ? live.version + 1 : 1,
      lease === 0n ? NO_LEASE : lease,
      cur,
    );
    this.tree.set(key, rec);
    w.changes.push(rec);
    if (live === null) this.live++;
    if (live !== null && live.lease !== NO_LEASE && live.lease !== lease) this.leases.detach(live.lease, key);
    if (rec.lease !== NO_LEASE && (live === null || live.lease !== lease)) this.leases.attach(rec.lease, key);
    const res: PutResponse = { header: { revision: w.rev } };
    if (req.prevKv && live !== null) res.prevKv = toKeyValue(live);
    return res;
  }

  /** Delete one live key (for lease revocation). */
  deleteKey(w: WriteBatch, key: string): Rec | null {
    const cur = this.tree.get(key);
    if (cur === undefined || cur.value === null) return null;
    this.tombstone(w, cur);
    return cur;
  }

  private tombstone(w: WriteBatch, cur: Rec): void {
    const tomb = new Rec(cur.key, null, w.rev, 0, 0, NO_LEASE, cur);
    this.tree.set(cur.key, tomb);
    w.changes.push(tomb);
    this.live--;
    if (cur.lease !== NO_LEASE) this.leases.detach(cur.lease, cur.key);
  }

  /** Apply a delete-range: every live key in the range, in key order, at one revision. */
  deleteRange(w: WriteBatch, req: DeleteRangeRequest, preRev: number): DeleteRangeResponse {
    const iv = interval(toBin(req.key), req.rangeEnd && toBin(req.rangeEnd));
    const victims = this.liveIn(iv);
    for (const r of victims) this.tombstone(w, r);
    return {
      header: { revision: w.changes.length > 0 ? w.rev : preRev },
      deleted: victims.length,
      prevKvs: req.prevKv ? victims.map((r) => toKeyValue(r)) : EMPTY_KVS,
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
    const recs = this.liveIn(iv);
    if (recs.length === 0) return c.target === 'VALUE' ? false : compareOne(c, null);
    for (const r of recs) if (!compareOne(c, r)) return false;
    return true;
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
  // Compaction

  /**
   * Drop history at or below `rev` (etcd key_index `compact`): per key, every version older than the newest one at
   * or below `rev`, and that one too when it is a tombstone. Only keys written since the previous compaction can
   * hold such versions, so the work is proportional to the writes since then, not to the key count.
   */
  compact(rev: number): CompactionResult {
    const removed: RemovedVersion[] = [];
    const log = this.log;
    let j = 0;
    while (j < log.length && log[j].modRev <= rev) j++;
    const subs = this.subsOf(j);
    const seen = new Set<string>();
    for (let i = 0; i < j; i++) {
      const key = log[i].key;
      if (seen.has(key)) continue;
      seen.add(key);
      this.compactKey(key, rev, removed);
    }
    // Keep versions at exactly `rev` (a watch may start at the compaction revision), but none that were removed
    // (a tombstone at `rev`, or a put superseded within revision `rev`).
    const gone = new Set<Rec>();
    for (const x of removed) if (x.rec.modRev === rev) gone.add(x.rec);
    const dropped = new Set<Rec>(removed.map((x) => x.rec));
    for (let i = 0; i < j; i++)
      if (subs[i] > 0 && !dropped.has(log[i])) this.compactedSubs.set(log[i], subs[i]);
    const keep: Rec[] = [];
    for (let i = 0; i < j; i++) {
      const r = log[i];
      if (r.modRev === rev && !gone.has(r)) keep.push(r);
    }
    this.log = keep.length > 0 || j > 0 ? keep.concat(log.slice(j)) : log;
    this.compactRev = rev;
    return { removed };
  }

  private compactKey(key: string, rev: number, removed: RemovedVersion[]): void {
    const latest = this.tree.get(key);
    if (latest === undefined) return;
    let newer: Rec | null = null;
    let r: Rec | null = latest;
    while (r !== null && r.modRev > rev) {
      newer = r;
      r = r.prev;
    }
    if (r === null) return;
    // The chain from r down, newest first; changes of one revision are adjacent, the oldest is occurrence 0.
    const chain: Rec[] = [];
    for (let v: Rec | null = r; v !== null; v = v.prev) chain.push(v);
    const occurrence = new Array<number>(chain.length);
    for (let i = chain.length - 1; i >= 0; i--) {
      occurrence[i] =
        i < chain.length - 1 && chain[i + 1].modRev === chain[i].modRev ? occurrence[i + 1] + 1 : 0;
    }
    for (let i = 1; i < chain.length; i++) removed.push({ rec: chain[i], occurrence: occurrence[i] });
    r.prev = null;
    if (r.value === null) {
      removed.push({ rec: r, occurrence: occurrence[0] });
      if (newer === null) this.tree.delete(key);
      else newer.prev = null;
    }
  }

  /** Sub revisions of the first `n` log entries (entries at the compaction point keep their recorded one). */
  private subsOf(n: number): number[] {
    const subs = new Array<number>(n);
    let groupStart = 0;
    for (let i = 0; i < n; i++) {
      const r = this.log[i];
      if (i > 0 && this.log[i - 1].modRev !== r.modRev) groupStart = i;
      subs[i] = r.modRev <= this.compactRev ? (this.compactedSubs.get(r) ?? 0) : i - groupStart;
    }
    return subs;
  }

  /**
   * Every stored version up to revision `upTo` in etcd's (revision, sub revision) order, with its sub revision:
   * what etcd's `key` bucket holds. Kept versions below the compaction point come first (one per key, found at the
   * end of each key's chain), then the history window.
   */
  storedVersions(upTo: number, visit: (rec: Rec, sub: number) => void): void {
    const old: Array<{ rec: Rec; sub: number }> = [];
    this.tree.forRange('', null, (_k, latest) => {
      let r = latest;
      while (r.prev !== null) r = r.prev;
      if (r.modRev < this.compactRev && r.modRev <= upTo)
        old.push({ rec: r, sub: this.compactedSubs.get(r) ?? 0 });
    });
    old.sort((a, b) => a.rec.modRev - b.rec.modRev || a.sub - b.sub);
    for (const o of old) visit(o.rec, o.sub);
    let end = 0;
    while (end < this.log.length && this.log[end].modRev <= upTo) end++;
    const subs = this.subsOf(end);
    for (let i = 0; i < end; i++) visit(this.log[i], subs[i]);
  }

  /** The newest live version of a key (binary string) at or below `rev`, or null. */
  liveAt(key: string, rev: number): Rec | null {
    return visibleAt(this.tree.get(key), rev);
  }

  /** Whether any key is live at `rev`. */
  anyLiveAt(rev: number): boolean {
    let found = false;
    this.tree.forRange('', null, (_k, latest) => {
      if (!found && visibleAt(latest, rev) !== null) found = true;
    });
    return found;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Restore

  /**
   * Re-insert a version read back from disk (in revision order); `inWindow` = still in the watch history. `sub` is
   * its position in its revision, given for versions at or below the compaction point (see compactedSubs).
   */
  restore(rec: Omit<Rec, 'prev'>, inWindow: boolean, sub = 0): Rec {
    const cur = this.tree.get(rec.key) ?? null;
    const r = new Rec(rec.key, rec.value, rec.modRev, rec.createRev, rec.version, rec.lease, cur);
    if (sub > 0) this.compactedSubs.set(r, sub);
    this.tree.set(rec.key, r);
    const wasLive = cur !== null && cur.value !== null;
    if (r.value !== null && !wasLive) this.live++;
    if (r.value === null && wasLive) this.live--;
    if (wasLive && cur.lease !== NO_LEASE) this.leases.detach(cur.lease, cur.key);
    if (r.value !== null && r.lease !== NO_LEASE) this.leases.attach(r.lease, r.key);
    if (inWindow) this.log.push(r);
    if (r.modRev > this.currentRev) this.currentRev = r.modRev;
    return r;
  }
}

function cmp<T>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** etcd `compareKV`: `stored <result> given`; a null record is the zero KeyValue. */
function compareOne(c: Compare, r: Rec | null): boolean {
  let res: number;
  switch (c.target) {
    case 'VALUE':
      res = cmp((r && valueOf(r)) ?? '', c.value ? toBin(c.value) : '');
      break;
    case 'VERSION':
      res = cmp(r?.version ?? 0, c.version ?? 0);
      break;
    case 'CREATE':
      res = cmp(r?.createRev ?? 0, c.createRevision ?? 0);
      break;
    case 'MOD':
      res = cmp(r?.modRev ?? 0, c.modRevision ?? 0);
      break;
    case 'LEASE':
      res = cmp(r?.lease ?? NO_LEASE, c.lease ?? NO_LEASE);
      break;
  }
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
