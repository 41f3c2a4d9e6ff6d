/**
 * Growable numeric columns in fixed pages of typed arrays.
 *
 * A contiguous typed array that grows by copying holds up to 1.5× what it needs, touches the old and the new copy
 * while growing, and leaves freed blocks the allocator may keep: at a million entries that was ~40 MB of RSS over
 * the data. Pages are allocated as the column grows and never move, so a column costs its entries plus at most one
 * page.
 */

const SHIFT = 16;
/** Entries per page (256 KiB). */
const PAGE = 1 << SHIFT;
const MASK = PAGE - 1;

/** The pages of one column: how many entries they hold, what they cost, and giving whole pages back. */
abstract class PageList<P extends { readonly byteLength: number }> {
  protected readonly pages: P[] = [];
  /** Entries the allocated pages hold. */
  capacity = 0;

  /** Give back whole pages above index `n` (after a renumbering shrank the table). */
  truncate(n: number): void {
    const keep = Math.max(1, Math.ceil(n / PAGE));
    if (this.pages.length > keep) {
      this.pages.length = keep;
      this.capacity = keep * PAGE;
    }
  }

  /** Bytes allocated. */
  get bytes(): number {
    let b = 0;
    for (const p of this.pages) b += p.byteLength;
    return b;
  }
}

abstract class Paged<A extends Int32Array> extends PageList<A> {
  constructor(private readonly fill: number) {
    super();
  }

  protected abstract newPage(): A;

  /** Make room for indexes below `n`. */
  ensure(n: number): void {
    while (this.capacity < n) {
      const p = this.newPage();
      if (this.fill !== 0) p.fill(this.fill);
      this.pages.push(p);
      this.capacity += PAGE;
    }
  }

  get(i: number): number {
    return this.pages[i >>> SHIFT][i & MASK];
  }

  set(i: number, v: number): void {
    this.pages[i >>> SHIFT][i & MASK] = v;
  }
}

/** A paged Int32 column; new entries read as `fill`. */
export class PagedI32 extends Paged<Int32Array> {
  constructor(fill = 0) {
    super(fill);
  }

  protected newPage(): Int32Array {
    return new Int32Array(PAGE);
  }
}

const TWO32 = 2 ** 32;

/**
 * A paged column of non-negative integers up to 2^53 (arena addresses) in 4 bytes an entry while they stay
 * below 2^32: the high words get pages of their own only once some entry needs them, which takes 4 GiB of arena
 * chunks. Half the memory of a Float64 column for every store that will ever exist in practice, exact for all.
 */
export class PagedU53 {
  private readonly lo = new PagedI32();
  private hi: PagedI32 | undefined;

  get capacity(): number {
    return this.lo.capacity;
  }

  ensure(n: number): void {
    this.lo.ensure(n);
    this.hi?.ensure(n);
  }

  get(i: number): number {
    const lo = this.lo.get(i) >>> 0;
    return this.hi === undefined ? lo : this.hi.get(i) * TWO32 + lo;
  }

  set(i: number, v: number): void {
    this.lo.set(i, v | 0);
    if (v >= TWO32 || this.hi !== undefined) {
      if (this.hi === undefined) {
        this.hi = new PagedI32();
        this.hi.ensure(this.lo.capacity);
      }
      this.hi.set(i, Math.floor(v / TWO32));
    }
  }

  truncate(n: number): void {
    this.lo.truncate(n);
    this.hi?.truncate(n);
  }

  get bytes(): number {
    return this.lo.bytes + (this.hi?.bytes ?? 0);
  }
}

type SmallPage = Uint8Array | Uint16Array | Uint32Array | Float64Array;

/** The largest value a page of this element size holds (a Float64 page holds any integer up to 2^53). */
function pageMax(p: SmallPage): number {
  const b = p.BYTES_PER_ELEMENT;
  return b === 1 ? 0xff : b === 2 ? 0xffff : b === 4 ? 0xffffffff : Infinity;
}

/**
 * A paged column of mostly small integers (lengths, versions, distances to another row): each page is as wide as
 * its largest value needs, 1 byte an entry while they stay below 256 (from `bias`), then 2, 4 or 8 bytes for that
 * page alone, widened in place the first time a value does not fit. Exact for any integer up to 2^53.
 */
export class PagedSmall extends PageList<SmallPage> {
  /** `bias`: the smallest value expected (stored as `v - bias`; a smaller one makes its page 8 bytes wide). */
  constructor(private readonly bias = 0) {
    super();
  }

  ensure(n: number): void {
    while (this.capacity < n) {
      this.pages.push(new Uint8Array(PAGE));
      this.capacity += PAGE;
    }
  }

  get(i: number): number {
    return this.pages[i >>> SHIFT][i & MASK] + this.bias;
  }

  set(i: number, v: number): void {
    const p = this.pages[i >>> SHIFT];
    const s = v - this.bias;
    if (s >= 0 ? s <= pageMax(p) : p.BYTES_PER_ELEMENT === 8) {
      p[i & MASK] = s;
      return;
    }
    // The first value of this page that does not fit: the page gets the narrowest width that holds it.
    const wide =
      s < 0 || s > 0xffffffff
        ? new Float64Array(PAGE)
        : s > 0xffff
          ? new Uint32Array(PAGE)
          : new Uint16Array(PAGE);
    wide.set(p);
    wide[i & MASK] = s;
    this.pages[i >>> SHIFT] = wide;
  }
}

const NO_PAGE = new Int32Array(0);

/**
 * A paged Int32 column that is mostly 0 (the lease of a version): a page is allocated only when a non-zero value
 * is first written into it, so a store without leases spends nothing on the column.
 */
export class PagedSparseI32 extends PageList<Int32Array> {
  ensure(n: number): void {
    while (this.capacity < n) {
      this.pages.push(NO_PAGE);
      this.capacity += PAGE;
    }
  }

  get(i: number): number {
    const p = this.pages[i >>> SHIFT];
    return p.length === 0 ? 0 : p[i & MASK];
  }

  set(i: number, v: number): void {
    let p = this.pages[i >>> SHIFT];
    if (p.length === 0) {
      if (v === 0) return;
      p = this.pages[i >>> SHIFT] = new Int32Array(PAGE);
    }
    p[i & MASK] = v;
  }
}

/**
 * A paged column of non-negative, non-decreasing integers (mod revisions in version id order): each page keeps a
 * base, the first value ever written into it, and its entries as their distance from it in a {@link PagedSmall},
 * 2 bytes an entry while a page of 65,536 rows spans fewer than 65,536 revisions (which every page does unless
 * compaction squeezed it). A base never changes while its page lives: renumbering reads rows it has not moved yet,
 * and only ever writes a row a value from a later one, never below the base.
 */
export class PagedRising {
  private readonly offsets = new PagedSmall();
  private readonly bases: number[] = [];

  get capacity(): number {
    return this.offsets.capacity;
  }

  ensure(n: number): void {
    this.offsets.ensure(n);
    while (this.bases.length * PAGE < this.offsets.capacity) this.bases.push(-1);
  }

  get(i: number): number {
    return this.bases[i >>> SHIFT] + this.offsets.get(i);
  }

  set(i: number, v: number): void {
    let base = this.bases[i >>> SHIFT];
    if (base < 0) base = this.bases[i >>> SHIFT] = v;
    this.offsets.set(i, v - base);
  }

  truncate(n: number): void {
    this.offsets.truncate(n);
    this.bases.length = Math.ceil(this.offsets.capacity / PAGE);
  }

  get bytes(): number {
    return this.offsets.bytes;
  }
}
