/**
 * Dapr's state query language: parsing (with the messages Dapr's parser gives) and evaluation on JSON values.
 *
 * A query is `{filter?, sort?, page?}`. Filters are nine upper-case operators: `EQ NEQ GT GTE LT LTE` take one
 * `{"<path>": <scalar>}`, `IN` one `{"<path>": [scalars]}`, `AND` / `OR` a list of at least two filters. A path is a
 * dot path into the stored JSON value (`person.org`). The semantics are MongoDB's typed ones, which Dapr's docs
 * examples show: no coercion between types (`"1"` is not `1`), a path through an array looks into every element, EQ
 * on an array field matches when any element is equal, `NEQ` (and `EQ null`) also match a missing field, and the
 * ordering operators take numbers only. Sorting orders types as MongoDB does (missing and null first, then numbers,
 * strings, objects, arrays, booleans). See docs/state-views.md.
 */
import { StateError } from './state-errors';

/** A JSON scalar (numbers are float64, as Go decodes them). */
export type Scalar = string | number | boolean | null;

export type CompareOp = 'EQ' | 'NEQ' | 'GT' | 'GTE' | 'LT' | 'LTE';

/** A field path, kept as written and split into its parts. */
export interface FieldPath {
  text: string;
  parts: string[];
}

export type Filter =
  | { op: CompareOp; path: FieldPath; value: Scalar }
  | { op: 'IN'; path: FieldPath; values: Scalar[] }
  | { op: 'AND' | 'OR'; filters: Filter[] };

export interface SortKey {
  path: FieldPath;
  descending: boolean;
}

/** A parsed query. `limit` 0 = no limit. */
export interface Query {
  filter?: Filter;
  sort: SortKey[];
  limit: number;
  token?: string;
}

const COMPARE_OPS: readonly string[] = ['EQ', 'NEQ', 'GT', 'GTE', 'LT', 'LTE'];

/** Parse failures carry the text Dapr's runtime puts in front of its parser's message. */
function parseError(detail: string): StateError {
  return new StateError('INVALID_REQUEST', `failed to parse JSON query body: ${detail}`);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function goType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Go's encoding/json matches a member to a field case-insensitively when no member has the exact name. */
function member(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function fieldPath(text: string, op: string): FieldPath {
  const parts = text.split('.');
  if (text === '' || parts.some((p) => p === '')) {
    throw parseError(`${op} filter key ${JSON.stringify(text)} is not a field path (parts joined by ".")`);
  }
  return { text, parts };
}

function scalar(v: unknown, op: string, path: string): Scalar {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  throw parseError(
    `${op} filter value for key ${JSON.stringify(path)} must be a string, number, boolean or null, not ${goType(v)}`,
  );
}

/** One filter node (Dapr's `parseFilter`). */
function parseFilter(node: unknown): Filter {
  if (!isObject(node)) throw parseError('filter unit must be a map');
  const ops = Object.keys(node);
  if (ops.length !== 1) throw parseError('filter unit must have a single element');
  const op = ops[0];
  const arg = node[op];
  if (op === 'AND' || op === 'OR') {
    if (!Array.isArray(arg)) throw parseError(`${op} filter must be an array`);
    if (arg.length < 2) throw parseError(`${op} filter must contain at least two entries`);
    return { op, filters: arg.map(parseFilter) };
  }
  if (op !== 'IN' && !COMPARE_OPS.includes(op)) throw parseError(`unsupported filter ${JSON.stringify(op)}`);
  if (!isObject(arg)) throw parseError(`${op} filter must be a map`);
  const fields = Object.keys(arg);
  if (fields.length !== 1) throw parseError(`${op} filter must contain a single key/value pair`);
  const path = fieldPath(fields[0], op);
  const value = arg[fields[0]];
  if (op === 'IN') {
    if (!Array.isArray(value)) throw parseError('IN filter value must be an array');
    if (value.length === 0) throw parseError(`empty IN operator for key ${JSON.stringify(path.text)}`);
    return { op, path, values: value.map((v) => scalar(v, op, path.text)) };
  }
  const v = scalar(value, op, path.text);
  if (op !== 'EQ' && op !== 'NEQ' && typeof v !== 'number') {
    throw parseError(`unsupported type of value ${JSON.stringify(v)}; ${goType(v)} type not permitted`);
  }
  return { op: op as CompareOp, path, value: v };
}

function parseSort(raw: unknown): SortKey[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw))
    throw parseError(`json: cannot unmarshal ${goType(raw)} into field sort of type array`);
  return raw.map((s, i) => {
    if (!isObject(s)) throw parseError(`json: sort[${i}] must be an object {"key", "order"}`);
    const key = member(s, 'key');
    const order = member(s, 'order') ?? '';
    if (typeof key !== 'string') throw parseError(`json: sort[${i}].key must be a string`);
    if (typeof order !== 'string') throw parseError(`json: sort[${i}].order must be a string`);
    if (order !== '' && order !== 'ASC' && order !== 'DESC') {
      throw parseError(`sort order ${JSON.stringify(order)} is not ASC or DESC`);
    }
    return { path: fieldPath(key, 'sort'), descending: order === 'DESC' };
  });
}

