import type { RangeRequest, SortTarget } from './contract';

/**
 * etcd's Range evaluation rules (apply.go `Range`), shared by every backend so they cannot drift apart: which
 * revision filters are set, the implied sort order, and how much of the range has to be fetched before filters,
 * sort and limit are applied.
 */

/** Whether any min/max revision filter is set. A bound <= 0 is unset, as in etcd. */
export function hasRevisionFilters(req: RangeRequest): boolean {
  return (
    (req.minModRevision ?? 0) > 0 ||
    (req.maxModRevision ?? 0) > 0 ||
    (req.minCreateRevision ?? 0) > 0 ||
    (req.maxCreateRevision ?? 0) > 0
  );
}

/** Whether a version with these revisions passes the request's filters (bounds inclusive, <= 0 unset). */
export function passesRevisionFilters(
  req: RangeRequest,
  modRevision: number,
  createRevision: number,
): boolean {
  const { maxModRevision: maxMod = 0, minModRevision: minMod = 0 } = req;
  const { maxCreateRevision: maxCreate = 0, minCreateRevision: minCreate = 0 } = req;
  if (maxMod > 0 && modRevision > maxMod) return false;
  if (minMod > 0 && modRevision < minMod) return false;
  if (maxCreate > 0 && createRevision > maxCreate) return false;
  if (minCreate > 0 && createRevision < minCreate) return false;
  return true;
}

/**
 * The sort to apply, or undefined when the result stays in ascending key order (the order ranges are read in).
 * A target other than KEY with order NONE implies ASCEND.
 */
export function effectiveSort(req: RangeRequest): { target: SortTarget; descend: boolean } | undefined {
  const target = req.sortTarget ?? 'KEY';
  let order = req.sortOrder ?? 'NONE';
  if (target !== 'KEY' && order === 'NONE') order = 'ASCEND';
  if (order === 'NONE' || (target === 'KEY' && order === 'ASCEND')) return undefined;
  return { target, descend: order === 'DESCEND' };
}

/**
 * How many versions of the range must be fetched: all of them (0) when a sort or filter needs the whole range or
 * there is no limit, otherwise limit + 1 (the extra one tells whether there is `more`).
 */
export function rangeFetchLimit(req: RangeRequest): number {
  const limit = req.limit ?? 0;
  if (limit <= 0 || hasRevisionFilters(req) || effectiveSort(req) !== undefined) return 0;
  return limit + 1;
}
