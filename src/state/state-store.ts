/**
 * One Dapr state store on an engine: Dapr's state semantics (docs/dapr-api.md) expressed as engine ranges, txns and
 * leases.
 *
 * - etag = the key's mod revision; conditions are txn compares, so check and write are one atomic step.
 * - TTL = a lease per written key (see {@link LeaseClock}); a later write without TTL detaches the key.
 * - Multi-item save and bulk delete run per item in parallel (not atomic, as Dapr); a transaction is exactly one
 *   engine txn: one revision, all or nothing.
 */
import type { Compare, Engine, KeyValue, LeaseId, RequestOp } from '../engine/contract';
import { KEY_SEPARATOR } from './key-prefix';
import { KeySpace } from './key-space';
import type { LeaseClock } from './lease-clock';
import type { StateOptions } from './options';
import { checkOptions, etagMismatch, parseEtag, writeCondition } from './options';
import type { IndexedWrite } from './query-index';
import { QueryIndexes } from './query-index';
import { StateError, joinItemErrors, toStateError } from './state-errors';
import { TTL_EXPIRE_TIME_KEY, formatExpireTime, parseTtl } from './ttl';

/** An item to save. `value` is the exact bytes to store (the API layer has already encoded it). */
export interface SaveItem {
  key: string;
  value: Buffer;
  etag?: string;
  metadata?: Record<string, string>;
  options?: StateOptions;
}

/** An item to delete. */
export interface DeleteItem {
  key: string;
  etag?: string;
  metadata?: Record<string, string>;
  options?: StateOptions;
}

export interface GetOptions {
  consistency?: string;
  metadata?: Record<string, string>;
}

/** A read result; `data` undefined = not found. `metadata` holds `ttlExpireTime` when the key expires. */
export interface StateEntry {
  data?: Buffer;
  etag?: string;
  metadata: Record<string, string>;
}

/** One bulk-get result, in request order, with the caller's key. */
export interface BulkEntry extends StateEntry {
  key: string;
  error?: string;
}

/** A transaction operation; `operation` is checked here (`upsert` / `delete`, exact and lower-case). */
export interface TransactionOp {
  operation: string;
  request: SaveItem | DeleteItem;
}

/** Dapr feature names every {@link DaprStateStore} supports (listed as capabilities by the metadata API). */
export const STATE_FEATURES: readonly string[] = ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API'];

export interface StateStoreConfig {
  name: string;
  engine: Engine;
  clock: LeaseClock;
  /** Resolved key prefix ('' = none). */
  prefix: string;
  /** Most operations a transaction may hold (the engine's per-txn op limit). */
  maxTxnOps: number;
  /** Field paths with a query index (component metadata `queryIndexes`; none by default). */
  queryIndexes?: readonly string[];
}

/** Dapr state operations on one store. All methods reject with {@link StateError}. */
export class DaprStateStore {
  readonly name: string;
  readonly maxTxnOps: number;
  readonly engine: Engine;
  readonly clock: LeaseClock;
  /** The app's keys in the engine (the key prefix applied and stripped). */
  readonly keys: KeySpace;
  /** The query indexes, when the component declares any. */
  readonly indexes?: QueryIndexes;

  constructor(cfg: StateStoreConfig) {
    this.name = cfg.name;
    this.engine = cfg.engine;
    this.clock = cfg.clock;
    this.keys = KeySpace.forStatePrefix(cfg.prefix);
    this.maxTxnOps = cfg.maxTxnOps;
    if (cfg.queryIndexes && cfg.queryIndexes.length > 0) {
      this.indexes = new QueryIndexes(cfg.queryIndexes, this.keys);
    }
  }

  /**
   * Bring the store's query indexes in line with its declaration, in the background: the store serves at once,
   * its queries scan until the entries are known to be right. Resolves when done (or the engine closed).
   * Without a declaration the entries an earlier declaration left are removed.
   */
  prepare(): Promise<void> {
    return (this.indexes ?? new QueryIndexes([], this.keys)).prepareInBackground(this.engine);
  }

  /** Reject keys containing `||` (checked before the prefix is applied, as Dapr). */
  static checkKey(key: string): void {
    if (key.includes(KEY_SEPARATOR)) {
      throw new StateError('ILLEGAL_KEY', `input key/keyPrefix '${key}' can't contain '${KEY_SEPARATOR}'`, {
        key,
      });
    }
  }

