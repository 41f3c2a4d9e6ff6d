/**
 * Bytes of many small entries (keys, values) packed into large off-heap chunks, so a million entries cost a
 * million slices of a few buffers rather than a million V8 strings (each with a 16–24 byte header, on the heap the
 * garbage collector walks).
 *
 * An entry is addressed by one number, `chunk * 2^20 + offset` (below 2^32, so 4 bytes, for the first 4 GiB of
 * chunks), and its length, held by its owner in typed arrays. Entries are appended to the
 * current chunk; a freed entry's bytes stay dead until its chunk has no live bytes left, when the chunk is dropped,
 * or until the owner rewrites its live entries into a fresh arena ({@link ByteArena.fragmented} says when that
 * pays). Entries larger than a quarter chunk get a chunk of their own, so they are returned whole when freed.
 */

/** Chunk size: large enough that per-chunk costs vanish, small enough that a half-empty last chunk does not matter. */
const CHUNK = 1 << 20;

/**
 * Node's Buffer methods behind `write(s, off, len, 'latin1')` and `toString('latin1', start, end)`, without their
 * encoding dispatch (present on every Buffer since Node 0.x, absent from the typings).
 */
interface RawBuffer extends Buffer {
  latin1Write(s: string, offset: number, length: number): number;
  latin1Slice(start: number, end: number): string;
}
const OWN_CHUNK = CHUNK >>> 2;

export class ByteArena {
  private chunks: Array<Buffer | null> = [];
  /** Bytes handed out per chunk (dead ones included) and bytes still live per chunk. */
  private used: number[] = [];
  private live: number[] = [];
  private spare: number[] = [];
  private cur = -1;
  private pos = CHUNK;
  /** Live bytes over all chunks. */
  liveBytes = 0;
  /** Bytes handed out and since freed, in chunks still held. */
  deadBytes = 0;
  /** Where the last {@link put} wrote (its address): read right after the call. */
  lastAddr = 0;

  /** Copy an entry in (a Buffer, or a binary string: one char per byte); its address is in lastAddr. */
  put(src: Buffer | string, len: number): void {
    if (len === 0) {
      // Nothing to hold; readers of an empty entry never touch a chunk.
      this.lastAddr = 0;
      return;
    }
    let c: number;
    let off: number;
    if (len > OWN_CHUNK) {
      c = this.newChunk(len);
      off = 0;
    } else {
      if (this.pos + len > CHUNK) {
        if (this.cur >= 0 && this.live[this.cur] === 0) this.release(this.cur);
        this.cur = this.newChunk(CHUNK);
        this.pos = 0;
      }
      c = this.cur;
      off = this.pos;
      this.pos += len;
    }
    const chunk = this.chunks[c]! as RawBuffer;
    if (typeof src === 'string') chunk.latin1Write(src, off, len);
    else src.copy(chunk, off, 0, len);
    this.used[c] += len;
    this.live[c] += len;
    this.liveBytes += len;
    this.lastAddr = c * CHUNK + off;
  }

  /** Free an entry. A chunk left without live bytes is dropped at once (the current one when it is left). */
  free(addr: number, len: number): void {
    if (len === 0) return;
    const c = chunkOf(addr);
    this.live[c] -= len;
    this.liveBytes -= len;
    this.deadBytes += len;
    if (this.live[c] === 0 && c !== this.cur) this.release(c);
  }

  /** The entry as a binary string. */
  str(addr: number, len: number): string {
    if (len === 0) return '';
    const c = chunkOf(addr);
    const off = addr - c * CHUNK;
    return (this.chunks[c]! as RawBuffer).latin1Slice(off, off + len);
  }

  /** A copy of the entry as a Buffer of its own. */
  buf(addr: number, len: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    if (len === 0) return out;
    const c = chunkOf(addr);
    const off = addr - c * CHUNK;
    const b = this.chunks[c];
    // Small entries by hand: Buffer#copy's argument handling costs more than copying a few dozen bytes.
    if (len <= 256) for (let i = 0; i < len; i++) out[i] = b![off + i];
    else b!.copy(out, 0, off, off + len);
    return out;
  }

