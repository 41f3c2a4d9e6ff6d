/**
 * etcd's JSON mapping of its protobuf messages (grpc-gateway's `JSONPb{OrigName: true}` over golang/protobuf's
 * jsonpb), driven by the message descriptors, so every message of every registered service maps with no code of
 * its own:
 *
 * - names: the proto field name (`create_revision`, `range_end`, `dbSize`); on input the lowerCamel JSON name
 *   (`rangeEnd`) is accepted too and wins when both are given; unknown fields are ignored, as etcd ignores them;
 * - bytes: standard base64 (see go-base64.ts); 64-bit integers: decimal strings on output, a number or a string on
 *   input; enums: names on output, a name or a number on input; `null` means "not set";
 * - on output, fields holding their default value are left out (a set oneof member is always shown).
 *
 * Type errors carry Go's wording (`json: cannot unmarshal string into Go value of type bool`), with the Go type
 * names etcd's generated code has (`[]uint8`, `etcdserverpb.RangeRequest_SortOrder`). See docs/etcd-gateway.md.
 */
import type * as protobuf from 'protobufjs';
import { Base64Error, decodeGoBase64 } from './go-base64';
import { GoJsonError, parseWhole, type JsonNode } from './go-json';

/** A request that cannot be mapped: gRPC INVALID_ARGUMENT with this message, as etcd's gateway answers. */
export class JsonMappingError extends Error {}

/** What a JSON value is called in Go's type errors. */
function goKind(node: JsonNode): string {
  return node.kind === 'bool' ? 'bool' : node.kind;
}

function typeError(what: string, goType: string): JsonMappingError {
  return new JsonMappingError(`json: cannot unmarshal ${what} into Go value of type ${goType}`);
}

