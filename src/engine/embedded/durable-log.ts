import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { LeaseId } from '../contract';
import { auxMapKey, splitAuxMapKey, WriteThroughAuxStore, type AuxWrite } from '../aux-store';
import { EngineError } from '../errors';
import type { Lessor } from '../mvcc/lessor';
import type { MvccStore, RemovedVersion } from '../mvcc/mvcc-store';
import { diskMarker, dropDiskMarker, NO_LEASE, type Rec, type VersionFields } from '../mvcc/record';
import { lockDataDir, type DataDirLock } from './data-dir-lock';
import { ValueCache } from './value-cache';

/**
 * The durable side of the embedded engine, on LMDB (the closest thing in Node to etcd's bbolt: a copy-on-write
 * B+tree in one memory-mapped file whose commits are atomic).
 *
 * Layout:
 * - `revs`: one entry per change, key = 8-byte big-endian revision + tag byte + key, value = `[sub, count,
 *   value|null, createRev, version, lease, longKey?]`, where `sub` orders the changes of a revision and `count` is
 *   how many changes the revision has. The tag is `occurrence << 1 | long`: a key can change more than once in one
 *   revision (a put and a from-key delete in one txn pass etcd's duplicate-key check), and `occurrence` numbers
 *   those changes. LMDB keys are limited to ~2 KB while etcd keys are limited only by the request size, so a long
 *   key is stored as its SHA-256 (`long` = 1) with the key itself in the value (`longKey`).
 * - `leases`: lease ID (decimal) → granted TTL.
 * - `meta`: `compactRev`.
 * - `aux`: the aux buckets (auth, alarms; see aux-store.ts), key = bucket name + NUL + key.
 *
 * A revision's entries are issued together, synchronously, and lmdb-js commits everything issued in one event-loop
 * turn as one transaction, so a revision is on disk whole or not at all. The per-revision `count` is checked on
 * restore anyway: a revision with fewer entries than its count (a torn tail, should that ever happen) is dropped
 * together with everything after it, never served.
 *
 * Writes are acknowledged once their transaction is synced (`flushed`), not on commit. Group commit: while two
 * transactions are in flight, later writes wait and go out together in the next one (see submit()), so one commit
 * and one fsync carry everything that arrived during the previous sync.
 */
export class DurableLog {
  /**
   * Stands in for values that are on disk: once a revision is durable its values are dropped from memory and read
   * back from LMDB when needed (as etcd keeps values in bbolt and only the index in memory).
   */
  readonly marker: string;
  /** Recently read durable values, kept in memory up to a byte bound. */
  readonly cache: ValueCache;
  /** The aux buckets, in memory and written through to `aux`. */
  readonly auxStore: WriteThroughAuxStore;
  private root: RootDatabase;
  private revs: Database<StoredChange, Buffer>;
  private leases: Database<number, string>;
  private meta: Database<number, string>;
  private aux: Database<Buffer, Buffer>;
  /** Set while a defragmentation swaps the file: writes issued meanwhile wait for it (see defragment()). */
  private gate: Promise<void> | undefined;
  /** The path LMDB opened (its lock file is this + `-lock`): the data file, or the copy a defragment swapped in. */
  private openedAs: string;
  /** The store whose offloaded values this log serves (set by {@link restore}). */
  private store: MvccStore | undefined;
  /** Units waiting for a transaction in flight to be durable (group commit, see submit()). */
  private queue: QueuedUnit[] = [];
  /** LMDB transactions issued and not yet durable (or failed). */
  private inFlight = 0;
  /** The transaction issued last, with the callbacks of the units in it. */
  private group: TxnGroup | undefined;
  /** A batch went out in this turn: the turn's later writes are in its transaction anyway, so they join it. */
  private batchOpen = false;
  /** Inside a unit's issue: writes it makes through this class join it. */
  private issuing = false;
  /** Called when nothing is queued or in flight (close waits for that). */
  private idleWaiters: Array<() => void> = [];
  /** The defragmentation running, if any (a second call joins it). */
  private defragging: Promise<void> | undefined;
  /** Bumped by every use of the file (a unit submitted, a value read, a pin): the idle timer watches it. */
  private touches = 0;
  /** {@link touches} when the idle timer was armed. */
  private touchesArmed = 0;
  /** Entries written, values read and changes restored since the environment was opened (see REOPEN_AFTER_USES). */
  private uses = 0;
  /** Armed after a use of the file; on firing with no use since, the environment is reopened (see idleTick). */
  private idleTimer: NodeJS.Timeout | undefined;
  /** Snapshot pins of the environment open now, not yet released: it is not reopened meanwhile. */
  private pins = 0;
  /**
   * Environments a defragmentation replaced while snapshots still read them (with their pins and lock file):
   * each is closed when its last pin is released.
   */
  private readonly retired = new Map<RootDatabase, { pins: number; lockFile: string }>();
  /** Replaced environments whose close has not finished yet. */
  private retiring = 0;
  /** Set by close(): nothing is reopened any more. */
  private closing = false;
  /** Set when a reopen closed the environment and could not open it again: every use fails with it. */
  private broken: EngineError | undefined;
  /** Between closing the environment and opening it again in an idle reopen (see idleTick). */
  private swapping = false;
  /** Times the environment was reopened to drop its memory map (tests read it). */
  reopens = 0;

