/**
 * Secondary indexes for the Query API: declared per state store in component metadata (`queryIndexes`), kept in
 * the same engine as the data, and written in the same engine transaction as the value they describe.
 *
 * An index entry is an engine key `statecar-index||<store head>||<field>||<value>||<app key>` with an empty value,
 * attached to the same lease as the data key (so a TTL expiry removes both at once). An equality lookup is then
 * one prefix range: its cost follows the number of matches, not the size of the store. Entries are maintained by
 * the Dapr state API; writes through the etcd API bypass them, so every candidate an index yields is read and
 * checked against the whole filter before it is returned (a stale entry can cost a read, never a wrong result).
 * See docs/state-views.md.
 */
import { createHash } from 'node:crypto';
import type { Compare, Engine, KeyValue, LeaseId, RequestOp } from '../engine/contract';
import { prefixEnd } from '../engine/key-range';
import type { KeyRange, KeySpace } from './key-space';
import { KEY_SEPARATOR } from './key-prefix';
import type { FieldPath, Scalar } from './query-language';
import { scalarsAt } from './query-language';
import { isEngineError } from '../engine/errors';
import { StateError } from './state-errors';

/** Root of every index key; contains the separator, so no app key of any store can collide with it. */
const INDEX_ROOT = `statecar-index${KEY_SEPARATOR}`;
/** Encoded values longer than this are indexed by their hash (lookups hash the same way). */
const MAX_VALUE_TEXT = 256;
/** Attempts of an indexed write whose key keeps changing under it before it gives up. */
const MAX_ATTEMPTS = 32;
/** Waits between attempts to prepare the entries while the engine does not answer (ms). */
const PREPARE_RETRY_MS = [250, 1000, 5000];

/** `|` and `%` escaped, so that `||` only ever appears as the separator in an index key. */
function escapeBars(s: string): string {
  return s.replace(/%/g, '%25').replace(/\|/g, '%7C');
}

/** A scalar as it appears in an index key: typed (`"1"` and `1` differ), long values hashed. */
function encodeValue(v: Scalar): string {
  const text = escapeBars(JSON.stringify(v));
  if (text.length <= MAX_VALUE_TEXT) return text;
  return `#${createHash('sha256').update(text).digest('base64url')}`;
}

