import type { KeyValue } from '../contract';
import { EngineError } from '../errors';

/**
 * Encoding between TypeScript and the Lua scripts (see `lua-scripts.ts` for the calling convention): records as
 * stored in Redis, the blob table that carries binary arguments, and the JSON metadata of script answers.
 */

const PIPE = 0x7c; // '|'

/**
 * Decode a stored record (`create,mod,version,lease|value`) of `key`. With keys_only the script sends the record
 * without its value, which decodes to an empty value.
 */
export function decodeRecord(key: Buffer, rec: Buffer): KeyValue {
  const bar = rec.indexOf(PIPE);
  if (bar < 0) throw new EngineError('INTERNAL', 'redis backend: malformed record');
  const [c, m, v, l] = rec.toString('latin1', 0, bar).split(',');
  return {
    key,
    createRevision: Number(c),
    modRevision: Number(m),
    version: Number(v),
    lease: BigInt(l ?? '0'),
    value: rec.subarray(bar + 1),
  };
}

/** Binary arguments of one script call; the JSON program refers to them by 1-based index. */
export class BlobTable {
  readonly blobs: Buffer[] = [];

  /** Add a blob and return its index. */
  add(b: Uint8Array): number {
    // The contract accepts any Uint8Array; ioredis would send a non-Buffer as its text rendering.
    this.blobs.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return this.blobs.length;
  }
}

/**
 * The end of a range in program form: 0 = exactly the key, -1 = no upper bound (`\0`), otherwise the blob index of
 * the (exclusive) end.
 */
export function encodeRangeEnd(blobs: BlobTable, rangeEnd: Buffer | undefined): number {
  if (!rangeEnd || rangeEnd.length === 0) return 0;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return -1;
  return blobs.add(rangeEnd);
}

/** A decoded script answer: metadata plus the blobs it refers to. */
export interface ScriptAnswer {
  meta: Record<string, unknown>;
  blob(i: number): Buffer;
}

/** Turn a raw EVALSHA reply into a {@link ScriptAnswer}; a script-reported failure becomes its EngineError. */
export function decodeAnswer(reply: unknown): ScriptAnswer {
  if (!Array.isArray(reply) || reply.length === 0 || !Buffer.isBuffer(reply[0])) {
    throw new EngineError('INTERNAL', 'redis backend: unexpected script reply');
  }
  const parts = reply as Buffer[];
  const meta = JSON.parse(parts[0]!.toString('utf8')) as Record<string, unknown>;
  if (typeof meta.err === 'string') throw new EngineError(meta.err as never);
  return {
    meta,
    blob(i: number): Buffer {
      const b = parts[i - 1];
      if (!b) throw new EngineError('INTERNAL', 'redis backend: missing blob in script reply');
      return b;
    },
  };
}

/** cjson encodes an empty Lua table as `{}`; read any metadata list through this. */
export function list<T>(x: unknown): T[] {
  return Array.isArray(x) ? (x as T[]) : [];
}

/** Decode a flat `[keyBlob, recordBlob, ...]` list. */
export function decodeKvs(ans: ScriptAnswer, flat: unknown): KeyValue[] {
  const ids = list<number>(flat);
  const out: KeyValue[] = [];
  for (let i = 0; i + 1 < ids.length; i += 2)
    out.push(decodeRecord(ans.blob(ids[i]!), ans.blob(ids[i + 1]!)));
  return out;
}