  private constructor(
    dbs: Databases,
    private readonly file: string,
    cacheBytes: number,
    private readonly idleReopenMs: number,
    private readonly lock: DataDirLock,
  ) {
    ({ root: this.root, revs: this.revs, leases: this.leases, meta: this.meta, aux: this.aux } = dbs);
    this.openedAs = file;
    this.marker = diskMarker((r) => this.loadValue(r));
    this.cache = new ValueCache(cacheBytes);
    const initial: AuxWrite[] = [];
    for (const { key, value } of this.aux.getRange()) {
      initial.push({ ...splitAuxMapKey(Buffer.from(key).toString('latin1')), value: Buffer.from(value) });
    }
    this.auxStore = new WriteThroughAuxStore(initial, (writes) => this.writeAux(writes));
  }

  /** The value of an offloaded version read out of the store (a watch event, a snapshot, Hash). */
  private loadValue(r: Rec): string {
    const store = this.store;
    if (store !== undefined && r.epoch === store.epoch && r.id >= 0) return this.loadById(store, r.id, r);
    return this.readValue(r.modRev, r.key);
  }

  /** The value of offloaded version `id`: from the cache, or read from disk and kept in the cache (if it fits). */
  private loadById(store: MvccStore, id: number, r?: Rec): string {
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit;
    const { modRev, key } = r ?? store.versionKey(id);
    const value = this.readValue(modRev, key);
    this.cache.admit(id, value);
    return value;
  }

  /** Read an offloaded value from disk. Only first changes of a key in a revision are offloaded (occurrence 0). */
  private readValue(modRev: number, key: string): string {
    if (this.broken) throw this.broken;
    if (this.swapping)
      throw new EngineError('INTERNAL', 'etcdserver: durable store read while it is reopened');
    this.touch();
    const stored = this.revs.get(revKey(modRev, key, 0));
    const value = stored?.[2];
    if (typeof value !== 'string') {
      throw new EngineError(
        'INTERNAL',
        `etcdserver: value of revision ${modRev} missing from the durable store`,
      );
    }
    return value;
  }

  /**
   * Drop the values of a durable revision from memory. Only each key's first change in the revision is offloaded
   * (the one stored under occurrence 0); a second change of the same key in one revision is rare and stays.
   *
   * A new version of a key whose previous version is in the cache goes into the cache instead: that key is being
   * read, so its reads keep hitting memory while it is also written. Other writes add nothing to the cache.
   */
  offload(changes: Rec[]): void {
    const store = this.store!;
    const seen = changes.length > 1 ? new Set<string>() : undefined;
    for (const r of changes) {
      if (seen) {
        if (seen.has(r.key)) continue;
        seen.add(r.key);
      }
      const value = r.value;
      if (value === null || value.length === 0) continue;
      const id = store.offload(r);
      if (id < 0) continue;
      const prev = store.prevOf(id);
      if (prev >= 0 && this.cache.has(prev)) this.cache.admit(id, value);
    }
  }

