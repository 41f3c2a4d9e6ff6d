/**
 * Bytes of many small entries (keys, values) packed into large off-heap chunks, so a million entries cost a
 * million slices of a few buffers rather than a million V8 strings (each with a 16–24 byte header, on the heap the
 * garbage collector walks).
 *
 * An entry is addressed by (chunk, offset, length), held by its owner in typed arrays. Entries are appended to the
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
  /** Where the last {@link put} wrote: read right after the call. */
  lastChunk = 0;
  lastOffset = 0;

  /** Copy an entry in (a Buffer, or a binary string: one char per byte); its address is in lastChunk/lastOffset. */
  put(src: Buffer | string, len: number): void {
    if (len === 0) {
      // Nothing to hold; readers of an empty entry never touch a chunk.
      this.lastChunk = 0;
      this.lastOffset = 0;
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
    this.lastChunk = c;
    this.lastOffset = off;
  }

  /** Free an entry. A chunk left without live bytes is dropped at once (the current one when it is left). */
  free(c: number, len: number): void {
    if (len === 0) return;
    this.live[c] -= len;
    this.liveBytes -= len;
    this.deadBytes += len;
    if (this.live[c] === 0 && c !== this.cur) this.release(c);
  }

  /** The entry as a binary string. */
  str(c: number, off: number, len: number): string {
    return len === 0 ? '' : (this.chunks[c]! as RawBuffer).latin1Slice(off, off + len);
  }

  /** A copy of the entry as a Buffer of its own. */
  buf(c: number, off: number, len: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    const b = this.chunks[c];
    // Small entries by hand: Buffer#copy's argument handling costs more than copying a few dozen bytes.
    if (len <= 256) for (let i = 0; i < len; i++) out[i] = b![off + i];
    else b!.copy(out, 0, off, off + len);
    return out;
  }

  /** Whether the entry holds exactly the bytes of binary string `s`. */
  equals(c: number, off: number, len: number, s: string): boolean {
    if (len !== s.length) return false;
    const b = this.chunks[c]!;
    for (let i = 0; i < len; i++) if (b[off + i] !== s.charCodeAt(i)) return false;
    return true;
  }

  /** Whether the entry holds exactly the bytes of `key` (the caller checked the length). */
  equalsBytes(c: number, off: number, key: Uint8Array): boolean {
    const b = this.chunks[c]!;
    for (let i = 0; i < key.length; i++) if (b[off + i] !== key[i]) return false;
    return true;
  }

  /** Byte-wise order of the entry against binary string `s` (negative: the entry sorts first). */
  compareStr(c: number, off: number, len: number, s: string): number {
    const b = this.chunks[c]!;
    const n = len < s.length ? len : s.length;
    for (let i = 0; i < n; i++) {
      const d = b[off + i] - s.charCodeAt(i);
      if (d !== 0) return d;
    }
    return len - s.length;
  }

  /** Byte-wise order of two entries. */
  compare(c1: number, o1: number, l1: number, c2: number, o2: number, l2: number): number {
    const a = this.chunks[c1]!;
    const b = this.chunks[c2]!;
    const n = l1 < l2 ? l1 : l2;
    for (let i = 0; i < n; i++) {
      const d = a[o1 + i] - b[o2 + i];
      if (d !== 0) return d;
    }
    return l1 - l2;
  }

  /** FNV-1a of the entry; equal to {@link hashStr} of the same bytes. */
  hash(c: number, off: number, len: number): number {
    const b = this.chunks[c]!;
    let h = 0x811c9dc5;
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

/** A typed array grown to hold at least `n` elements (×1.5, so growth copies stay amortised O(1)). */
export function grown<T extends Int32Array | Float64Array>(a: T, n: number, fill?: number): T {
  if (n <= a.length) return a;
  const size = Math.max(n, Math.ceil(a.length * 1.5), 16);
  const b = new (a.constructor as { new (n: number): T })(size);
  b.set(a);
  if (fill !== undefined) b.fill(fill, a.length);
  return b;
}
