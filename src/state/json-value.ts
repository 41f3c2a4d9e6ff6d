/**
 * JSON re-serialisation the way Dapr's stores do it (Go's encoding/json on a decoded `interface{}`): compact, object
 * keys sorted, and `<`, `>`, `&`, U+2028 and U+2029 escaped. Values saved over HTTP are stored in this form, so
 * statecar returns the same bytes daprd would.
 */

/**
 * Go's encoding/json refuses values nested deeper than this (`maxNestingDepth`): daprd answers such a body as
 * malformed. Everything up to it must work, at any depth, without running out of stack.
 */
export const MAX_JSON_DEPTH = 10_000;

/** Go's error text for a value nested deeper than {@link MAX_JSON_DEPTH}. */
export const JSON_TOO_DEEP = 'exceeded max depth';

/**
 * Parse JSON text as Go's decoder accepts it: JSON.parse, refusing nesting deeper than {@link MAX_JSON_DEPTH}
 * (thrown as a SyntaxError with Go's text, like any other malformed JSON).
 */
export function parseJson(text: string): unknown {
  // Depth d needs at least 2d characters; short texts (nearly every body) need no scan.
  if (text.length > 2 * MAX_JSON_DEPTH && nestingExceeds(text, MAX_JSON_DEPTH)) {
    throw new SyntaxError(JSON_TOO_DEEP);
  }
  return JSON.parse(text) as unknown;
}

/** Whether brackets outside strings nest deeper than `max` somewhere in `text`. */
function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** Serialise a parsed JSON value as Go's json.Marshal would. */
export function goJsonStringify(value: unknown): string {
  return escapeHtml(stringifySorted(value));
}

/** Text written as it is between the values of {@link stringifySorted}'s work stack. */
class Piece {
  constructor(readonly text: string) {}
}

const OPEN_ARRAY = new Piece('[');
const CLOSE_ARRAY = new Piece(']');
const OPEN_OBJECT = new Piece('{');
const CLOSE_OBJECT = new Piece('}');
const COMMA = new Piece(',');

/**
 * Compact JSON with object keys sorted. Iterative (an explicit work stack, values pushed in reverse), so that
 * nesting as deep as Go accepts does not overflow the call stack, which JSON.stringify and recursion would.
 */
function stringifySorted(root: unknown): string {
  let out = '';
  const work: unknown[] = [root];
  while (work.length > 0) {
    const v = work.pop();
    if (v instanceof Piece) {
      out += v.text;
    } else if (v === null || v === undefined) {
      out += 'null';
    } else if (Array.isArray(v)) {
      work.push(CLOSE_ARRAY);
      for (let i = v.length - 1; i >= 0; i--) {
        work.push(v[i]);
        if (i > 0) work.push(COMMA);
      }
      work.push(OPEN_ARRAY);
    } else if (typeof v === 'object') {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).sort(compareUtf8);
      work.push(CLOSE_OBJECT);
      for (let i = keys.length - 1; i >= 0; i--) {
        work.push(obj[keys[i]!]);
        work.push(new Piece(`${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:`));
      }
      work.push(OPEN_OBJECT);
    } else {
      out += JSON.stringify(v) ?? 'null';
    }
  }
  return out;
}

// Go sorts map keys by their UTF-8 bytes; JS's default sort compares UTF-16 units, which differs above the BMP.
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// These characters only occur inside JSON strings, so replacing them everywhere is safe.
function escapeHtml(s: string): string {
  return s.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Whether bytes are one valid JSON text (what Go's encoder checks for json.RawMessage). */
export function isValidJson(bytes: Buffer): boolean {
  try {
    parseJson(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