/** protoc's JSON name: underscores dropped, the letter after each one upper-cased. */
export function jsonNameOf(protoName: string): string {
  return protoName.replace(/_(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
}

/** The Go name of a generated enum type: `<go package>.<Outer>_<Inner>`. */
function goEnumName(e: protobuf.Enum): string {
  const parts = [e.name];
  let pkg = '';
  for (let p = e.parent; p && p.parent; p = p.parent) {
    if ('fieldsArray' in p) {
      parts.unshift(p.name);
    } else {
      pkg = p.name;
      break;
    }
  }
  return pkg ? `${pkg}.${parts.join('_')}` : parts.join('_');
}

/** Integer kinds: Go type name, and the range a value must fall in. */
const INTEGERS: Record<string, { go: string; min: bigint; max: bigint }> = {
  int64: { go: 'int64', min: -(2n ** 63n), max: 2n ** 63n - 1n },
  sint64: { go: 'int64', min: -(2n ** 63n), max: 2n ** 63n - 1n },
  sfixed64: { go: 'int64', min: -(2n ** 63n), max: 2n ** 63n - 1n },
  uint64: { go: 'uint64', min: 0n, max: 2n ** 64n - 1n },
  fixed64: { go: 'uint64', min: 0n, max: 2n ** 64n - 1n },
  int32: { go: 'int32', min: -(2n ** 31n), max: 2n ** 31n - 1n },
  sint32: { go: 'int32', min: -(2n ** 31n), max: 2n ** 31n - 1n },
  sfixed32: { go: 'int32', min: -(2n ** 31n), max: 2n ** 31n - 1n },
  uint32: { go: 'uint32', min: 0n, max: 2n ** 32n - 1n },
  fixed32: { go: 'uint32', min: 0n, max: 2n ** 32n - 1n },
};

/** A number literal as a Go integer of the given range, or Go's type error. */
function integerOf(text: string, range: { go: string; min: bigint; max: bigint }): bigint {
  if (/^-?\d+$/.test(text) && !(range.min === 0n && text.startsWith('-'))) {
    const v = BigInt(text);
    if (v >= range.min && v <= range.max) return v;
  }
  throw typeError(`number ${text}`, range.go);
}

/**
 * jsonpb accepts integers (and floats) in quotes by dropping the quotes and reading what is inside as JSON, escapes
 * and all: `"12"` is 12, `" 12"` too, `"01"` and `"1.5"` fail as the bare literals would.
 */
function unquoteNumber(node: JsonNode): JsonNode {
  if (node.kind !== 'string') return node;
  try {
    return parseWhole(node.raw);
  } catch (err) {
    if (err instanceof GoJsonError) throw new JsonMappingError(err.message);
    throw err;
  }
}

/** The value of one non-repeated field, in the form protobufjs's `fromObject` takes. */
function scalarFromJson(field: protobuf.Field, node: JsonNode): unknown {
  const resolved = field.resolvedType;
  if (resolved && 'fieldsArray' in resolved) return messageFromJson(resolved, node);
  if (resolved) {
    // An enum: a name in quotes, or a number as Go reads it into an int32-based type.
    const goType = goEnumName(resolved);
    if (node.kind === 'string') {
      // `values` inherits from `valuesById` in protobufjs: only own names count.
      const v = Object.hasOwn(resolved.values, node.value) ? resolved.values[node.value] : undefined;
      if (v === undefined) {
        throw new JsonMappingError(`unknown value ${JSON.stringify(node.value)} for enum ${goType}`);
      }
      return v;
    }
    if (node.kind !== 'number') throw typeError(goKind(node), goType);
    return Number(integerOf(node.text, { ...INTEGERS.int32, go: goType }));
  }
  const range = INTEGERS[field.type];
  if (range) {
    const n = unquoteNumber(node);
    if (n.kind === 'null') return undefined;
    if (n.kind !== 'number') throw typeError(goKind(n), range.go);
    const v = integerOf(n.text, range);
    return field.long ? v.toString() : Number(v);
  }
  switch (field.type) {
    case 'double':
    case 'float': {
      const goType = field.type === 'double' ? 'float64' : 'float32';
      const n = unquoteNumber(node);
      if (n.kind === 'null') return undefined;
      if (n.kind !== 'number') throw typeError(goKind(n), goType);
      const v = Number(n.text);
      if (!Number.isFinite(v)) throw typeError(`number ${n.text}`, goType);
      return v;
    }
    case 'bool':
      if (node.kind !== 'bool') throw typeError(goKind(node), 'bool');
      return node.value;
    case 'string':
      if (node.kind !== 'string') throw typeError(goKind(node), 'string');
      return node.value;
    case 'bytes':
      return bytesFromJson(node);
    default:
      throw new JsonMappingError(`unsupported field type ${field.type}`);
  }
}

/** Go decodes `[]byte` from a base64 string, or from an array of numbers 0..255. */
function bytesFromJson(node: JsonNode): Buffer {
  if (node.kind === 'string') {
    try {
      return decodeGoBase64(Buffer.from(node.value, 'utf8'));
    } catch (err) {
      if (err instanceof Base64Error) throw new JsonMappingError(err.message);
      throw err;
    }
  }
  if (node.kind === 'array') {
    return Buffer.from(
      node.items.map((item) => {
        if (item.kind === 'null') return 0;
        if (item.kind !== 'number') throw typeError(goKind(item), 'uint8');
        return Number(integerOf(item.text, { go: 'uint8', min: 0n, max: 255n }));
      }),
    );
  }
  throw typeError(goKind(node), '[]uint8');
}

/** A `null` inside a repeated field: Go leaves the element at its zero value. */
function nullItem(field: protobuf.Field): unknown {
  const resolved = field.resolvedType;
  if (resolved) return 'fieldsArray' in resolved ? {} : 0;
  return field.typeDefault;
}

/**
 * A JSON object as the plain object protobufjs's `Type.fromObject` takes for `type`. Fields are read in
 * declaration order, oneof members after the others (jsonpb's order), so the first error reported is etcd's.
 */
export function messageFromJson(type: protobuf.Type, node: JsonNode): Record<string, unknown> {
  if (node.kind === 'null') return {};
  if (node.kind !== 'object') throw typeError(goKind(node), 'map[string]json.RawMessage');
  const out: Record<string, unknown> = {};
  const fields = [...type.fieldsArray.filter((f) => !f.partOf), ...type.fieldsArray.filter((f) => f.partOf)];
  for (const field of fields) {
    field.resolve();
    const camel = node.fields.get(jsonNameOf(field.name));
    const value = camel ?? node.fields.get(field.name);
    if (value === undefined || value.kind === 'null') continue;
    if (field.repeated) {
      if (value.kind !== 'array') throw typeError(goKind(value), '[]json.RawMessage');
      out[field.name] = value.items.map((item) =>
        item.kind === 'null' ? nullItem(field) : scalarFromJson(field, item),
      );
    } else {
      const v = scalarFromJson(field, value);
      if (v !== undefined) out[field.name] = v;
    }
  }
  return out;
}

/** A 64-bit value as protobufjs decodes it (a Long, or a number when it fits). */
interface LongLike {
  toString(): string;
}

/** One decoded value in JSON form (a JS value JSON.stringify renders as etcd does). */
function valueToJson(field: protobuf.Field, v: unknown): unknown {
  const resolved = field.resolvedType;
  if (resolved && 'fieldsArray' in resolved) return messageToJson(resolved, v as protobuf.Message);
  if (resolved) return resolved.valuesById[v as number] ?? v;
  if (field.long) return typeof v === 'number' ? String(v) : (v as LongLike).toString();
  if (field.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  if ((field.type === 'double' || field.type === 'float') && !Number.isFinite(v as number)) {
    return Number.isNaN(v) ? 'NaN' : (v as number) > 0 ? 'Infinity' : '-Infinity';
  }
  return v;
}

/** True for a value jsonpb leaves out (without EmitDefaults): zero, false, empty, unset. */
function isDefault(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === false || v === '') return true;
  if (Array.isArray(v) || v instanceof Uint8Array) return v.length === 0;
  if (typeof v === 'object' && 'isZero' in v && typeof (v as { isZero: unknown }).isZero === 'function') {
    return (v as { isZero(): boolean }).isZero();
  }
  return false;
}

/** A decoded message as etcd's JSON object: proto field names, defaults left out. */
export function messageToJson(type: protobuf.Type, message: protobuf.Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const src = message as unknown as Record<string, unknown>;
  for (const field of type.fieldsArray) {
    field.resolve();
    const v = src[field.name];
    if (field.partOf) {
      // A oneof member is shown when it is the one set, whatever its value.
      if (!Object.hasOwn(src, field.name) || v === undefined || v === null) continue;
    } else if (isDefault(v)) {
      continue;
    }
    out[field.name] = field.repeated
      ? (v as unknown[]).map((x) => valueToJson(field, x))
      : valueToJson(field, v);
  }
  return out;
}

/**
 * JSON text as Go's encoder writes it: like JSON.stringify, but `<`, `>`, `&` and the line separators U+2028 and
 * U+2029 are escaped (Go escapes them so JSON can be embedded in HTML).
 */
export function goJsonStringify(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
