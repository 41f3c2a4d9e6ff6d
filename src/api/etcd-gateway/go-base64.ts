/**
 * Base64 as etcd's gateway decodes `bytes` fields (Go's `base64.StdEncoding`): the standard alphabet, `=` padding
 * required, CR and LF skipped anywhere, and an error naming the byte offset where decoding failed
 * (`illegal base64 data at input byte 4`). Node's decoder accepts anything and silently drops what it does not
 * understand, which would turn a typo into a different key.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int16Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

const PAD = 0x3d;

function isNewline(c: number): boolean {
  return c === 0x0a || c === 0x0d;
}

/** Go's `CorruptInputError`. */
export class Base64Error extends Error {
  constructor(readonly offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
  }
}

/** Decode `src` (the bytes of the JSON string) or throw {@link Base64Error} at the offset Go reports. */
export function decodeGoBase64(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(Math.floor(src.length / 4) * 3 + 3);
  let n = 0;
  let si = 0;
  const quantum = [0, 0, 0, 0];
  while (si < src.length) {
    // One quantum of up to four symbols (newlines do not count).
    let j = 0;
    let dlen = 4;
    for (; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return out.subarray(0, n);
        // Padding is required: a quantum cut short is corrupt from its start.
        throw new Base64Error(si - j);
      }
      const c = src[si++];
      const v = DECODE[c];
      if (v >= 0) {
        quantum[j] = v;
        continue;
      }
      if (isNewline(c)) {
        j--;
        continue;
      }
      if (c !== PAD) throw new Base64Error(si - 1);
      // Padding: only after two or three symbols.
      if (j < 2) throw new Base64Error(si - 1);
      if (j === 2) {
        // "==" expected; the first "=" is consumed.
        while (si < src.length && isNewline(src[si])) si++;
        if (si === src.length) throw new Base64Error(src.length);
        if (src[si] !== PAD) throw new Base64Error(si - 1);
        si++;
      }
      while (si < src.length && isNewline(src[si])) si++;
      // Nothing may follow the padding.
      if (si < src.length) throw new Base64Error(si);
      dlen = j;
      break;
    }
    const val =
      (quantum[0] << 18) |
      (quantum[1] << 12) |
      ((dlen > 2 ? quantum[2] : 0) << 6) |
      (dlen > 3 ? quantum[3] : 0);
    out[n++] = (val >> 16) & 0xff;
    if (dlen > 2) out[n++] = (val >> 8) & 0xff;
    if (dlen > 3) out[n++] = val & 0xff;
    if (dlen < 4) break;
  }
  return out.subarray(0, n);
}
