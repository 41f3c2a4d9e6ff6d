import type { KeyValue, RangeRequest, RangeResponse } from '../contract';

/**
 * Range results are finished in TypeScript (etcd apply.go `Range` order: filter, sort, limit) because the script
 * only has to return the keys of the range in byte order; this keeps the Lua small and the rules in one place.
 */

function hasFilters(req: RangeRequest): boolean {
  return Boolean(req.minModRevision || req.maxModRevision || req.minCreateRevision || req.maxCreateRevision);
}

function needsSort(req: RangeRequest): boolean {
  const target = req.sortTarget ?? 'KEY';
  const order = req.sortOrder ?? 'NONE';
  // Byte order ascending is what the store returns anyway.
  return !(target === 'KEY' && (order === 'NONE' || order === 'ASCEND'));
}

/**
 * How many records the script must return: limit+1 when neither sort nor filters need the whole range (the +1
 * tells whether there is more), otherwise 0 = all.
 */
export function fetchLimit(req: RangeRequest): number {
  const limit = req.limit ?? 0;
  if (limit <= 0 || hasFilters(req) || needsSort(req)) return 0;
  return limit + 1;
}

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
  if (hasFilters(req)) {
    const {
      minModRevision: minM,
      maxModRevision: maxM,
      minCreateRevision: minC,
      maxCreateRevision: maxC,
    } = req;
    out = out.filter(
      (kv) =>
        !(maxM && kv.modRevision > maxM) &&
        !(minM && kv.modRevision < minM) &&
        !(maxC && kv.createRevision > maxC) &&
        !(minC && kv.createRevision < minC),
    );
  }
  if (needsSort(req)) {
    const target = req.sortTarget ?? 'KEY';
    const dir = req.sortOrder === 'DESCEND' ? -1 : 1;
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
