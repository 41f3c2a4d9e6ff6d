/**
 * Hand-written codecs for the hottest Dapr state calls (see wire/fast-codecs.ts for how they fall back to
 * proto-loader). Each produces what proto-loader produces with statecar's options (`keepCase: false`,
 * `longs: String`, `defaults: true`, `oneofs: true`): the same request objects, the same response bytes.
 */
import { EMPTY_BYTES, FastPathMiss, ProtoReader } from './wire/proto-reader';
import { delimitedSize, ProtoWriter } from './wire/proto-writer';
import type { FastCodec } from './wire/fast-codecs';

const MISS = new FastPathMiss();

/** `dapr.proto.runtime.v1.GetStateRequest` as proto-loader hands it over. */
export interface GetStateRequestObject {
  metadata: Record<string, string>;
  storeName: string;
  key: string;
  consistency: number;
}

/**
 * One `map<string, string>` entry into `into`. Only entries made of a key and a value field (either may be absent,
 * as protobufjs allows) are handled; `__proto__` keys, which protobufjs stores as an own property, miss.
 */
function readStringMapEntry(r: ProtoReader, into: Record<string, string>): void {
  const start = r.delimited();
  const end = r.pos;
  const entry = new ProtoReader(r.buf, start, end);
  let k = '';
  let v = '';
  while (entry.more()) {
    const tag = entry.uint32();
    if (tag === 10) k = entry.string();
    else if (tag === 18) v = entry.string();
    else throw MISS;
  }
  if (k === '__proto__') throw MISS;
  into[k] = v;
}

/** GetStateRequest bytes → the proto-loader object. */
export function decodeGetStateRequest(buf: Buffer): GetStateRequestObject {
  const r = new ProtoReader(buf);
  const out: GetStateRequestObject = { metadata: {}, storeName: '', key: '', consistency: 0 };
  while (r.more()) {
    switch (r.uint32()) {
      case 10:
        out.storeName = r.string();
        break;
      case 18:
        out.key = r.string();
        break;
      case 24:
        // An enum is an int32; negative ones take 10 bytes and miss.
        out.consistency = r.uint32() | 0;
        break;
      case 34:
        readStringMapEntry(r, out.metadata);
        break;
      default:
        throw MISS;
    }
  }
  return out;
}

/** `dapr.proto.common.v1.StateItem` as proto-loader hands it over (enums as numbers). */
export interface StateItemObject {
  metadata: Record<string, string>;
  key: string;
  value: Buffer;
  etag: { value: string } | null;
  options: { concurrency: number; consistency: number } | null;
}

/** `dapr.proto.runtime.v1.SaveStateRequest` as proto-loader hands it over. */
export interface SaveStateRequestObject {
  states: StateItemObject[];
  storeName: string;
}

/** `common.v1.Etag` (value = 1). A repeated submessage replaces the earlier one, as in protobufjs. */
function readEtag(r: ProtoReader): { value: string } {
  const start = r.delimited();
  const m = new ProtoReader(r.buf, start, r.pos);
  const out = { value: '' };
  while (m.more()) {
    if (m.uint32() !== 10) throw MISS;
    out.value = m.string();
  }
  return out;
}

/** `common.v1.StateOptions` (concurrency = 1, consistency = 2, both enums as numbers). */
function readStateOptions(r: ProtoReader): { concurrency: number; consistency: number } {
  const start = r.delimited();
  const m = new ProtoReader(r.buf, start, r.pos);
  const out = { concurrency: 0, consistency: 0 };
  while (m.more()) {
    const tag = m.uint32();
    if (tag === 8) out.concurrency = m.uint32() | 0;
    else if (tag === 16) out.consistency = m.uint32() | 0;
    else throw MISS;
  }
  return out;
}

/** `common.v1.StateItem`: key 1, value 2, etag 3, metadata 4, options 5. */
function readStateItem(r: ProtoReader): StateItemObject {
  const start = r.delimited();
  const m = new ProtoReader(r.buf, start, r.pos);
  const out: StateItemObject = { metadata: {}, key: '', value: EMPTY_BYTES, etag: null, options: null };
  while (m.more()) {
    switch (m.uint32()) {
      case 10:
        out.key = m.string();
        break;
      case 18:
        out.value = m.bytes();
        break;
      case 26:
        out.etag = readEtag(m);
        break;
      case 34:
        readStringMapEntry(m, out.metadata);
        break;
      case 42:
        out.options = readStateOptions(m);
        break;
      default:
        throw MISS;
    }
  }
  return out;
}

