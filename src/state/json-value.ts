/**
 * JSON re-serialisation the way Dapr's stores do it (Go's encoding/json on a decoded `interface{}`): compact, object
 * keys sorted, and `<`, `>`, `&`, U+2028 and U+2029 escaped. Values saved over HTTP are stored in this form, so
 * statecar returns the same bytes daprd would.
 */

/** Serialise a parsed JSON value as Go's json.Marshal would. */
export function goJsonStringify(value: unknown): string {
  return escapeHtml(stringifySorted(value));
}

function stringifySorted(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(stringifySorted).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort(compareUtf8);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stringifySorted(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
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
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
