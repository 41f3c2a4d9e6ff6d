/**
 * One TCP port, two protocols, as etcd serves its client port: each accepted connection is told apart by its first
 * bytes. A connection that opens with the HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, sent by every
 * gRPC client, which speaks HTTP/2 with prior knowledge) goes to the HTTP/2 side; anything else is HTTP/1.1 (curl,
 * Patroni, the JSON gateway's clients). The bytes read to decide are put back before the connection is handed on,
 * so neither side knows a sniffer was there. No second port and no proxy.
 */
import net from 'node:net';

/**
 * Something that takes over an accepted connection: statecar's gRPC server (`GrpcServer.acceptConnection`) or the
 * etcd JSON gateway. The socket comes paused, with the bytes read so far back in its readable buffer: node:http2
 * sessions read that buffer themselves, while a node:http server needs `server.emit('connection', socket)` and then
 * `socket.resume()` (its parser takes the handle directly and only sees the buffered bytes as `data` events).
 */
export interface ConnectionSink {
  acceptConnection(socket: net.Socket): void;
}

/** Options of {@link createProtocolSniffer}. */
export interface ProtocolSnifferOptions {
  /** Connections that start with the HTTP/2 preface (gRPC). */
  http2: ConnectionSink;
  /** Every other connection (HTTP/1.1). */
  http1: ConnectionSink;
  /**
   * How long a connection may stay silent before its first bytes, in ms (default 60 000, Node's own
   * `headersTimeout`): past it the connection is closed, so idle sockets cannot pile up undecided.
   */
  firstBytesTimeoutMs?: number;
}

/** The HTTP/2 connection preface (RFC 9113 §3.4). */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A listening sniffer: a net.Server that also knows the connections it handed on. */
export interface ProtocolSniffer {
  readonly server: net.Server;
  /** Listen on host:port; resolves with the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Stop accepting; connections already handed on are left to their sides. Resolves when the listener closed. */
  close(): Promise<void>;
  /** Destroy every connection still open (also those handed on), for a shutdown's deadline. */
  destroyConnections(): void;
}

/**
 * Which side a connection belongs to, from the bytes read so far: `undefined` while they are still a strict prefix
 * of the preface (more bytes are needed to decide).
 */
export function classify(head: Buffer): 'http2' | 'http1' | undefined {
  const n = Math.min(head.length, HTTP2_PREFACE.length);
  if (head.subarray(0, n).compare(HTTP2_PREFACE, 0, n) !== 0) return 'http1';
  return n === HTTP2_PREFACE.length ? 'http2' : undefined;
}

/** A net.Server that hands each connection to `http2` or `http1` by its first bytes. */
export function createProtocolSniffer(opts: ProtocolSnifferOptions): ProtocolSniffer {
  const timeoutMs = opts.firstBytesTimeoutMs ?? 60_000;
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    // A reset while undecided must not become an uncaught 'error'; once handed on, the side owns errors.
    const onError = (): void => {
      socket.destroy();
    };
    socket.on('error', onError);
    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => {
      socket.destroy();
    }, timeoutMs);
    timer.unref();
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, length);
      const side = classify(head);
      if (!side) return;
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('error', onError);
      socket.unshift(head);
      (side === 'http2' ? opts.http2 : opts.http1).acceptConnection(socket);
    };
    socket.on('data', onData);
    socket.once('end', () => clearTimeout(timer));
  });
  return {
    server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => {
          server.off('error', reject);
          const addr = server.address();
          resolve(addr && typeof addr === 'object' ? addr.port : port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
    destroyConnections: () => {
      for (const s of open) s.destroy();
    },
  };
}
