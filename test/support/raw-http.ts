import net from 'node:net';

/** One HTTP response read off a raw socket. */
export interface RawHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
}

/** The outcome of sending raw bytes: the responses read (in order), and how the connection ended. */
export interface RawHttpResult {
  responses: RawHttpResponse[];
  /** Everything received, for messages. */
  raw: string;
  /** `end` (the server closed), `timeout` (still open when we gave up), or a socket error code. */
  ended: 'end' | 'timeout' | string;
}

/** Parse as many complete HTTP/1.1 responses as `text` holds (Content-Length or chunked bodies). */
export function parseResponses(text: string): RawHttpResponse[] {
  const out: RawHttpResponse[] = [];
  let rest = text;
  for (;;) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) return out;
    const lines = rest.slice(0, headEnd).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) return out;
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let body: string;
    let after = headEnd + 4;
    if (headers['transfer-encoding']?.includes('chunked')) {
      body = '';
      for (;;) {
        const lineEnd = rest.indexOf('\r\n', after);
        if (lineEnd < 0) return out;
        const size = parseInt(rest.slice(after, lineEnd), 16);
        after = lineEnd + 2;
        if (size === 0) {
          after += 2;
          break;
        }
        body += rest.slice(after, after + size);
        after += size + 2;
      }
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (rest.length < after + len) return out;
      body = rest.slice(after, after + len);
      after += len;
    }
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    out.push({ status: Number(m[1]), headers, body, json });
    rest = rest.slice(after);
  }
}

/**
 * Send `payload` on a fresh connection to 127.0.0.1:`port` and collect what comes back until the server closes
 * the connection, `expectResponses` responses are complete, or `timeoutMs` passes.
 */
export function rawHttp(
  port: number,
  payload: Buffer | string,
  opts: { expectResponses?: number; timeoutMs?: number; halfClose?: boolean } = {},
): Promise<RawHttpResult> {
  const want = opts.expectResponses ?? 1;
  return new Promise((resolve) => {
    let raw = '';
    let done = false;
    const socket = net.connect(port, '127.0.0.1');
    const finish = (ended: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses: parseResponses(raw), raw, ended });
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs ?? 5000);
    // With halfClose the request ends with our FIN, as a client that has nothing more to send.
    socket.on('connect', () => (opts.halfClose ? socket.end(payload) : socket.write(payload)));
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      if (parseResponses(raw).length >= want) finish('end');
    });
    socket.on('end', () => finish('end'));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'error'));
  });
}
