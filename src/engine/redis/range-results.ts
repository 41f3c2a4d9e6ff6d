import type { KeyValue, RangeRequest, RangeResponse } from '../contract';
import { effectiveSort, hasRevisionFilters, passesRevisionFilters } from '../range-rules';

/**
 * Range results are finished in TypeScript (etcd apply.go `Range` order: filter, sort, limit) because the script
 * only has to return the keys of the range in byte order; this keeps the Lua small and the rules in one place.
 */

function sortKey(kv: KeyValue, target: string): number | Buffer {
  switch (target) {
    case 'VERSION':
      return kv.version;
    case 'CREATE':
      return kv.createRevision;
    case 'MOD':
      return kv.modRevision;
    case 'VALUE':
      return kv.value;
    default:
      return kv.key;
  }
}

/** Apply filters, sort and limit to the records of a range (in byte order) and build the response. */
export function finishRange(
  req: RangeRequest,
  kvs: KeyValue[],
  count: number,
  revision: number,
): RangeResponse {
  if (req.countOnly) return { header: { revision }, kvs: [], more: false, count };
  let out = kvs;
  if (hasRevisionFilters(req)) {
    out = out.filter((kv) => passesRevisionFilters(req, kv.modRevision, kv.createRevision));
  }
  const sort = effectiveSort(req);
  if (sort) {
    const { target } = sort;
    const dir = sort.descend ? -1 : 1;
    out = [...out].sort((a, b) => {
      const x = sortKey(a, target);
      const y = sortKey(b, target);
      const c = typeof x === 'number' ? x - (y as number) : Buffer.compare(x, y as Buffer);
      return c * dir;
    });
  }
  let more = false;
  const limit = req.limit ?? 0;
  if (limit > 0 && out.length > limit) {
    out = out.slice(0, limit);
    more = true;
  }
  return { header: { revision }, kvs: out, more, count };
}
