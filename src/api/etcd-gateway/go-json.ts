/**
 * Reading JSON as etcd's gateway does (Go's encoding/json under golang/protobuf's jsonpb), so a malformed body gets
 * the error text etcd gives: `invalid character 'x' looking for beginning of value`, `unexpected EOF`, ... Clients
 * show these messages to people, and the differential test holds statecar to etcd's wording.
 *
 * The parse keeps what the later mapping needs and JSON.parse loses: number literals as written (int64 precision,
 * and Go quotes the literal in its type errors) and the raw bytes inside string quotes (jsonpb re-reads a quoted
 * integer's inner text as JSON). See docs/etcd-gateway.md.
 */

/** One parsed JSON value. */
export type JsonNode =
  | { kind: 'null' }
  | { kind: 'bool'; value: boolean }
  | { kind: 'number'; text: string }
  | { kind: 'string'; value: string; raw: Buffer }
  | { kind: 'array'; items: JsonNode[] }
  | { kind: 'object'; fields: Map<string, JsonNode> };

/** A JSON syntax error, with Go's message. */
export class GoJsonError extends Error {}

/** Go's `quoteChar`: how a scanner error shows the offending byte. */
export function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  return `'${goQuoteRune(c)}'`;
}

const SHORT_ESCAPES: Record<number, string> = {
  0x07: '\\a',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x0b: '\\v',
  0x5c: '\\\\',
};

