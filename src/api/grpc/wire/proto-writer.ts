/**
 * A minimal protobuf writer for the hand-written response encoders of the hot gRPC methods: callers size the
 * message first (the `*Size` helpers), allocate once, then write front to back. The bytes produced are the ones
 * protobufjs writes for the same fields, so the wire does not change.
 */

/** Encoded size of an unsigned varint holding `n` (0 ≤ n < 2^53). */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Encoded size of a length-delimited field's content of `len` bytes, with a one-byte tag. */
export function delimitedSize(len: number): number {
  return 1 + varintSize(len) + len;
}

/** A fixed-size output buffer filled front to back. */
export class ProtoWriter {
  readonly buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** An unsigned varint (0 ≤ n < 2^53). */
  varint(n: number): this {
    const buf = this.buf;
    while (n >= 128) {
      buf[this.pos++] = (n & 127) | 128;
      n = Math.floor(n / 128);
    }
    buf[this.pos++] = n;
    return this;
  }

  /** Raw bytes, e.g. a pre-encoded field. */
  raw(bytes: Uint8Array): this {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** A length-delimited bytes field: tag, length, content. */
  bytesField(tag: number, bytes: Uint8Array): this {
    this.buf[this.pos++] = tag;
    this.varint(bytes.length);
    return this.raw(bytes);
  }

  /** A length-delimited string field whose UTF-8 length the caller already knows. */
  stringField(tag: number, s: string, byteLength: number): this {
    this.buf[this.pos++] = tag;
    this.varint(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
    return this;
  }

  /** The written message; the size computed up front must have been exact. */
  finish(): Buffer {
    if (this.pos !== this.buf.length) {
      throw new Error(`protobuf size mismatch: wrote ${this.pos} of ${this.buf.length} bytes`);
    }
    return this.buf;
  }
}