function parsePage(raw: unknown): { limit: number; token?: string } {
  if (raw === undefined || raw === null) return { limit: 0 };
  if (!isObject(raw))
    throw parseError(`json: cannot unmarshal ${goType(raw)} into field page of type object`);
  const limit = member(raw, 'limit') ?? 0;
  const token = member(raw, 'token') ?? '';
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit)) {
    throw parseError(`json: cannot unmarshal ${JSON.stringify(limit)} into field page.limit of type int`);
  }
  if (typeof token !== 'string') {
    throw parseError(`json: cannot unmarshal ${goType(token)} into field page.token of type string`);
  }
  return { limit: limit > 0 ? limit : 0, token: token === '' ? undefined : token };
}

/** Parse a query's JSON text. Throws a StateError (INVALID_REQUEST) with Dapr's message on bad input. */
export function parseQuery(text: string): Query {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw parseError(text.trim() === '' ? 'unexpected end of JSON input' : (err as Error).message);
  }
  if (!isObject(raw)) throw parseError(`json: cannot unmarshal ${goType(raw)} into a query object`);
  const filterRaw = member(raw, 'filter');
  if (filterRaw !== undefined && filterRaw !== null && !isObject(filterRaw)) {
    throw parseError(`json: cannot unmarshal ${goType(filterRaw)} into field filter of type map`);
  }
  const filter =
    filterRaw === undefined || filterRaw === null || Object.keys(filterRaw).length === 0
      ? undefined
      : parseFilter(filterRaw);
  return { filter, sort: parseSort(member(raw, 'sort')), ...parsePage(member(raw, 'page')) };
}

/** The filter and sort of a query as canonical text (what a page token is bound to). */
export function queryShape(q: Query): string {
  return JSON.stringify({ f: q.filter ?? null, s: q.sort.map((s) => [s.path.text, s.descending]) });
}

// --- evaluation

/** The values a path reaches in a document: none when missing; a path through an array visits every element. */
export function resolvePath(doc: unknown, parts: readonly string[], from = 0): unknown[] {
  if (from === parts.length) return [doc];
  if (Array.isArray(doc)) return doc.flatMap((el) => (isObject(el) ? resolvePath(el, parts, from) : []));
  if (!isObject(doc) || !Object.hasOwn(doc, parts[from])) return [];
  return resolvePath(doc[parts[from]], parts, from + 1);
}

/** The scalars a path reaches, with arrays at the end of the path opened (what EQ and the indexes look at). */
export function scalarsAt(doc: unknown, parts: readonly string[]): Scalar[] {
  const out: Scalar[] = [];
  for (const v of resolvePath(doc, parts)) {
    if (Array.isArray(v)) {
      for (const el of v) if (!isObject(el) && !Array.isArray(el)) out.push(el as Scalar);
    } else if (!isObject(v)) {
      out.push(v as Scalar);
    }
  }
  return out;
}

function equalsAny(doc: unknown, path: FieldPath, value: Scalar): boolean {
  const found = resolvePath(doc, path.parts);
  // MongoDB: `{field: null}` also matches a document without the field.
  if (value === null && found.length === 0) return true;
  return scalarsAt(doc, path.parts).some((s) => s === value);
}

function compareNumber(op: CompareOp, a: number, b: number): boolean {
  switch (op) {
    case 'GT':
      return a > b;
    case 'GTE':
      return a >= b;
    case 'LT':
      return a < b;
    case 'LTE':
      return a <= b;
    default:
      return false;
  }
}

/** Whether a parsed JSON document matches a filter. */
export function matches(doc: unknown, f: Filter): boolean {
  switch (f.op) {
    case 'AND':
      return f.filters.every((c) => matches(doc, c));
    case 'OR':
      return f.filters.some((c) => matches(doc, c));
    case 'IN':
      return f.values.some((v) => equalsAny(doc, f.path, v));
    case 'EQ':
      return equalsAny(doc, f.path, f.value);
    case 'NEQ':
      return !equalsAny(doc, f.path, f.value);
    default: {
      const bound = f.value as number;
      return scalarsAt(doc, f.path.parts).some((s) => typeof s === 'number' && compareNumber(f.op, s, bound));
    }
  }
}

/** MongoDB's order of types for sorting; a missing field sorts as null. */
function typeRank(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return 1;
  if (typeof v === 'string') return 2;
  if (Array.isArray(v)) return 4;
  if (typeof v === 'object') return 3;
  return 5;
}

/** Order of two values of a sort field. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (ra === 0) return 0;
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  return ja < jb ? -1 : ja > jb ? 1 : 0;
}

/** The value a sort key sorts a document by (the first one its path reaches). */
export function sortValue(doc: unknown, key: SortKey): unknown {
  return resolvePath(doc, key.path.parts)[0];
}
