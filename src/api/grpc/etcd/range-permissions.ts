/**
 * etcd's key permission check (auth/range_perm_cache.go with pkg/adt's interval tree): a user's permissions as two
 * sets of half-open byte intervals, READ and WRITE. A single key is allowed when some interval holds it; a range
 * only when the intervals that overlap it cover it without a gap. docs/etcd-auth.md.
 */

/** An interval bound; `null` is +infinity (etcd reads an empty bound that way). */
type Bound = Buffer | null;

interface Interval {
  begin: Bound;
  end: Bound;
}

/** etcd's byte-interval order: an empty / absent bound is above every key. */
function cmp(a: Bound, b: Bound): number {
  const ae = a === null || a.length === 0;
  const be = b === null || b.length === 0;
  if (ae) return be ? 0 : 1;
  if (be) return -1;
  return Buffer.compare(a, b);
}

/** One grant: single key when `rangeEnd` is empty, from-key when it is `\0`, else `[key, rangeEnd)`. */
export interface KeyGrant {
  key: Buffer;
  rangeEnd: Buffer;
  read: boolean;
  write: boolean;
}

function grantInterval(key: Buffer, rangeEnd: Buffer): Interval {
  if (rangeEnd.length === 0) return { begin: key, end: Buffer.concat([key, Buffer.from([0])]) };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { begin: key, end: null };
  return { begin: key, end: rangeEnd };
}

class IntervalSet {
  private readonly items: Interval[] = [];

  add(iv: Interval): void {
    this.items.push(iv);
    this.items.sort((a, b) => cmp(a.begin, b.begin) || cmp(a.end, b.end));
  }

  /** Some interval holds the point `key` (etcd `Intersects` with `[key, key\0)`). */
  holds(key: Buffer): boolean {
    return this.items.some((iv) => cmp(iv.begin, key) <= 0 && cmp(key, iv.end) < 0);
  }

  /** The overlapping intervals cover `want` contiguously (etcd `IntervalTree.Contains`). */
  covers(want: Interval): boolean {
    let minBegin: Bound | undefined;
    let maxEnd: Bound = Buffer.alloc(0);
    for (const iv of this.items) {
      // Overlap: begin < want.end and want.begin < end.
      if (!(cmp(iv.begin, want.end) < 0 && cmp(want.begin, iv.end) < 0)) continue;
      if (minBegin === undefined) {
        minBegin = iv.begin;
        maxEnd = iv.end;
        continue;
      }
      if (cmp(maxEnd, iv.begin) < 0) return false;
      if (cmp(iv.end, maxEnd) > 0) maxEnd = iv.end;
    }
    return minBegin !== undefined && cmp(maxEnd, want.end) >= 0 && cmp(minBegin, want.begin) <= 0;
  }
}

/** A user's merged permissions. */
export class RangePermissions {
  private readonly read = new IntervalSet();
  private readonly write = new IntervalSet();

  constructor(grants: Iterable<KeyGrant>) {
    for (const g of grants) {
      const iv = grantInterval(g.key, g.rangeEnd);
      if (g.read) this.read.add(iv);
      if (g.write) this.write.add(iv);
    }
  }

  /** Whether `(key, rangeEnd)` of a request is allowed for reading or writing. */
  allows(kind: 'read' | 'write', key: Buffer, rangeEnd: Buffer | undefined): boolean {
    const set = kind === 'read' ? this.read : this.write;
    if (!rangeEnd || rangeEnd.length === 0) return set.holds(key);
    const end = rangeEnd.length === 1 && rangeEnd[0] === 0 ? null : rangeEnd;
    return set.covers({ begin: key, end });
  }
}
