/**
 * Errors the HTTP layer answers before any route runs, each with a Dapr JSON error body from the one table
 * (docs/dapr-api.md#errors-before-a-route): a request line or header Node's parser refuses, headers or URL too large
 * (431), a request that takes too long to arrive (408), an `Expect` other than `100-continue` (417), HTTP/1.1
 * without `Host`, a path whose percent-encoding is broken, and `CONNECT` (answered as an unmatched route: no
 * proxying). Left to Node, these get an empty body, fastify's own JSON shape, or a closed socket.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DaprError } from '../dapr-errors';
import { errorBody, sendError, writeError } from './http-errors';

/** How long a socket answered by hand stays open for the client to read the answer, before it is destroyed. */
const LINGER_MS = 2000;

/** Reason phrases of the statuses answered on a raw socket. */
const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/**
 * Write a whole HTTP/1.1 error response on a socket the HTTP server no longer parses, and close it gracefully:
 * the client gets to read the answer even if it is still sending.
 */
function answerOnSocket(socket: Duplex, err: DaprError, appId: string): void {
  if (socket.destroyed) return;
  const body = Buffer.from(errorBody(err, appId), 'utf8');
  const head =
    `HTTP/1.1 ${err.httpStatus} ${REASONS[err.httpStatus] ?? 'Error'}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  if (socket.writable) socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  // Whatever the client still sends is read and dropped until it closes or the linger time is over.
  socket.on('data', () => undefined);
  socket.on('error', () => undefined);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** Node's parser error codes → the Dapr error to answer with. */
function clientErrorOf(err: NodeJS.ErrnoException & { reason?: string }): DaprError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return new DaprError('HTTP_HEADERS_TOO_LARGE');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new DaprError('HTTP_REQUEST_TIMEOUT');
  const why = err.reason ?? err.message;
  return new DaprError('MALFORMED_REQUEST', { error: `malformed HTTP request: ${why}` });
}

/**
 * fastify's `clientErrorHandler`: Node's HTTP parser gave up on a connection (malformed request line or header,
 * headers over the size limit, request timeout). A reset connection is left alone.
 */
export function clientErrorHandler(appId: string): (err: Error, socket: Duplex) => void {
  return (err, socket) => {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ECONNRESET' || socket.destroyed) return;
    answerOnSocket(socket, clientErrorOf(e), appId);
  };
}

/**
 * fastify's `frameworkErrors`: errors of fastify's router before a route is chosen (a path with a broken
 * percent-escape, `FST_ERR_BAD_URL`; a parameter over the length limit).
 */
export function frameworkErrorHandler(
  appId: string,
): (err: Error, req: FastifyRequest, reply: FastifyReply) => void {
  return (err, req, reply) => {
    const url = req.raw.url ?? '';
    const error =
      (err as { code?: string }).code === 'FST_ERR_BAD_URL' ? `invalid URL escape in ${url}` : err.message;
    void sendError(reply, new DaprError('MALFORMED_REQUEST', { error }), appId);
  };
}

/**
 * Answer what Node's HTTP server handles without fastify: an unsupported `Expect` (417; Node would send an empty
 * 417) and `CONNECT` (Node would close the socket; daprd routes it like any request, and nothing matches it).
 */
export function answerBeforeRouting(server: Server, appId: string): void {
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const err = new DaprError('HTTP_EXPECTATION_FAILED', { error: String(req.headers.expect ?? '') });
    writeError(res, err, appId);
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    answerOnSocket(socket, new DaprError('DIRECT_INVOKE'), appId);
  });
}

/**
 * An `onRequest` hook: HTTP/1.1 requires `Host` (RFC 9112 §3.2; Go's server refuses a request without it). Node's
 * own check answers with an empty body, so the server is built with `requireHostHeader: false` and this hook
 * answers instead.
 */
export function requireHost(req: FastifyRequest): void {
  const raw = req.raw;
  if (raw.httpVersionMajor === 1 && raw.httpVersionMinor >= 1 && !raw.headers.host) {
    throw new DaprError('MALFORMED_REQUEST', { error: 'missing required Host header' });
  }
}
