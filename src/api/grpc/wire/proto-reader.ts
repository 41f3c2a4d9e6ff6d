/**
 * A minimal protobuf reader for the hand-written request decoders of the hot gRPC methods.
 *
 * It only handles well-formed input in its plainest form: varints of at most 5 bytes for tags, lengths and 32-bit
 * fields, int64s that fit in 7 varint bytes (below 2^49), lengths that stay inside the message, and strings that are
 * valid UTF-8. Anything else
 * throws {@link FastPathMiss}, and the caller decodes the message again with proto-loader, so odd or malformed
 * input gets exactly the result (or the error) it always got.
 */

import { isUtf8 } from 'node:buffer';

/** Thrown when a message is not in the plain form the fast decoders handle; never reaches a client. */
export class FastPathMiss extends Error {
  constructor() {
    super('fast protobuf path not applicable');
  }
}

const MISS = new FastPathMiss();

/**
 * The empty Buffer every decoded empty bytes field shares. Allocating a fresh zero-length Buffer costs about as
 * much as decoding a whole small request, and an empty Buffer has no content anyone could change.
 */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/** A cursor over one encoded message. */
export class ProtoReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    pos = 0,
    readonly end: number = buf.length,
  ) {
    this.pos = pos;
  }

  /** True while there is more to read before {@link end}. */
  more(): boolean {
    return this.pos < this.end;
  }

  /** An unsigned varint of at most 5 bytes, as an unsigned 32-bit number. */
  uint32(): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw MISS;
      const b = buf[this.pos++]!;
      value += (b & 127) * 2 ** shift;
      if (b < 128) {
        // A 5th byte may carry more than the 4 bits that fit; protobufjs keeps the low 32 bits, we let it do so.
        if (value > 0xffffffff) throw MISS;
        return value;
      }
    }
    throw MISS;
  }

  /** An int64/uint64 varint that fits in 7 bytes (< 2^49), as a number; larger or negative values miss. */
  smallInt64(): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 49; shift += 7) {
      if (this.pos >= this.end) throw MISS;
      const b = buf[this.pos++]!;
      value += (b & 127) * 2 ** shift;
      if (b < 128) return value;
    }
    throw MISS;
  }

  /** A bool varint (one byte, 0 or 1; anything longer misses). */
  bool(): boolean {
    if (this.pos >= this.end) throw MISS;
    const b = this.buf[this.pos++]!;
    if (b > 1) throw MISS;
    return b === 1;
  }

  /** Start and end offsets of a length-delimited field's content; the cursor moves past it. */
  delimited(): number {
    const len = this.uint32();
    const start = this.pos;
    if (start + len > this.end) throw MISS;
    this.pos = start + len;
    return start;
  }

  /** A bytes field, sharing memory with the input as protobufjs does (an empty field is {@link EMPTY_BYTES}). */
  bytes(): Buffer {
    const start = this.delimited();
    return start === this.pos ? EMPTY_BYTES : this.buf.subarray(start, this.pos);
  }

  /**
   * A string field, decoded as UTF-8. Bytes that are not valid UTF-8 miss: the slow path decides what they mean
   * (the Dapr API refuses them, see checked-decode.ts).
   */
  string(): string {
    const start = this.delimited();
    const buf = this.buf;
    const end = this.pos;
    for (let i = start; i < end; i++) {
      // ASCII, the usual key, needs no check; past the first non-ASCII byte, the native check does the rest.
      if (buf[i]! >= 0x80) {
        if (!isUtf8(buf.subarray(i, end))) throw MISS;
        break;
      }
    }
    return buf.toString('utf8', start, end);
  }
}
