/**
 * The Query API on a store: Dapr's query language (query-language.ts) over the app's keys, read at one revision.
 *
 * A query reads its first page at the store's current revision and puts that revision into its page token, so all
 * of its pages see one snapshot: paging through a store that is being written returns every key of that snapshot
 * exactly once. A token whose revision the engine has compacted away is refused with a clear error. Results are
 * ordered by the sort keys, then by key, so pages are stable. The cost is a scan of the app's key range, except for
 * an equality (EQ or IN, alone, inside AND, or on every branch of an OR) on an indexed field, which reads only the
 * index entries and the values they name (query-index.ts). See docs/state-views.md.
 */
import type { Engine, KeyValue } from '../engine/contract';
import type { KeySpace } from './key-space';
import type { PagePosition } from './page-token';
import { decodePageToken, encodePageToken, tokenCheck, tokenReadError } from './page-token';
import type { QueryIndexes } from './query-index';
import type { FieldPath, Filter, Query, Scalar } from './query-language';
import { compareValues, matches, parseQuery, queryShape, sortValue } from './query-language';
import { StateError, toStateError } from './state-errors';

/** What a query needs of a store. */
export interface QuerySource {
  name: string;
  engine: Engine;
  keys: KeySpace;
  indexes?: QueryIndexes;
  /** Most ops per engine txn (the values an index names are read in txns of at most this many). */
  maxTxnOps?: number;
}

/** One result: the value's bytes as stored (GET returns the same). */
export interface QueryItem {
  key: string;
  data: Buffer;
  etag: string;
}

export interface QueryResult {
  results: QueryItem[];
  /** The next page's token; absent on the last page. */
  token?: string;
  /** The revision every page of this query reads. */
  revision: number;
  /** Whether an index answered the filter (else the key range was scanned). */
  indexed: boolean;
}

/** The answer's metadata: the revision every page reads, and whether an index or a scan found the rows. */
export function queryMetadata(r: QueryResult): Record<string, string> {
  return { revision: String(r.revision), plan: r.indexed ? 'index' : 'scan' };
}

/** Values read per engine txn when following index entries (at most the store's ops per txn). */
const FETCH_BATCH = 64;

interface Row {
  key: string;
  kv: KeyValue;
  doc?: unknown;
}

/** Run a query (its JSON text, as the API received it). Rejects with a StateError. */
export async function queryState(source: QuerySource, text: string): Promise<QueryResult> {
  try {
    return await runQuery(source, parseQuery(text));
  } catch (err) {
    throw toStateError(err);
  }
}

async function runQuery(source: QuerySource, q: Query): Promise<QueryResult> {
  const check = tokenCheck(source.name, queryShape(q));
  const start = startOf(q.token, check);
  const plan = q.filter && source.indexes?.ready ? indexPlan(q.filter, source.indexes) : undefined;
  let read: { rows: Row[]; revision: number };
  try {
    read = plan ? await readIndexed(source, plan, start.revision) : await scan(source, start.revision);
  } catch (err) {
    throw start.revision > 0 ? tokenReadError(err, start.revision) : err;
  }
  const { revision } = read;
  let rows = read.rows;
  if (q.filter || q.sort.length > 0) {
    for (const row of rows) row.doc = parseDoc(row);
  }
  if (q.filter) {
    const f = q.filter;
    rows = rows.filter((row) => matches(row.doc, f));
  }
  if (q.sort.length > 0) {
    const keys = q.sort;
    // Array.prototype.sort is stable: rows equal on every sort key keep their key order.
    rows.sort((a, b) => {
      for (const k of keys) {
        const c = compareValues(sortValue(a.doc, k), sortValue(b.doc, k));
        if (c !== 0) return k.descending ? -c : c;
      }
      return 0;
    });
  }
  const offset = start.offset ?? 0;
  const end = q.limit > 0 ? offset + q.limit : rows.length;
  const page = rows.slice(offset, end);
  const token = end < rows.length ? encodePageToken({ revision, offset: end }, check) : undefined;
  return {
    results: page.map((r) => ({ key: r.key, data: r.kv.value, etag: String(r.kv.modRevision) })),
    token,
    revision,
    indexed: plan !== undefined,
  };
}

