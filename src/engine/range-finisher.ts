import type { KeyValue, RangeRequest, RangeResponse, SortTarget } from './contract';
import { effectiveSort, hasRevisionFilters, passesRevisionFilters } from './range-rules';

/**
 * The last steps of every backend's Range, in etcd's order (apply.go `Range`): revision filters, sort, limit, and
 * only then the conversion of what is left into contract KeyValues. A backend reads the versions of the range in
 * key order (as far as `rangeFetchLimit` says) and the count of the whole range, and hands both over here, in its
 * own row type so that rows cut by the limit are never converted.
 */

/**
 * How the finisher reads a backend's rows. `key` and `value` give bytes in a form that compares byte-wise: binary
 * strings (with `<`) or Buffers (with `Buffer.compare`); a sort reads them once per row.
 */
export interface RangeRows<T> {
  key(row: T): string | Buffer;
  value(row: T): string | Buffer;
  version(row: T): number;
  createRevision(row: T): number;
  modRevision(row: T): number;
  toKeyValue(row: T, keysOnly: boolean): KeyValue;
}

const NO_KVS: KeyValue[] = [];

function sortKey<T>(read: RangeRows<T>, row: T, target: SortTarget): number | string | Buffer {
  switch (target) {
    case 'VERSION':
      return read.version(row);
    case 'CREATE':
      return read.createRevision(row);
    case 'MOD':
      return read.modRevision(row);
    case 'VALUE':
      return read.value(row);
    default:
      return read.key(row);
  }
}

function compare(a: number | string | Buffer, b: number | string | Buffer): number {
  if (Buffer.isBuffer(a)) return Buffer.compare(a, b as Buffer);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Apply filters, sort and limit to the rows of a range (in key order) and build the response. */
export function finishRange<T>(
  req: RangeRequest,
  rows: T[],
  count: number,
  revision: number,
  read: RangeRows<T>,
): RangeResponse {
  if (req.countOnly) return { header: { revision }, kvs: NO_KVS, more: false, count };
  let out = rows;
  if (hasRevisionFilters(req)) {
    out = out.filter((r) => passesRevisionFilters(req, read.modRevision(r), read.createRevision(r)));
  }
  const sort = effectiveSort(req);
  if (sort) {
    // Sort keys computed once per row (a VALUE sort may load a value from disk); a stable sort keeps ties in key
    // order, as etcd's.
    const dir = sort.descend ? -1 : 1;
    const keyed = out.map((row) => ({ row, k: sortKey(read, row, sort.target) }));
    keyed.sort((a, b) => compare(a.k, b.k) * dir);
    out = keyed.map((x) => x.row);
  }
  let more = false;
  const limit = req.limit ?? 0;
  if (limit > 0 && out.length > limit) {
    out = out.slice(0, limit);
    more = true;
  }
  const keysOnly = req.keysOnly === true;
  return { header: { revision }, kvs: out.map((r) => read.toKeyValue(r, keysOnly)), more, count };
}

/** {@link RangeRows} for backends whose rows already are KeyValues (`keysOnly` applied when they were read). */
export const KEY_VALUE_ROWS: RangeRows<KeyValue> = {
  key: (kv) => kv.key,
  value: (kv) => kv.value,
  version: (kv) => kv.version,
  createRevision: (kv) => kv.createRevision,
  modRevision: (kv) => kv.modRevision,
  toKeyValue: (kv) => kv,
};