  /**
   * Open (or create) the store in `dir`, with a cache of up to `cacheBytes` of recently read values (see
   * {@link ValueCache}), reopening the environment once the file has not been used for `idleReopenMs` (0 = never;
   * see {@link idleTick}). Throws {@link DataDirLockedError} when another process has the directory open.
   */
  static open(dir: string, cacheBytes: number, idleReopenMs = 0): DurableLog {
    // Before LMDB opens the file: LMDB itself lets several processes in, and each would keep its own revisions.
    const lock = lockDataDir(dir);
    const file = path.join(dir, DATA_FILE);
    let dbs: Databases;
    try {
      dbs = openDatabases(file);
    } catch (err) {
      lock.release();
      throw err;
    }
    return new DurableLog(dbs, file, cacheBytes, idleReopenMs, lock);
  }

  /**
   * Rebuild the store and the lease table from disk. Returns the number of changes restored and how many torn
   * revisions were dropped.
   */
  restore(store: MvccStore, lessor: Lessor, now: number): { changes: number; droppedRevisions: number } {
    this.store = store;
    store.attachDisk({
      marker: this.marker,
      load: (id) => this.loadById(store, id),
      forget: (id) => this.cache.forget(id),
      remap: (map) => this.cache.remap(map),
    });
    const compactRev = this.meta.get('compactRev') ?? -1;
    for (const { key, value } of this.leases.getRange()) {
      lessor.add(BigInt(key), value, now);
    }
    let changes = 0;
    let group: Array<{ key: Buffer; value: StoredChange }> = [];
    let groupRev = 0;
    let torn: number | null = null;
    const applyGroup = (): boolean => {
      if (group.length === 0) return true;
      group.sort((a, b) => a.value[0] - b.value[0]);
      // Revisions above the compaction point are never trimmed, so they must be complete.
      if (groupRev > compactRev && group.length !== group[0].value[1]) {
        torn = groupRev;
        return false;
      }
      for (const { key, value } of group) {
        const [sub, , val, createRev, version, lease, longKey] = value;
        // Values stay on disk (first changes of a key in their revision; see offload()).
        const onDisk = val !== null && val.length > 0 && key[8] >> 1 === 0;
        store.restore(
          {
            key: longKey ?? key.subarray(9).toString('latin1'),
            value: val,
            modRev: groupRev,
            createRev,
            version,
            lease: lease === 0 ? NO_LEASE : BigInt(lease),
          },
          onDisk,
          // Positions within partly compacted revisions can no longer be counted in memory (Hash, snapshots).
          groupRev <= compactRev ? sub : 0,
        );
        changes++;
      }
      group = [];
      return true;
    };
    for (const entry of this.revs.getRange()) {
      const rev = revOf(entry.key);
      if (rev !== groupRev) {
        if (!applyGroup()) break;
        groupRev = rev;
      }
      group.push({ key: Buffer.from(entry.key), value: entry.value });
    }
    if (torn === null) applyGroup();
    let droppedRevisions = 0;
    if (torn !== null) {
      const tornFrom: number = torn;
      const doomed = [...this.revs.getKeys({ start: revKey(tornFrom, '') })];
      droppedRevisions = new Set(doomed.map((k) => revOf(k))).size;
      this.revs.transactionSync(() => {
        for (const k of doomed) this.revs.removeSync(k);
      });
    }
    store.compactRev = compactRev;
    if (compactRev > store.currentRev) store.currentRev = compactRev;
    // The scan above made the whole file resident through the map: let the idle reopen drop it.
    this.touch(changes);
    // Keys of revoked-but-still-listed leases cannot exist: revoke writes both in one transaction.
    return { changes, droppedRevisions };
  }