/**
 * Where a query's page starts. statecar's tokens carry their revision; a bare decimal offset (the token Dapr's
 * stores return, and the docs' examples send) is accepted too and reads the current revision.
 */
function startOf(token: string | undefined, check: string): PagePosition {
  if (token === undefined) return { revision: 0, offset: 0 };
  if (/^\d+$/.test(token)) {
    const offset = Number(token);
    if (!Number.isSafeInteger(offset))
      throw new StateError('INVALID_REQUEST', `invalid page token "${token}"`);
    return { revision: 0, offset };
  }
  return decodePageToken(token, check);
}

function parseDoc(row: Row): unknown {
  try {
    return JSON.parse(row.kv.value.toString('utf8'));
  } catch {
    throw new StateError(
      'INVALID_REQUEST',
      `the value of key ${JSON.stringify(row.key)} is not JSON, so it cannot be filtered or sorted ` +
        '(save JSON over HTTP, or with metadata contentType=application/json over gRPC)',
    );
  }
}

/** Every app key of the store at `revision` (0 = the current one), in key order. */
async function scan(source: QuerySource, revision: number): Promise<{ rows: Row[]; revision: number }> {
  // One read: a range counts every key it covers whatever its limit, so reading in chunks would pay that again
  // for each chunk.
  const res = await source.engine.range({ ...source.keys.range(), revision });
  const rows: Row[] = [];
  for (const kv of res.kvs) {
    const key = source.keys.decode(kv.key);
    if (key !== undefined) rows.push({ key, kv });
  }
  // A header carries the current revision, not the one read: the first read fixes the snapshot.
  return { rows, revision: revision === 0 ? res.header.revision : revision };
}

/** Index lookups whose union holds every match of a filter. */
type Lookups = { path: FieldPath; value: Scalar }[];

/**
 * The index lookups that answer a filter's candidates, or undefined when it needs a scan. `EQ null` is not
 * answered from an index: it also matches documents without the field, which have no entry.
 */
function indexPlan(f: Filter, indexes: QueryIndexes): Lookups | undefined {
  switch (f.op) {
    case 'EQ':
      return indexes.has(f.path) && f.value !== null ? [{ path: f.path, value: f.value }] : undefined;
    case 'IN':
      if (!indexes.has(f.path) || f.values.includes(null)) return undefined;
      return f.values.map((value) => ({ path: f.path, value }));
    case 'AND':
      for (const c of f.filters) {
        const p = indexPlan(c, indexes);
        if (p) return p;
      }
      return undefined;
    case 'OR': {
      const all: Lookups = [];
      for (const c of f.filters) {
        const p = indexPlan(c, indexes);
        if (!p) return undefined;
        all.push(...p);
      }
      return all;
    }
    default:
      return undefined;
  }
}

/** The values the index entries of `lookups` name, at one revision, in key order. */
async function readIndexed(
  source: QuerySource,
  lookups: Lookups,
  revision: number,
): Promise<{ rows: Row[]; revision: number }> {
  const indexes = source.indexes!;
  let rev = revision;
  const candidates = new Set<string>();
  for (const l of lookups) {
    const res = await source.engine.range({
      ...indexes.lookup(l.path, l.value),
      keysOnly: true,
      revision: rev,
    });
    if (rev === 0) rev = res.header.revision;
    for (const kv of res.kvs) candidates.add(indexes.appKeyOf(kv.key));
  }
  const keys = [...candidates].map((k) => ({ key: k, stored: source.keys.encode(k) }));
  keys.sort((a, b) => Buffer.compare(a.stored, b.stored));
  // One txn of range ops per batch: one round trip to the engine for many values, all at the same revision.
  const batch = Math.max(1, Math.min(FETCH_BATCH, source.maxTxnOps ?? FETCH_BATCH));
  const found: Row[] = [];
  for (let i = 0; i < keys.length; i += batch) {
    const part = keys.slice(i, i + batch);
    const res = await source.engine.txn({
      success: part.map((k) => ({ range: { key: k.stored, revision: rev } })),
    });
    part.forEach((k, j) => {
      const kv = res.responses[j]?.range?.kvs[0];
      if (kv) found.push({ key: k.key, kv });
    });
  }
  return { rows: found, revision: rev };
}