/** SaveStateRequest bytes → the proto-loader object. */
export function decodeSaveStateRequest(buf: Buffer): SaveStateRequestObject {
  const r = new ProtoReader(buf);
  const out: SaveStateRequestObject = { states: [], storeName: '' };
  while (r.more()) {
    switch (r.uint32()) {
      case 10:
        out.storeName = r.string();
        break;
      case 18:
        out.states.push(readStateItem(r));
        break;
      default:
        throw MISS;
    }
  }
  return out;
}

/**
 * `google.protobuf.Empty` responses: no fields, so any plain object encodes to no bytes (protobufjs ignores
 * unknown properties). Anything else is left to proto-loader, which rejects it.
 */
export function encodeEmpty(value: object): Buffer | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? EMPTY_BYTES : undefined;
}

/**
 * UTF-8 length of `s`, or -1 when it holds a UTF-16 surrogate: protobufjs writes short strings with its own
 * encoder, whose bytes for a lone surrogate may differ from Node's, so such strings are left to it.
 */
function plainUtf8Length(s: string): number {
  const len = Buffer.byteLength(s, 'utf8');
  if (len !== s.length && /[\uD800-\uDFFF]/.test(s)) return -1;
  return len;
}

/** A `map<string, string>` as [key, keyBytes, value, valueBytes] quadruples, or undefined to miss. */
function stringMapEntries(m: unknown): Array<string | number> | undefined {
  if (m === undefined || m === null) return [];
  if (typeof m !== 'object' || Array.isArray(m)) return undefined;
  const out: Array<string | number> = [];
  for (const k of Object.keys(m)) {
    const v = (m as Record<string, unknown>)[k];
    if (typeof v !== 'string' || k === '__proto__') return undefined;
    const kl = plainUtf8Length(k);
    const vl = plainUtf8Length(v);
    if (kl < 0 || vl < 0) return undefined;
    out.push(k, kl, v, vl);
  }
  return out;
}

/** Size of a map entry's content: key field (tag 10) and value field (tag 18), both always written. */
function entrySize(kl: number, vl: number): number {
  return delimitedSize(kl) + delimitedSize(vl);
}

/** Encoded size of `entries` as map field occurrences. */
function mapSize(entries: Array<string | number>): number {
  let size = 0;
  for (let i = 0; i < entries.length; i += 4) {
    size += delimitedSize(entrySize(entries[i + 1] as number, entries[i + 3] as number));
  }
  return size;
}

function writeMap(w: ProtoWriter, tag: number, entries: Array<string | number>): void {
  for (let i = 0; i < entries.length; i += 4) {
    const kl = entries[i + 1] as number;
    const vl = entries[i + 3] as number;
    w.buf[w.pos++] = tag;
    w.varint(entrySize(kl, vl));
    w.stringField(10, entries[i] as string, kl);
    w.stringField(18, entries[i + 2] as string, vl);
  }
}

/**
 * GetStateResponse object → bytes (`data` = 1, `etag` = 2, `metadata` = 3), or undefined for values other than
 * a Buffer, a string and a string map (protobufjs converts those; the fallback keeps its conversions).
 */
export function encodeGetStateResponse(value: object): Buffer | undefined {
  const { data, etag, metadata } = value as { data?: unknown; etag?: unknown; metadata?: unknown };
  if (data !== undefined && data !== null && !Buffer.isBuffer(data)) return undefined;
  if (etag !== undefined && etag !== null && typeof etag !== 'string') return undefined;
  const entries = metadata ? stringMapEntries(metadata) : [];
  if (!entries) return undefined;
  const etagLen = typeof etag === 'string' ? plainUtf8Length(etag) : 0;
  if (etagLen < 0) return undefined;
  let size = mapSize(entries);
  if (data) size += delimitedSize(data.length);
  if (typeof etag === 'string') size += delimitedSize(etagLen);
  const w = new ProtoWriter(size);
  if (data) w.bytesField(10, data);
  if (typeof etag === 'string') w.stringField(18, etag, etagLen);
  writeMap(w, 26, entries);
  return w.finish();
}

/** Fast codecs of the Dapr service, by method name. */
export const DAPR_FAST_CODECS: Record<string, FastCodec> = {
  GetState: { decodeRequest: decodeGetStateRequest, encodeResponse: encodeGetStateResponse },
  SaveState: { decodeRequest: decodeSaveStateRequest, encodeResponse: encodeEmpty },
};
