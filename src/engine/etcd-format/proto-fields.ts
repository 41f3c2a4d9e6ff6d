/**
 * The few protobuf messages of etcd's storage format (mvccpb.KeyValue, leasepb.Lease, authpb.User/Role,
 * AlarmMember), written and read field by field. Written as etcd's Go code writes them: fields in number order,
 * zero values left out, so the bytes (and the hashes over them) match etcd's.
 */

/** A growable protobuf writer. */
export class FieldWriter {
  private readonly parts: number[] = [];
  private readonly chunks: Buffer[] = [];

  private flushBytes(): void {
    if (this.parts.length > 0) {
      this.chunks.push(Buffer.from(this.parts));
      this.parts.length = 0;
    }
  }

  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.parts.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.parts.push(Number(x));
  }

  /** A varint field (int64, uint64, enum, bool); 0 is left out. */
  int(field: number, v: number | bigint | boolean): this {
    const b = typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v);
    if (b === 0n) return this;
    this.varint(BigInt(field << 3));
    this.varint(b);
    return this;
  }

  /** A length-delimited field (bytes, string, embedded message); empty is left out unless `always`. */
  bytes(field: number, v: Buffer | string, always = false): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    if (b.length === 0 && !always) return this;
    this.varint(BigInt((field << 3) | 2));
    this.varint(BigInt(b.length));
    this.flushBytes();
    this.chunks.push(b);
    return this;
  }

  finish(): Buffer {
    this.flushBytes();
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
  }
}

/** One decoded field: varints as bigint, length-delimited ones as bytes. */
export type Field = { field: number; int: bigint; bytes?: undefined } | { field: number; bytes: Buffer };

/** Decode a message into its fields; throws on malformed input. */
export function readFields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (i >= buf.length) throw new Error('truncated protobuf varint');
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    throw new Error('protobuf varint too long');
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    switch (tag & 7) {
      case 0:
        out.push({ field, int: varint() });
        break;
      case 2: {
        const len = Number(varint());
        if (i + len > buf.length) throw new Error('truncated protobuf field');
        out.push({ field, bytes: buf.subarray(i, i + len) });
        i += len;
        break;
      }
      default:
        throw new Error(`unsupported protobuf wire type ${tag & 7}`);
    }
  }
  return out;
}

/** The signed value of an int64 varint field. */
export function asInt64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}