  /** Whether the entry holds exactly the bytes of binary string `s`. */
  equals(addr: number, len: number, s: string): boolean {
    if (len !== s.length) return false;
    if (len === 0) return true;
    const c = chunkOf(addr);
    const off = addr - c * CHUNK;
    const b = this.chunks[c]!;
    // From the end: keys of one table tend to share prefixes, so a probe that is not the key fails at once.
    for (let i = len - 1; i >= 0; i--) if (b[off + i] !== s.charCodeAt(i)) return false;
    return true;
  }

  /** Whether the entry holds exactly the bytes of `key` (the caller checked the length). */
  equalsBytes(addr: number, key: Uint8Array): boolean {
    if (key.length === 0) return true;
    const c = chunkOf(addr);
    const off = addr - c * CHUNK;
    const b = this.chunks[c]!;
    for (let i = key.length - 1; i >= 0; i--) if (b[off + i] !== key[i]) return false;
    return true;
  }

  /** Byte-wise order of the entry against binary string `s` (negative: the entry sorts first). */
  compareStr(addr: number, len: number, s: string): number {
    const n = len < s.length ? len : s.length;
    if (n === 0) return len - s.length;
    const c = chunkOf(addr);
    const off = addr - c * CHUNK;
    const b = this.chunks[c]!;
    for (let i = 0; i < n; i++) {
      const d = b[off + i] - s.charCodeAt(i);
      if (d !== 0) return d;
    }
    return len - s.length;
  }

  /** Byte-wise order of two entries. */
  compare(a1: number, l1: number, a2: number, l2: number): number {
    const n = l1 < l2 ? l1 : l2;
    if (n === 0) return l1 - l2;
    const c1 = chunkOf(a1);
    const c2 = chunkOf(a2);
    const o1 = a1 - c1 * CHUNK;
    const o2 = a2 - c2 * CHUNK;
    const a = this.chunks[c1]!;
    const b = this.chunks[c2]!;
    for (let i = 0; i < n; i++) {
      const d = a[o1 + i] - b[o2 + i];
      if (d !== 0) return d;
    }
    return l1 - l2;
  }

  /** FNV-1a of the entry; equal to {@link hashStr} of the same bytes. */
  hash(addr: number, len: number): number {
    let h = 0x811c9dc5;
    if (len === 0) return h >>> 0;
    const c = chunkOf(addr);
    const off = addr - c * CHUNK;
    const b = this.chunks[c]!;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ b[off + i], 0x01000193);
    return h >>> 0;
  }

  /** Whether rewriting the live entries into a fresh arena would give back enough memory to be worth a pass. */
  fragmented(): boolean {
    return this.deadBytes > 4 * CHUNK && this.deadBytes > this.liveBytes;
  }

  /** Bytes held in chunks (what the arena costs in memory). */
  get heldBytes(): number {
    let n = 0;
    for (const c of this.chunks) if (c !== null) n += c.length;
    return n;
  }

  private newChunk(size: number): number {
    const c = this.spare.pop() ?? this.chunks.length;
    // Not from Node's shared pool: a chunk lives long, and a pooled slice would pin the pool's whole buffer.
    this.chunks[c] = Buffer.allocUnsafeSlow(size);
    this.used[c] = 0;
    this.live[c] = 0;
    return c;
  }

  private release(c: number): void {
    this.deadBytes -= this.used[c] - this.live[c];
    this.chunks[c] = null;
    this.used[c] = 0;
    this.live[c] = 0;
    this.spare.push(c);
    if (c === this.cur) {
      this.cur = -1;
      this.pos = CHUNK;
    }
  }
}

/** The chunk of an address (exact for any address up to 2^53). */
function chunkOf(addr: number): number {
  return addr < 0x80000000 ? addr >>> 20 : Math.floor(addr / CHUNK);
}

/** FNV-1a of a binary string (one char per byte). */
export function hashStr(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** FNV-1a of bytes; equal to {@link hashStr} of the same bytes as a binary string. */
export function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

/**
 * A typed array grown to hold at least `n` elements, by `factor` (and at least 16 entries), so growth copies stay
 * amortised O(1); a factor near 1 keeps the slack small for arrays that grow to millions.
 */
export function grown<T extends Int32Array | Float64Array>(a: T, n: number, fill?: number, factor = 1.5): T {
  if (n <= a.length) return a;
  const size = Math.max(n, Math.ceil(a.length * factor), 16);
  const b = new (a.constructor as { new (n: number): T })(size);
  b.set(a);
  if (fill !== undefined) b.fill(fill, a.length);
  return b;
}
