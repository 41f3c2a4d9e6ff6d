import BTree from 'sorted-btree';
import type { Rec } from './record';

/** Binary strings order exactly as bytes with plain comparison (sorted-btree's default comparator is generic). */
function compareBin(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Key → newest version, with byte-ordered iteration (etcd mvcc's `treeIndex`).
 *
 * Point lookups go through a hash map: a B-tree lookup over a million keys costs ~20 string comparisons through
 * V8's runtime, slower than hashing the key once, and a single-key read is the hot path of every Dapr GetState.
 * The B-tree keeps only the keys (sorted-btree shares one empty value array across a key-only tree), for ranges.
 */
export class KeyIndex {
  private readonly byKey = new Map<string, Rec>();
  private readonly order = new BTree<string, undefined>(undefined, compareBin, 64);

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Rec | undefined {
    return this.byKey.get(key);
  }

  set(key: string, rec: Rec): void {
    if (!this.byKey.has(key)) this.order.set(key, undefined);
    this.byKey.set(key, rec);
  }

  delete(key: string): void {
    if (this.byKey.delete(key)) this.order.delete(key);
  }

  /** Visit keys in `[lo, hi)` in byte order; `hi === null` means no upper bound. */
  forRange(lo: string, hi: string | null, visit: (key: string, rec: Rec) => void): void {
    const byKey = this.byKey;
    // Binary strings never contain chars above \xff, so \uffff is above every key.
    this.order.forRange(lo, hi ?? '\uffff', false, (k) => {
      visit(k, byKey.get(k)!);
    });
  }
}