  /**
   * Persist one revision's changes (and anything `alsoWrite` adds in the same transaction); `done` is called once
   * they are durable, or with the error that stopped them. A callback rather than a promise: the revisions of one
   * batch share one transaction, and this way they share its one promise hookup too.
   */
  writeRevision(
    rev: number,
    changes: Rec[],
    alsoWrite: (() => Promise<void> | void) | undefined,
    done: Durable,
  ): void {
    this.submit(
      changes.length,
      () => {
        let last: Promise<boolean> | undefined;
        const n = changes.length;
        // Occurrence of each change among the changes of the same key in this revision (almost always 0).
        const seen = n > 1 ? new Map<string, number>() : undefined;
        for (let sub = 0; sub < n; sub++) {
          const r = changes[sub];
          const occurrence = seen?.get(r.key) ?? 0;
          seen?.set(r.key, occurrence + 1);
          last = this.revs.put(revKey(rev, r.key, occurrence), storedChange(r, sub, n));
        }
        // Issued inside this unit, so it joins the revision's transaction (and sync); its own promise adds nothing.
        void alsoWrite?.()?.catch(() => undefined);
        return last;
      },
      done,
    );
  }

  /** Persist a granted lease. */
  writeLease(id: LeaseId, ttl: number): Promise<void> {
    return this.submitted(1, () => this.leases.put(id.toString(), ttl));
  }

  /** Queue the removal of a lease; call inside the same turn as the revision that deletes its keys. */
  removeLease(id: LeaseId): Promise<void> {
    return this.submitted(1, () => this.leases.remove(id.toString()));
  }

  /** Persist a compaction: the compact revision and the removal of every version it dropped, in one transaction. */
  writeCompaction(rev: number, removed: RemovedVersion[]): Promise<void> {
    return this.submitted(removed.length + 1, () => {
      for (const { rec, occurrence } of removed)
        void this.revs.remove(revKey(rec.modRev, rec.key, occurrence));
      return this.meta.put('compactRev', rev);
    });
  }

  /** Persist aux bucket writes in one transaction. */
  private writeAux(writes: AuxWrite[]): Promise<void> {
    return this.submitted(writes.length, () => {
      let last: Promise<boolean> | undefined;
      for (const w of writes) {
        const k = Buffer.from(auxMapKey(w.bucket, w.key), 'latin1');
        last = w.value === null ? this.aux.remove(k) : this.aux.put(k, w.value);
      }
      return last;
    });
  }