/** Parse `queryIndexes`: Dapr's Redis form (`[{"name", "indexes": [{"key", "type"}]}]`) or a comma list of paths. */
export function parseIndexDeclaration(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  const t = text.trim();
  let paths: string[];
  if (t.startsWith('[')) {
    let raw: unknown;
    try {
      raw = JSON.parse(t);
    } catch (err) {
      throw new Error(`queryIndexes is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(raw)) throw new Error('queryIndexes must be a JSON array of {name, indexes}');
    paths = raw.flatMap((schema: unknown) => {
      const indexes = (schema as { indexes?: unknown })?.indexes;
      if (!Array.isArray(indexes)) throw new Error('every queryIndexes entry needs an "indexes" array');
      return indexes.map((ix: unknown) => {
        const key = (ix as { key?: unknown })?.key;
        if (typeof key !== 'string') throw new Error('every index needs a "key" (a field path)');
        return key;
      });
    });
  } else {
    paths = t.split(',').map((p) => p.trim());
  }
  for (const p of paths) {
    if (p === '' || p.split('.').some((part) => part === '') || p.includes(KEY_SEPARATOR)) {
      throw new Error(
        `queryIndexes: ${JSON.stringify(p)} is not a field path (parts joined by ".", no "||")`,
      );
    }
  }
  return [...new Set(paths)].sort();
}

/** A value to write: the data key's new value and lease. */
export interface IndexedValue {
  value: Buffer;
  lease: LeaseId;
}

/** One key an indexed commit writes: its app key and the new value (absent = delete). */
export interface IndexedWrite {
  key: string;
  stored: Buffer;
  put?: IndexedValue;
}

/** Outcome of an indexed commit: on failure `current` holds the keys' values the conditions were checked on. */
export interface IndexedCommit {
  succeeded: boolean;
  current: Map<string, KeyValue | undefined>;
  /** The values the commit replaced (their leases may now be unused). */
  previous: KeyValue[];
}

/** The declared indexes of one store. */
export class QueryIndexes {
  readonly paths: FieldPath[];
  private readonly root: string;
  /** True once the stored entries are known to match the declaration; until then queries scan. */
  ready = false;

  constructor(
    declared: readonly string[],
    private readonly keys: KeySpace,
  ) {
    this.paths = declared.map((text) => ({ text, parts: text.split('.') }));
    this.root = `${INDEX_ROOT}${escapeBars(keys.head)}`;
  }

  /** True when an equality on this path can be answered from an index. */
  has(path: FieldPath): boolean {
    return this.paths.some((p) => p.text === path.text);
  }

  /** The range of the entries of one value of one indexed field. */
  lookup(path: FieldPath, value: Scalar): KeyRange {
    const start = Buffer.from(
      `${this.root}${KEY_SEPARATOR}${escapeBars(path.text)}${KEY_SEPARATOR}${encodeValue(value)}${KEY_SEPARATOR}`,
      'utf8',
    );
    return { key: start, rangeEnd: prefixEnd(start) };
  }

  /** The app key an index entry points at. */
  appKeyOf(entry: Buffer): string {
    const s = entry.toString('utf8');
    return s.slice(s.lastIndexOf(KEY_SEPARATOR) + KEY_SEPARATOR.length);
  }

  /** The index entries of a value (none for a value that is not JSON). */
  entriesOf(key: string, value: Buffer | undefined): string[] {
    if (value === undefined || this.paths.length === 0) return [];
    let doc: unknown;
    try {
      doc = JSON.parse(value.toString('utf8'));
    } catch {
      return [];
    }
    const out = new Set<string>();
    for (const p of this.paths) {
      const field = `${this.root}${KEY_SEPARATOR}${escapeBars(p.text)}${KEY_SEPARATOR}`;
      for (const v of scalarsAt(doc, p.parts)) out.add(`${field}${encodeValue(v)}${KEY_SEPARATOR}${key}`);
    }
    return [...out];
  }

  /** The index ops that go with replacing `old` by `next` (absent = deleted). */
  writeOps(key: string, old: KeyValue | undefined, next: IndexedValue | undefined): RequestOp[] {
    const before = new Set(this.entriesOf(key, old?.value));
    const after = this.entriesOf(key, next?.value);
    const ops: RequestOp[] = [];
    const leaseChanged = (old?.lease ?? 0n) !== (next?.lease ?? 0n);
    for (const e of after) {
      // An unchanged entry is rewritten only to move it to the value's new lease (a txn touches a key once).
      if (leaseChanged || !before.has(e)) {
        ops.push({ put: { key: Buffer.from(e, 'utf8'), value: Buffer.alloc(0), lease: next?.lease ?? 0n } });
      }
      before.delete(e);
    }
    for (const e of before) ops.push({ deleteRange: { key: Buffer.from(e, 'utf8') } });
    return ops;
  }

  /**
   * Commit writes with their index ops as one engine txn. The keys are read first (in one txn, so at one
   * revision), `conditions` (the caller's etag / first-write compares) are checked on what was read, and the
   * write is made conditional on the keys being unchanged since; if another writer got in between, it is done
   * again on the new values.
   */
  async commit(engine: Engine, conditions: Compare[], writes: IndexedWrite[]): Promise<IndexedCommit> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await engine.txn({ success: writes.map((w) => ({ range: { key: w.stored } })) });
      const current = new Map<string, KeyValue | undefined>();
      writes.forEach((w, i) => current.set(w.stored.toString('latin1'), read.responses[i]?.range?.kvs[0]));
      const at = (stored: Buffer) => current.get(stored.toString('latin1'));
      if (!conditions.every((c) => holds(c, at(c.key)))) return { succeeded: false, current, previous: [] };
      const success: RequestOp[] = [];
      const unchanged: Compare[] = [];
      for (const w of writes) {
        const old = at(w.stored);
        unchanged.push(
          old
            ? { key: w.stored, target: 'MOD', result: 'EQUAL', modRevision: old.modRevision }
            : { key: w.stored, target: 'VERSION', result: 'EQUAL', version: 0 },
        );
        success.push(
          w.put
            ? { put: { key: w.stored, value: w.put.value, lease: w.put.lease } }
            : { deleteRange: { key: w.stored } },
          ...this.writeOps(w.key, old, w.put),
        );
      }
      const res = await engine.txn({ compare: unchanged, success });
      if (res.succeeded) {
        return { succeeded: true, current, previous: [...current.values()].filter((kv) => kv !== undefined) };
      }
    }
    throw new StateError('STORE', `the keys kept changing during ${MAX_ATTEMPTS} attempts to write them`);
  }

  /**
   * {@link prepare} in the background, retried while the engine does not answer (a Redis that is down at start-up
   * must not hold up the sidecar): resolves once done, or when the engine is closed.
   */
  async prepareInBackground(engine: Engine): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.prepare(engine);
        this.ready = true;
        return;
      } catch (err) {
        if (isEngineError(err) && err.code === 'STOPPED') return;
        const ms = PREPARE_RETRY_MS[Math.min(attempt, PREPARE_RETRY_MS.length - 1)];
        await new Promise((r) => setTimeout(r, ms).unref());
      }
    }
  }

  /**
   * Make the stored entries match the declaration. A store whose declaration changed (or that had none) gets its
   * entries rebuilt from a scan; an unchanged one costs one read. Writes keep entries up to date meanwhile.
   */
  async prepare(engine: Engine): Promise<void> {
    const manifestKey = Buffer.from(this.root, 'utf8');
    const manifest = JSON.stringify(this.paths.map((p) => p.text));
    const res = await engine.range({ key: manifestKey });
    const stored = res.kvs[0]?.value.toString('utf8');
    if (stored === manifest || (stored === undefined && this.paths.length === 0)) return;
    const entries = Buffer.from(`${this.root}${KEY_SEPARATOR}`, 'utf8');
    await engine.deleteRange({ key: entries, rangeEnd: prefixEnd(entries) });
    if (this.paths.length === 0) {
      await engine.deleteRange({ key: manifestKey });
      return;
    }
    await this.rebuild(engine);
    await engine.put({ key: manifestKey, value: Buffer.from(manifest, 'utf8') });
  }

  /** Write the entries of every value in the store, each guarded by the value's mod revision. */
  private async rebuild(engine: Engine): Promise<void> {
    const range = this.keys.range();
    let from = range.key;
    let revision = 0;
    for (;;) {
      const page = await engine.range({ key: from, rangeEnd: range.rangeEnd, limit: 1000, revision });
      // A header carries the store's current revision: the first page's is the one every page reads.
      if (revision === 0) revision = page.header.revision;
      for (const kv of page.kvs) {
        const key = this.keys.decode(kv.key);
        if (key === undefined) continue;
        const ops = this.writeOps(key, undefined, { value: kv.value, lease: kv.lease });
        if (ops.length === 0) continue;
        // A value changed since the scan was indexed by its writer already.
        await engine.txn({
          compare: [{ key: kv.key, target: 'MOD', result: 'EQUAL', modRevision: kv.modRevision }],
          success: ops,
        });
      }
      if (!page.more || page.kvs.length === 0) return;
      from = Buffer.concat([page.kvs[page.kvs.length - 1].key, Buffer.from([0])]);
    }
  }
}

/** Whether a compare of the kinds the state layer makes (MOD = n, VERSION = 0) holds on a key's value. */
function holds(c: Compare, kv: KeyValue | undefined): boolean {
  if (c.target === 'MOD' && c.result === 'EQUAL') return (kv?.modRevision ?? 0) === c.modRevision;
  if (c.target === 'VERSION' && c.result === 'EQUAL') return (kv?.version ?? 0) === c.version;
  throw new StateError('STORE', `internal: unexpected condition ${c.target} ${c.result}`);
}