/** strconv.Quote of one rune below U+0100, without the quotes. */
function goQuoteRune(c: number): string {
  if (SHORT_ESCAPES[c]) return SHORT_ESCAPES[c];
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, '0')}`;
  // Go's IsPrint: C1 controls, NBSP and the soft hyphen are not printable.
  if ((c >= 0x80 && c < 0xa0) || c === 0xa0 || c === 0xad) return `\\u00${c.toString(16)}`;
  return String.fromCharCode(c);
}

/** Go's own limit is 10 000; a lower one keeps the recursion far from Node's stack limit. */
const MAX_DEPTH = 1000;

/** Thrown inside the parser when the input ends mid-value. */
class Incomplete {}
const INCOMPLETE = new Incomplete();

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

const ESCAPES: Record<number, string> = {
  0x22: '"',
  0x5c: '\\',
  0x2f: '/',
  0x62: '\b',
  0x66: '\f',
  0x6e: '\n',
  0x72: '\r',
  0x74: '\t',
};

class Parser {
  pos: number;
  private depth = 0;

  constructor(
    private readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  /** The byte at the cursor; throws {@link INCOMPLETE} at the end of the input. */
  private peek(): number {
    if (this.pos >= this.buf.length) throw INCOMPLETE;
    return this.buf[this.pos];
  }

  /** True (and the cursor on a non-space byte) unless the input ends first. */
  skipSpace(): boolean {
    while (this.pos < this.buf.length && isSpace(this.buf[this.pos])) this.pos++;
    return this.pos < this.buf.length;
  }

  private fail(context: string): never {
    throw new GoJsonError(`invalid character ${quoteChar(this.buf[this.pos])} ${context}`);
  }

  value(): JsonNode {
    this.skipSpace();
    const c = this.peek();
    switch (c) {
      case 0x7b:
        return this.object();
      case 0x5b:
        return this.array();
      case 0x22:
        return this.string();
      case 0x74:
        this.literal('true');
        return { kind: 'bool', value: true };
      case 0x66:
        this.literal('false');
        return { kind: 'bool', value: false };
      case 0x6e:
        this.literal('null');
        return { kind: 'null' };
      default:
        if (c === 0x2d || isDigit(c)) return this.number();
        return this.fail('looking for beginning of value');
    }
  }

  private nest(): void {
    if (++this.depth > MAX_DEPTH) throw new GoJsonError('exceeded max depth');
  }

  /** The members of a `{...}` or `[...]` whose opening byte is at the cursor, each read by `member`. */
  private container(close: number, member: () => void, afterMember: string): void {
    this.nest();
    this.pos++;
    this.skipSpace();
    if (this.peek() === close) {
      this.pos++;
    } else {
      for (;;) {
        member();
        this.skipSpace();
        const c = this.peek();
        if (c === close) {
          this.pos++;
          break;
        }
        if (c !== 0x2c) this.fail(afterMember);
        this.pos++;
      }
    }
    this.depth--;
  }

  private object(): JsonNode {
    const fields = new Map<string, JsonNode>();
    const member = (): void => {
      this.skipSpace();
      if (this.peek() !== 0x22) this.fail('looking for beginning of object key string');
      const key = (this.string() as { value: string }).value;
      this.skipSpace();
      if (this.peek() !== 0x3a) this.fail('after object key');
      this.pos++;
      fields.set(key, this.value());
    };
    this.container(0x7d, member, 'after object key:value pair');
    return { kind: 'object', fields };
  }

  private array(): JsonNode {
    const items: JsonNode[] = [];
    this.container(0x5d, () => items.push(this.value()), 'after array element');
    return { kind: 'array', items };
  }

  private string(): JsonNode {
    const start = ++this.pos;
    let escaped = false;
    for (;;) {
      const c = this.peek();
      if (c === 0x22) break;
      if (c < 0x20) this.fail('in string literal');
      this.pos++;
      if (c !== 0x5c) continue;
      escaped = true;
      const e = this.peek();
      if (e === 0x75) {
        this.pos++;
        for (let i = 0; i < 4; i++) {
          if (!isHex(this.peek())) this.fail('in \\u hexadecimal character escape');
          this.pos++;
        }
      } else if (ESCAPES[e] !== undefined) {
        this.pos++;
      } else {
        this.fail('in string escape code');
      }
    }
    const raw = this.buf.subarray(start, this.pos);
    this.pos++;
    return { kind: 'string', value: escaped ? unescape(raw) : raw.toString('utf8'), raw };
  }

  private literal(word: string): void {
    this.pos++;
    for (let i = 1; i < word.length; i++) {
      if (this.peek() !== word.charCodeAt(i)) this.fail(`in literal ${word} (expecting '${word[i]}')`);
      this.pos++;
    }
  }

  private number(): JsonNode {
    const start = this.pos;
    if (this.peek() === 0x2d) {
      this.pos++;
      if (!isDigit(this.peek())) this.fail('in numeric literal');
    }
    if (this.peek() === 0x30) this.pos++;
    else this.digits();
    if (this.more() === 0x2e) {
      this.pos++;
      if (!isDigit(this.peek())) this.fail('after decimal point in numeric literal');
      this.digits();
    }
    const e = this.more();
    if (e === 0x65 || e === 0x45) {
      this.pos++;
      const s = this.peek();
      if (s === 0x2b || s === 0x2d) this.pos++;
      if (!isDigit(this.peek())) this.fail('in exponent of numeric literal');
      this.digits();
    }
    return { kind: 'number', text: this.buf.toString('latin1', start, this.pos) };
  }

  /** The byte after a number's part, or -1 at the end of the input (a number may end there). */
  private more(): number {
    return this.pos < this.buf.length ? this.buf[this.pos] : -1;
  }

  private digits(): void {
    while (this.pos < this.buf.length && isDigit(this.buf[this.pos])) this.pos++;
  }
}

/** The text of a JSON string with escapes, as Go's unquote makes it. */
function unescape(raw: Buffer): string {
  let out = '';
  let i = 0;
  let runStart = 0;
  while (i < raw.length) {
    if (raw[i] !== 0x5c) {
      i++;
      continue;
    }
    out += raw.toString('utf8', runStart, i);
    const e = raw[i + 1];
    if (e === 0x75) {
      let code = parseInt(raw.toString('latin1', i + 2, i + 6), 16);
      i += 6;
      if (code >= 0xd800 && code < 0xdc00) {
        // A surrogate pair, if the next escape completes it; a lone half becomes U+FFFD, as in Go.
        const next =
          raw[i] === 0x5c && raw[i + 1] === 0x75 ? parseInt(raw.toString('latin1', i + 2, i + 6), 16) : -1;
        if (next >= 0xdc00 && next < 0xe000) {
          out += String.fromCharCode(code, next);
          i += 6;
          runStart = i;
          continue;
        }
        code = 0xfffd;
      } else if (code >= 0xdc00 && code < 0xe000) {
        code = 0xfffd;
      }
      out += String.fromCharCode(code);
    } else {
      out += ESCAPES[e];
      i += 2;
    }
    runStart = i;
  }
  return out + raw.toString('utf8', runStart);
}

/** Outcome of {@link readValue}. */
export type ReadOutcome =
  | { node: JsonNode; end: number }
  /** Nothing but whitespace before the end of the input. */
  | { eof: true }
  /** The value is cut off: more input may complete it (only when `final` is false). */
  | { incomplete: true };

/**
 * Read the next JSON value of a stream from `start`, as Go's `json.Decoder.Decode` does: what follows the value is
 * left unread. With `final` (the stream has ended) a value cut off is the error `unexpected EOF`; without it the
 * caller is told to wait for more input. Throws {@link GoJsonError} on a syntax error.
 */
export function readValue(buf: Buffer, start: number, final: boolean): ReadOutcome {
  const p = new Parser(buf, start);
  if (!p.skipSpace()) return final ? { eof: true } : { incomplete: true };
  try {
    const node = p.value();
    // A number at the very end may still grow while the stream is open.
    if (!final && node.kind === 'number' && p.pos >= buf.length) return { incomplete: true };
    return { node, end: p.pos };
  } catch (err) {
    if (err !== INCOMPLETE) throw err;
    if (!final) return { incomplete: true };
    throw new GoJsonError('unexpected EOF');
  }
}

/** Parse a whole text as Go's `json.Unmarshal` does: one value, nothing but whitespace after it. */
export function parseWhole(buf: Buffer): JsonNode {
  const p = new Parser(buf, 0);
  let node: JsonNode;
  try {
    node = p.value();
  } catch (err) {
    if (err !== INCOMPLETE) throw err;
    // Go's scanner ends the input by feeding it one space: a value cut inside a number, literal or escape is
    // reported at that space; anything else is "unexpected end".
    try {
      new Parser(Buffer.concat([buf, Buffer.from(' ')]), 0).value();
    } catch (spaced) {
      if (spaced instanceof GoJsonError) throw spaced;
    }
    throw new GoJsonError('unexpected end of JSON input');
  }
  if (p.skipSpace()) {
    throw new GoJsonError(`invalid character ${quoteChar(buf[p.pos])} after top-level value`);
  }
  return node;
}