  /**
   * Persist one revision of a restored store as it was: positions (`sub`) and the revision's change count are
   * given, not renumbered, because a compacted revision keeps only some of its changes.
   */
  writeRestoredRevision(
    rev: number,
    changes: Array<{ rec: VersionFields; sub: number }>,
    count: number,
  ): Promise<void> {
    return this.submitted(changes.length, () => {
      let last: Promise<boolean> | undefined;
      const seen = new Map<string, number>();
      for (const { rec, sub } of changes) {
        const occurrence = seen.get(rec.key) ?? 0;
        seen.set(rec.key, occurrence + 1);
        last = this.revs.put(revKey(rev, rec.key, occurrence), storedChange(rec, sub, count));
      }
      return last;
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Group commit
  //
  // A unit (a revision, a lease, a compaction, aux writes) puts its entries synchronously, so it lands in one LMDB
  // transaction: lmdb-js commits what is issued in one event-loop turn as one transaction, and syncs it after the
  // commit (overlapping sync: the next transaction may commit meanwhile). While MAX_IN_FLIGHT transactions are
  // issued and not yet durable, new units wait in `queue`; when the oldest becomes durable, everything queued goes
  // out in one turn (bounded by MAX_BATCH_ENTRIES), so one commit and one sync carry everything that arrived during
  // the previous sync, as etcd batches its WAL fsyncs. Writes made later in the turn a batch went out in still join
  // it: they are in its transaction anyway. A unit is acknowledged on its own transaction's sync, never another's.

  /** {@link submit} as a promise. */
  private submitted(size: number, issue: Issue): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.submit(size, issue, (err) => (err === undefined ? resolve() : reject(err))),
    );
  }

  /** Issue a unit now or queue it behind the transactions in flight; `done` runs once it is durable or failed. */
  private submit(size: number, issue: Issue, done: Durable): void {
    if (this.broken) {
      const err = this.broken;
      queueMicrotask(() => done(err));
      return;
    }
    this.touch(size);
    if (this.gate) {
      void this.gate.then(() => this.submit(size, issue, done));
      return;
    }
    // `issuing`: written by another unit's issue (a lease removal with its revision): it joins that unit. Never
    // past a queued unit: units reach the disk in order, so a crash leaves a prefix of the revisions.
    if (this.issuing || (this.queue.length === 0 && (this.batchOpen || this.inFlight < MAX_IN_FLIGHT))) {
      this.issue(issue, done);
    } else this.queue.push({ size, issue, done });
  }

  /** Put one unit's entries now and attach `done` to its transaction. */
  private issue(issue: Issue, done: Durable): void {
    const nested = this.issuing;
    this.issuing = true;
    let last: Promise<boolean> | undefined;
    try {
      last = issue();
    } catch (err) {
      // lmdb-js validates synchronously (e.g. a key too long): that unit fails, not the batch.
      queueMicrotask(() => done(writeFailed(err)));
      return;
    } finally {
      this.issuing = nested;
    }
    if (last === undefined) queueMicrotask(() => done());
    else this.join(last).push(done);
  }

  /**
   * The callbacks of the transaction `last` (a write just issued) belongs to: the current group's when it is the
   * same transaction, else a new group, counted in flight until its sync is done or its commit failed.
   */
  private join(last: Promise<boolean>): Durable[] {
    const flush: PromiseLike<unknown> = (last as LmdbWrite).flushed ?? this.root.flushed;
    const current = this.group;
    if (current !== undefined && current.flush === flush) {
      // Unconditional puts of one transaction share one promise; a remove has its own, which must not reject
      // unobserved if the commit fails.
      if (last !== current.last) last.then(undefined, current.fail);
      return current.callbacks;
    }
    const group: TxnGroup = { flush, last, callbacks: [], fail: NO_FAIL };
    this.group = group;
    this.inFlight++;
    if (!this.batchOpen) {
      this.batchOpen = true;
      setImmediate(this.closeBatch);
    }
    let settled = false;
    const settle = (err?: EngineError): void => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      if (this.group === group) this.group = undefined;
      // The next batch goes to the disk before this one's acknowledgements are processed.
      this.pump();
      for (const cb of group.callbacks) cb(err);
      if (this.inFlight === 0 && this.queue.length === 0 && this.idleWaiters.length > 0) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    };
    group.fail = (err: unknown): void => settle(writeFailed(err));
    // A failed commit rejects the write's promise (and its sync never reports); a good one resolves, then syncs.
    last.then(undefined, group.fail);
    flush.then(
      () => settle(),
      (err: unknown) => settle(writeFailed(err)),
    );
    return group.callbacks;
  }

  private readonly closeBatch = (): void => {
    this.batchOpen = false;
  };

