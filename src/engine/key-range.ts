/**
 * Keys as "binary strings": one char per byte (latin1), so that JavaScript string comparison is exactly etcd's
 * byte-wise key order, and keys are compact and hashable. Conversions happen once at the engine boundary.
 */

/** Bytes → binary string (one char per byte). */
export function toBin(b: Buffer | Uint8Array): string {
  if (b.length === 0) return '';
  // A plain Uint8Array's own toString() would render "1,2,3"; view its bytes as a Buffer instead.
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('latin1');
}

/** Binary string → bytes. */
export function fromBin(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** The single byte `\0`: as a range end it means "no upper bound". */
export const NUL = '\0';

/**
 * A resolved key interval: `end === undefined` means the single key `start`; `end === null` means every key
 * `>= start`; otherwise `[start, end)`.
 */
export interface KeyInterval {
  start: string;
  end: string | null | undefined;
}

/** Resolve etcd's (key, range_end) pair (docs/etcd-semantics.md#key-ranges). */
export function interval(key: string, rangeEnd: string | undefined): KeyInterval {
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start: key, end: undefined };
  if (rangeEnd === NUL) return { start: key, end: null };
  return { start: key, end: rangeEnd };
}

/** Whether `k` falls in the interval. */
export function inInterval(iv: KeyInterval, k: string): boolean {
  if (iv.end === undefined) return k === iv.start;
  if (k < iv.start) return false;
  return iv.end === null || k < iv.end;
}

/**
 * The range end that selects every key with `prefix` (clientv3 `getPrefix`): the prefix with its last byte below
 * 0xff incremented and trailing 0xff bytes dropped; `\0` (no upper bound) when there is no such byte.
 */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i] = end[i] + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
