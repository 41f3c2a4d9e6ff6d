/**
 * 64-bit integers as proto-loader's `longs: String` represents them (decimal strings), converted to and from the
 * varint numbers the fast codecs write and read, without going through Long.
 */

/**
 * The value of a decimal string of 1 to 15 ASCII digits (always exact as a double), or -1 for any other text:
 * signs, exponents, blanks or longer numbers are left to protobufjs, whose parsing of odd text the fast path does
 * not try to imitate.
 */
export function smallDecimal(s: string): number {
  const n = s.length;
  if (n === 0 || n > 15) return -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(s);
}

/** The varint bytes of an unsigned 64-bit decimal string, or undefined if it is not one (slow: for cached values). */
export function uint64Varint(s: string): Buffer | undefined {
  if (!/^\d{1,20}$/.test(s)) return undefined;
  let v = BigInt(s);
  if (v >= 1n << 64n) return undefined;
  const out: number[] = [];
  while (v >= 128n) {
    out.push(Number(v & 127n) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