  /** Issue queued units, up to {@link MAX_BATCH_ENTRIES} entries per batch, while fewer transactions are in flight. */
  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < MAX_IN_FLIGHT && !this.gate) {
      const queue = this.queue;
      let entries = 0;
      let taken = 0;
      while (taken < queue.length && (taken === 0 || entries + queue[taken].size <= MAX_BATCH_ENTRIES)) {
        const unit = queue[taken++];
        entries += unit.size;
        this.issue(unit.issue, unit.done);
      }
      this.queue = taken === queue.length ? [] : queue.slice(taken);
      if (taken === queue.length) break;
    }
  }

  /**
   * Pin the durable state as it is now, for a snapshot: `read` gives the value of an offloaded version from that
   * state whatever is written, compacted or defragmented afterwards, until `release`.
   */
  pinReads(): { read(r: Rec): string | null; release(): void } {
    if (this.broken) throw this.broken;
    if (this.swapping)
      throw new EngineError('INTERNAL', 'etcdserver: durable store pinned while it is reopened');
    const db = this.revs;
    const root = this.root;
    const transaction = db.useReadTransaction();
    this.pins++;
    this.touch();
    let released = false;
    return {
      read: (r) => {
        const value = r.value;
        if (value !== this.marker) return value;
        const stored = db.get(revKey(r.modRev, r.key, 0), { transaction });
        if (typeof stored?.[2] !== 'string') {
          throw new EngineError(
            'INTERNAL',
            `etcdserver: value of revision ${r.modRev} missing from the snapshot`,
          );
        }
        return stored[2];
      },
      release: () => {
        if (released) return;
        released = true;
        transaction.done();
        const retired = this.retired.get(root);
        if (retired === undefined) {
          // Still the environment open (an idle reopen waits for its pins).
          this.pins--;
          this.touch();
        } else if (--retired.pins === 0) {
          this.retired.delete(root);
          this.closeRetired(root, retired.lockFile);
        }
      },
    };
  }

  /**
   * Rewrite the file without its free pages (LMDB's compacting copy), then serve from the copy. Writes issued while
   * the copy is made wait and go to the copy; reads go on from the old file until the synchronous swap.
   */
  defragment(): Promise<void> {
    this.defragging ??= this.defragmentNow().finally(() => (this.defragging = undefined));
    return this.defragging;
  }

  private async defragmentNow(): Promise<void> {
    // An idle reopen holds the gate only for a moment; the copy starts from the reopened environment.
    while (this.gate) await this.gate;
    if (this.broken) throw this.broken;
    let openGate!: () => void;
    this.gate = new Promise<void>((resolve) => (openGate = resolve));
    // A fresh name each time: LMDB keys its lock file on the opened path, and the live one is still in use.
    const tmp = `${this.file}.defrag-${process.pid}-${++defragments}`;
    try {
      await this.root.flushed;
      fs.rmSync(tmp, { force: true });
      await this.root.backup(tmp, true);
      const old = this.root;
      const oldLock = `${this.openedAs}-lock`;
      const next = openDatabases(tmp);
      fs.renameSync(tmp, this.file);
      ({ root: this.root, revs: this.revs, leases: this.leases, meta: this.meta, aux: this.aux } = next);
      this.openedAs = tmp;
      // Pinned snapshots still read the old file (its inode stays until it is closed): closed once they are done.
      if (this.pins > 0) this.retired.set(old, { pins: this.pins, lockFile: oldLock });
      else this.closeRetired(old, oldLock);
      this.pins = 0;
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw new EngineError('INTERNAL', `etcdserver: defragment failed: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      this.gate = undefined;
      // Units queued before the gate go out before the ones that waited on it.
      this.pump();
      openGate();
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Idle reopen
  //
  // LMDB reads through a memory map of the whole file, and the pages a process touched through it stay in its RSS
  // as long as the map exists: every commit copies the B-tree's rightmost leaf and branch pages out of the map, and
  // the kernel's fault-around maps up to 64 KB of cached file pages beside each such fault, so a million keys
  // written in revisions of 128 left ~78 MB of the 108 MB file resident, for good (restore's scan of the file
  // leaves all of it). None of it is needed once the load is over: the index and the values in use are in memory,
  // and a read faults in only the pages it touches. So once the file has not been used for `idleReopenMs` (no
  // unit submitted, no value read, no snapshot pinned), and it was used enough since it was opened to be worth it
  // (REOPEN_AFTER_USES), the environment is closed — which unmaps the file — and opened again: a restart of LMDB
  // in place, on a file whose every transaction is synced.
  //
  // Safety: the timer fires on its own turn of the event loop, when nothing of this log is queued or in flight and
  // no snapshot pins a read transaction (pinned reads keep the environment until they are released). Writes
  // submitted meanwhile wait behind the gate, as during a defragmentation. Reads are synchronous, and the close and
  // the reopen complete within the microtasks of the timer's turn (every write of the old environment has
  // resolved, so lmdb-js's close waits on settled promises only): no request's code runs between them, and the
  // swap is checked by the `swapping` flag, which a read would meet should that ever not hold.

  /** Note a use of the file (`weight`: entries it wrote or read) and arm the idle timer if it is not armed. */
  private touch(weight = 1): void {
    this.touches++;
    this.uses += weight;
    if (this.idleTimer === undefined && this.idleReopenMs > 0 && !this.closing) this.armIdle();
  }

  private armIdle(): void {
    this.touchesArmed = this.touches;
    this.idleTimer = setTimeout(this.idleTick, this.idleReopenMs);
    // Never what keeps a process alive.
    this.idleTimer.unref();
  }

  /** The file was used within the last interval or is in use now: look again later; else reopen. */
  private readonly idleTick = (): void => {
    this.idleTimer = undefined;
    if (this.closing || this.broken) return;
    const busy =
      this.touches !== this.touchesArmed ||
      this.inFlight > 0 ||
      this.queue.length > 0 ||
      this.batchOpen ||
      this.gate !== undefined ||
      this.pins > 0 ||
      // A replaced environment may hold the lock file the reopened one would use (LMDB keys it on the path, and
      // two environments on one lock file in a process deadlock): wait until every one is closed.
      this.retired.size > 0 ||
      this.retiring > 0;
    if (busy) this.armIdle();
    // Too little use to have made much of the file resident: not worth a reopen (the next use arms the timer).
    else if (this.uses >= REOPEN_AFTER_USES) void this.reopen();
  };

  /** Close the environment (dropping its map) and open it again, writes waiting behind the gate meanwhile. */
  private async reopen(): Promise<void> {
    let openGate!: () => void;
    this.gate = new Promise<void>((resolve) => (openGate = resolve));
    this.swapping = true;
    try {
      const old = this.root;
      await old.close();
      if (this.openedAs !== this.file) fs.rmSync(`${this.openedAs}-lock`, { force: true });
      this.openedAs = this.file;
      // LMDB shares an environment between handles on the same file: only once the old one is closed does
      // opening the file map it afresh.
      ({
        root: this.root,
        revs: this.revs,
        leases: this.leases,
        meta: this.meta,
        aux: this.aux,
      } = openDatabases(this.file));
      this.uses = 0;
      this.reopens++;
    } catch (err) {
      this.broken = new EngineError(
        'INTERNAL',
        `etcdserver: durable store could not be reopened: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      this.swapping = false;
      this.gate = undefined;
      // Writes that waited on the gate submit again now (and fail if the environment is gone).
      openGate();
    }
  }

  /** Close an environment no longer served from (its snapshots done) and remove its lock file. */
  private closeRetired(root: RootDatabase, lockFile: string): void {
    this.retiring++;
    void root
      .close()
      .then(() => fs.rmSync(lockFile, { force: true }))
      .catch(() => undefined)
      .finally(() => this.retiring--);
  }

  /** File size and bytes in use. */
  sizes(): { dbSize: number; dbSizeInUse: number } {
    let dbSize = 0;
    try {
      dbSize = fs.statSync(this.file).size;
    } catch {
      // The file may not exist yet on some platforms before the first commit.
    }
    if (this.broken || this.swapping) return { dbSize, dbSizeInUse: dbSize };
    const stats = this.root.getStats() as {
      pageSize?: number;
      treeBranchPageCount?: number;
      treeLeafPageCount?: number;
      overflowPages?: number;
      lastPageNumber?: number;
    };
    const inUse = (stats.lastPageNumber ?? 0) * (stats.pageSize ?? 4096);
    return { dbSize, dbSizeInUse: Math.min(inUse || dbSize, dbSize || inUse) };
  }

  /** Wait for everything written so far to be durable, then close. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    try {
      while (this.gate) await this.gate;
      while (this.inFlight > 0 || this.queue.length > 0) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
      dropDiskMarker(this.marker);
      // Snapshots not released by now read nothing more.
      for (const [root, { lockFile }] of this.retired) this.closeRetired(root, lockFile);
      this.retired.clear();
      // A failed reopen left nothing open.
      if (this.broken) return;
      await this.root.flushed;
      await this.root.close();
      if (this.openedAs !== this.file) fs.rmSync(`${this.openedAs}-lock`, { force: true });
    } finally {
      this.lock.release();
    }
  }
}

let defragments = 0;

/** Called once a unit is durable (no argument) or failed. */
export type Durable = (err?: EngineError) => void;

/** Puts one unit's entries synchronously; returns the last write's promise. */
type Issue = () => Promise<boolean> | undefined;

/** A lmdb-js write promise; with `separateFlushed` it carries the promise of its transaction's sync. */
type LmdbWrite = Promise<boolean> & { flushed?: Promise<void> };

interface QueuedUnit {
  size: number;
  issue: Issue;
  done: Durable;
}

/** One LMDB transaction in flight and the units it carries. */
interface TxnGroup {
  flush: PromiseLike<unknown>;
  /** The write promise the group was opened with. */
  last: Promise<boolean>;
  callbacks: Durable[];
  /** Fails the whole group (a rejected write of this transaction). */
  fail: (err: unknown) => void;
}

const NO_FAIL = (): void => undefined;

/**
 * Uses of the file (entries written, values read, changes restored) since it was opened below which an idle
 * period does not reopen it. Each use can leave at most a few pages resident (up to 64 KB with the kernel's
 * fault-around), so fewer leave little to drop, while a reopen costs ~2 ms and ~130 KB of garbage on the JS heap
 * (lmdb-js builds its store classes anew on every open): a store written now and then reopens once per 1,024
 * writes, not after every pause.
 */
const REOPEN_AFTER_USES = 1024;

/**
 * LMDB transactions in flight at once: one syncing, and one that lmdb-js commits meanwhile (its sync follows
 * at once). One alone would leave the disk idle while a batch commits; more only split what a sync can carry.
 */
const MAX_IN_FLIGHT = 2;

/** Entries (puts and removes) per batch: bounds one transaction's size and the time its issue takes. */
const MAX_BATCH_ENTRIES = 8192;

function writeFailed(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  return new EngineError('INTERNAL', `etcdserver: durable store write failed: ${(err as Error).message}`, {
    cause: err,
  });
}

/** The LMDB file inside a data directory. */
export const DATA_FILE = 'statecar.mdb';

interface Databases {
  root: RootDatabase;
  revs: Database<StoredChange, Buffer>;
  leases: Database<number, string>;
  meta: Database<number, string>;
  aux: Database<Buffer, Buffer>;
}

function openDatabases(file: string): Databases {
  const root = open({
    path: file,
    maxDbs: 4,
    // Resolve commits on visibility and expose `flushed` for durability (see class comment).
    overlappingSync: true,
    separateFlushed: true,
    noSync: false,
    compression: false,
  });
  return {
    root,
    revs: root.openDB<StoredChange, Buffer>({ name: 'revs', keyEncoding: 'binary' }),
    leases: root.openDB<number, string>({ name: 'leases' }),
    meta: root.openDB<number, string>({ name: 'meta' }),
    aux: root.openDB<Buffer, Buffer>({ name: 'aux', keyEncoding: 'binary', encoding: 'binary' }),
  };
}

/** `[sub, count, value|null, createRev, version, lease (0 or decimal string), longKey?]`. */
type StoredChange = [number, number, string | null, number, number, number | string, string?];

/** Keys up to this many bytes are stored inline in the LMDB key (LMDB's limit is 1978 with the 9-byte prefix). */
const MAX_INLINE_KEY = 1024;

/** The stored form of one change at position `sub` of a revision with `count` changes. */
function storedChange(r: VersionFields, sub: number, count: number): StoredChange {
  const stored: StoredChange = [
    sub,
    count,
    r.value,
    r.createRev,
    r.version,
    r.lease === NO_LEASE ? 0 : r.lease.toString(),
  ];
  if (r.key.length > MAX_INLINE_KEY) stored.push(r.key);
  return stored;
}

function revKey(rev: number, key: string, occurrence = 0): Buffer {
  const long = key.length > MAX_INLINE_KEY;
  const b = Buffer.allocUnsafe(9 + (long ? 32 : key.length));
  b.writeUInt32BE(Math.floor(rev / 0x100000000), 0);
  b.writeUInt32BE(rev >>> 0, 4);
  b[8] = (occurrence << 1) | (long ? 1 : 0);
  if (long) createHash('sha256').update(key, 'latin1').digest().copy(b, 9);
  else b.write(key, 9, 'latin1');
  return b;
}

function revOf(k: Buffer | Uint8Array): number {
  const b = Buffer.isBuffer(k) ? k : Buffer.from(k.buffer, k.byteOffset, k.byteLength);
  return b.readUInt32BE(0) * 0x100000000 + b.readUInt32BE(4);
}
