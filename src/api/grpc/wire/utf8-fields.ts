/**
 * Finds proto3 `string` fields whose bytes are not valid UTF-8, by walking the encoded message with its schema.
 *
 * proto3 requires string fields to be UTF-8, and grpc-go servers (daprd among them) refuse a request that breaks
 * the rule. protobufjs instead decodes the bad bytes to U+FFFD, so two different keys would decode to the same
 * string (docs/dapr-api.md#keys-and-prefixes). The walk reads only tags and lengths; `bytes` fields (Dapr values,
 * every etcd key and value) are skipped whatever they hold.
 */
import { isUtf8 } from 'node:buffer';
import type protobuf from 'protobufjs';

/** What to check in one field: a string, a sub-message (with its own plan), or nothing. */
type FieldCheck = { name: string; kind: 'string' } | { name: string; kind: 'message'; plan: () => TypePlan };

/** Field number → check, for the fields of one message type that can hold strings. */
type TypePlan = Map<number, FieldCheck>;

/** Plans by type, built once: message types refer to each other (and to themselves), so plans are lazy. */
const plans = new WeakMap<protobuf.Type, TypePlan>();

function planOf(type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = new Map();
  plans.set(type, plan);
  for (const field of type.fieldsArray) {
    const name = `${type.fullName.replace(/^\./, '')}.${field.name}`;
    const map = field as unknown as protobuf.MapField;
    if (field.map) {
      // A map field is a repeated entry message { 1: key, 2: value }.
      const entry: TypePlan = new Map();
      if (map.keyType === 'string') entry.set(1, { name: `${name}.key`, kind: 'string' });
      if (field.type === 'string') entry.set(2, { name: `${name}.value`, kind: 'string' });
      const valueType = field.resolvedType;
      if (valueType && 'fieldsArray' in valueType) {
        entry.set(2, { name: `${name}.value`, kind: 'message', plan: () => planOf(valueType) });
      }
      if (entry.size > 0) plan.set(field.id, { name, kind: 'message', plan: () => entry });
    } else if (field.type === 'string') {
      plan.set(field.id, { name, kind: 'string' });
    } else {
      const sub = field.resolvedType;
      if (sub && 'fieldsArray' in sub) plan.set(field.id, { name, kind: 'message', plan: () => planOf(sub) });
    }
  }
  return plan;
}

/** Thrown by the walk on bytes that are not a well-formed message. */
class Malformed extends Error {}
const MALFORMED = new Malformed('unexpected end of message or invalid wire type');

function varint(buf: Buffer, at: { pos: number }, end: number): number {
  let value = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (at.pos >= end) throw MALFORMED;
    const b = buf[at.pos++]!;
    // Only small values (tags, lengths) are used; the bits of a large varint are simply dropped.
    if (shift < 49) value += (b & 127) * 2 ** shift;
    if (b < 128) return value;
  }
  throw MALFORMED;
}

function walk(buf: Buffer, start: number, end: number, plan: TypePlan): string | undefined {
  const at = { pos: start };
  while (at.pos < end) {
    const tag = varint(buf, at, end);
    const wireType = tag % 8;
    const check = plan.get(Math.floor(tag / 8));
    switch (wireType) {
      case 0:
        varint(buf, at, end);
        break;
      case 1:
        at.pos += 8;
        break;
      case 5:
        at.pos += 4;
        break;
      case 2: {
        const len = varint(buf, at, end);
        const from = at.pos;
        at.pos += len;
        if (at.pos > end) throw MALFORMED;
        if (check?.kind === 'string') {
          if (!isUtf8(buf.subarray(from, at.pos))) return check.name;
        } else if (check?.kind === 'message') {
          const bad = walk(buf, from, at.pos, check.plan());
          if (bad !== undefined) return bad;
        }
        break;
      }
      default:
        // Groups (3, 4) do not exist in proto3; 6 and 7 are not wire types.
        throw MALFORMED;
    }
    if (at.pos > end) throw MALFORMED;
  }
  return undefined;
}

/** What the walk found: nothing wrong, a string field that is not UTF-8 (its full name), or broken framing. */
export type Utf8Verdict =
  { ok: true } | { ok: false; invalidUtf8: string } | { ok: false; malformed: string };

const FINE: Utf8Verdict = { ok: true };

/**
 * A checker for messages of `type`. A string field (in wire order) whose bytes are not UTF-8 is named by its full
 * name, e.g. `dapr.proto.runtime.v1.GetStateRequest.key`. Broken framing (a length past the end, a truncated
 * varint, a wire type proto3 has not) is reported too: protobufjs would read a truncated string up to the end of
 * the buffer, past this check, so such bytes must not reach it.
 */
export function utf8Checker(type: protobuf.Type): (buf: Buffer) => Utf8Verdict {
  const plan = planOf(type);
  return (buf) => {
    try {
      const field = walk(buf, 0, buf.length, plan);
      return field === undefined ? FINE : { ok: false, invalidUtf8: field };
    } catch (err) {
      if (err instanceof Malformed) return { ok: false, malformed: err.message };
      throw err;
    }
  };
}