  /** Get one key. Strong consistency uses the engine's linearizable read, eventual a serializable one. */
  async get(key: string, opts: GetOptions = {}): Promise<StateEntry> {
    DaprStateStore.checkKey(key);
    try {
      const res = await this.engine.range({
        key: this.keys.encode(key),
        serializable: opts.consistency !== 'strong',
      });
      const kv = res.kvs[0];
      // Most keys have no TTL: answer without the lease lookup and the extra await it costs on every read.
      if (kv !== undefined && kv.lease === 0n) {
        return { data: kv.value, etag: String(kv.modRevision), metadata: {} };
      }
      return await this.entryOf(kv);
    } catch (err) {
      throw toStateError(err);
    }
  }

  /** Get several keys with at most `parallelism` reads at once (≤ 0: all at once); per-key errors stay per key. */
  async bulkGet(keys: string[], parallelism: number, opts: GetOptions = {}): Promise<BulkEntry[]> {
    for (const k of keys) DaprStateStore.checkKey(k);
    const out: BulkEntry[] = new Array<BulkEntry>(keys.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const i = next++;
        try {
          out[i] = { key: keys[i], ...(await this.get(keys[i], opts)) };
        } catch (err) {
          out[i] = { key: keys[i], metadata: {}, error: toStateError(err).message };
        }
      }
    };
    const n = parallelism > 0 ? Math.min(parallelism, keys.length) : keys.length;
    await Promise.all(Array.from({ length: n }, worker));
    return out;
  }

  /**
   * Save items. One item is one conditional put; several run in parallel, each on its own (Dapr's BulkSet): the
   * ones that succeed stay written and the failures are joined into one error.
   */
  async save(items: SaveItem[]): Promise<void> {
    for (const it of items) DaprStateStore.checkKey(it.key);
    await this.perItem(items, (it) => this.setOne(it));
  }

  /** Delete items, per item as {@link save}. Deleting a missing key without an etag succeeds. */
  async delete(items: DeleteItem[]): Promise<void> {
    for (const it of items) DaprStateStore.checkKey(it.key);
    await this.perItem(items, (it) => this.deleteOne(it));
  }

  /**
   * Run a transaction as one engine txn. Operations apply in order: a later operation on the same key sees the
   * earlier one, so they are folded into the last write per key (an etcd txn may touch each key once), and the
   * conditions of the first operation on each key become the txn's compares.
   */
  async transact(ops: TransactionOp[]): Promise<void> {
    for (const op of ops) {
      DaprStateStore.checkKey(op.request.key);
      if (op.operation !== 'upsert' && op.operation !== 'delete') {
        throw new StateError('UNSUPPORTED_OPERATION', `operation type ${op.operation} not supported`, {
          operation: op.operation,
        });
      }
    }
    if (ops.length > this.maxTxnOps) {
      throw new StateError('TOO_MANY_OPS', 'too many operations', { count: ops.length, max: this.maxTxnOps });
    }
    if (ops.length === 0) return;

    // Simulated state of keys already touched by this transaction: true = exists (written), false = deleted.
    const touched = new Map<string, boolean>();
    const compares: Compare[] = [];
    const finalOps = new Map<string, { stored: Buffer; put?: { value: Buffer; ttl: number } }>();
    for (const op of ops) {
      const req = op.request;
      const { concurrency } = checkOptions(req.options);
      const etag = parseEtag(req.etag);
      const ttl = op.operation === 'upsert' ? parseTtl(req.metadata) : 0;
      const stored = this.keys.encode(req.key);
      const seen = touched.get(req.key);
      if (seen === undefined) {
        const cmp = writeCondition(stored, req.key, etag, concurrency);
        if (cmp) compares.push(cmp);
      } else if (etag !== undefined) {
        // The key was written earlier in this txn: its new revision is not known to anyone yet.
        throw etagMismatch(req.key, seen ? 'etag mismatch' : 'state not exist or expired');
      } else if (concurrency === 'first-write' && seen) {
        throw etagMismatch(req.key, 'first-write on an existing key');
      }
      touched.set(req.key, op.operation === 'upsert');
      // Map.set keeps the key's first position; the content is the last operation's.
      finalOps.set(req.key, {
        stored,
        put:
          op.operation === 'upsert' ? { value: (req as SaveItem).value ?? Buffer.alloc(0), ttl } : undefined,
      });
    }

    const leases: LeaseId[] = [];
    try {
      const writes: IndexedWrite[] = [];
      for (const [key, f] of finalOps) {
        const lease = f.put && f.put.ttl > 0 ? await this.clock.grant(f.put.ttl) : 0n;
        if (lease !== 0n) leases.push(lease);
        writes.push({ key, stored: f.stored, put: f.put ? { value: f.put.value, lease } : undefined });
      }
      const { succeeded, previous } = await this.commit(compares, writes);
      if (!succeeded) throw new StateError('ETAG_MISMATCH', 'possible etag mismatch: a condition failed');
      await this.releasePrevLeases(previous);
      leases.length = 0;
    } catch (err) {
      throw toStateError(err);
    } finally {
      // Leases of a failed txn hold no keys: drop them now rather than at expiry.
      await Promise.all(leases.map((l) => this.clock.revoke(l)));
    }
  }

  /**
   * Write keys as one engine txn under `compares`. With query indexes the index entries go into the same txn
   * (see query-index.ts); `current` is then what the compares were checked on.
   */
  private async commit(
    compares: Compare[],
    writes: IndexedWrite[],
  ): Promise<{ succeeded: boolean; previous: KeyValue[]; current?: KeyValue }> {
    if (this.indexes) {
      const r = await this.indexes.commit(this.engine, compares, writes);
      return { ...r, current: r.current.get(writes[0].stored.toString('latin1')) };
    }
    const success: RequestOp[] = writes.map((w) =>
      w.put
        ? { put: { key: w.stored, value: w.put.value, lease: w.put.lease, prevKv: true } }
        : { deleteRange: { key: w.stored, prevKv: true } },
    );
    // A single write that fails reads the key, so the mismatch can say why.
    const failure: RequestOp[] = writes.length === 1 ? [{ range: { key: writes[0].stored } }] : [];
    const res = await this.engine.txn({ compare: compares, success, failure });
    if (!res.succeeded) return { succeeded: false, previous: [], current: res.responses[0]?.range?.kvs[0] };
    const previous = res.responses.flatMap((r) => [r.put?.prevKv, ...(r.deleteRange?.prevKvs ?? [])]);
    return { succeeded: true, previous: previous.filter((kv) => kv !== undefined) };
  }

  private async perItem<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
    // One item (the usual save) needs no settling of a batch: its error is the joined error of a batch of one.
    if (items.length === 1) {
      try {
        await fn(items[0]);
      } catch (err) {
        throw joinItemErrors([toStateError(err)]);
      }
      return;
    }
    const results = await Promise.allSettled(items.map(fn));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [toStateError(r.reason)] : []));
    if (errors.length > 0) throw joinItemErrors(errors);
  }

  private async setOne(item: SaveItem): Promise<void> {
    const { concurrency } = checkOptions(item.options);
    const etag = parseEtag(item.etag);
    const ttl = parseTtl(item.metadata);
    const stored = this.keys.encode(item.key);
    const cmp = writeCondition(stored, item.key, etag, concurrency);
    const lease = ttl > 0 ? await this.clock.grant(ttl) : 0n;
    let ok = false;
    try {
      const res = await this.commit(cmp ? [cmp] : [], [
        { key: item.key, stored, put: { value: item.value, lease } },
      ]);
      if (!res.succeeded) throw etagMismatch(item.key, this.mismatchReason(res.current, etag));
      ok = true;
      await this.releasePrevLeases(res.previous);
    } finally {
      if (!ok && lease !== 0n) await this.clock.revoke(lease);
    }
  }

  private async deleteOne(item: DeleteItem): Promise<void> {
    const { concurrency } = checkOptions(item.options);
    const etag = parseEtag(item.etag);
    const stored = this.keys.encode(item.key);
    const cmp = writeCondition(stored, item.key, etag, concurrency);
    const res = await this.commit(cmp ? [cmp] : [], [{ key: item.key, stored }]);
    if (!res.succeeded) throw etagMismatch(item.key, this.mismatchReason(res.current, etag));
    await this.releasePrevLeases(res.previous);
  }

  private mismatchReason(current: KeyValue | undefined, etag: number | undefined): string {
    if (etag === undefined) return 'first-write on an existing key';
    return current ? 'etag mismatch' : 'state not exist or expired';
  }

  private async releasePrevLeases(prev: (KeyValue | undefined)[]): Promise<void> {
    const leases: LeaseId[] = [];
    for (const kv of prev) if (kv && kv.lease !== 0n) leases.push(kv.lease);
    // Most overwritten values had no TTL: nothing to release, so nothing to await.
    if (leases.length === 0) return;
    await Promise.all(leases.map((lease) => this.clock.releaseIfUnused(lease)));
  }

  private async entryOf(kv: KeyValue | undefined): Promise<StateEntry> {
    if (!kv) return { metadata: {} };
    const due = await this.clock.expiresAt(kv.lease);
    if (due !== undefined && due <= Date.now()) {
      // Due but not yet reaped: it is gone for readers (as Dapr's in-memory store's lazy expiry); make it so.
      void this.clock.revoke(kv.lease);
      return { metadata: {} };
    }
    const metadata: Record<string, string> = {};
    if (due !== undefined) metadata[TTL_EXPIRE_TIME_KEY] = formatExpireTime(due);
    return { data: kv.value, etag: String(kv.modRevision), metadata };
  }
}
