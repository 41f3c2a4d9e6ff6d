/**
 * One gRPC call on one HTTP/2 stream: request messages decoded (and decompressed) from DATA frames, response headers,
 * messages and trailers written back, client resets and the deadline turned into cancels. See docs/grpc-server.md
 * for the wire rules followed here.
 */
import http2 from 'node:http2';
import type { Metadata } from '@grpc/grpc-js';
import { status } from '../grpc-core';
import type { CallStatus } from './call-status';
import { CallTransport } from './call-transport';
import { ACCEPT_ENCODING, decompress } from './compression';
import { encodeGrpcMessage } from './grpc-message';
import { frameMessage, MessageDecoder, PREFIX_BYTES, type FrameSink } from './message-framing';
import type { RegisteredMethod } from './method-registry';
import { requestMetadata } from './request-metadata';

/** Message-size limits of a server, in bytes (Infinity = none). */
export interface MessageLimits {
  maxReceive: number;
  maxSend: number;
}

/** What the connection's keep-alive policy needs to hear from its calls: that the server sent something. */
export interface ConnectionActivity {
  /** Reset to 0 whenever headers or data go out (grpc-go resets its ping strikes the same way). */
  pingStrikes: number;
  /** Calls open on the connection. */
  openCalls: number;
}

const kCall = Symbol('grpcCall');
type CallStream = http2.ServerHttp2Stream & { [kCall]?: Http2Call };

/** Response headers for the two content types clients send (the subtype is echoed, as grpc-go does). */
const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': 'application/grpc',
  'grpc-accept-encoding': ACCEPT_ENCODING,
});
const RESPONSE_HEADERS_PROTO: http2.OutgoingHttpHeaders = Object.freeze({
  ...RESPONSE_HEADERS,
  'content-type': 'application/grpc+proto',
});
const OK_TRAILERS: http2.OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0' });
/** Node adds a `date` header to every response unless told not to: bytes no gRPC client reads. */
const WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });
/** Options of a Trailers-Only answer (one HEADERS frame with END_STREAM). */
export const TRAILERS_ONLY = Object.freeze({ endStream: true, sendDate: false });

/** The trailer fields of a status. */
export function statusTrailers(s: CallStatus): http2.OutgoingHttpHeaders {
  if (s.code === status.OK && !s.metadata && !s.details) return OK_TRAILERS;
  const t: http2.OutgoingHttpHeaders = s.metadata ? s.metadata.toHttp2Headers() : {};
  t['grpc-status'] = String(s.code);
  if (s.details) t['grpc-message'] = encodeGrpcMessage(s.details);
  return t;
}

function onData(this: CallStream, chunk: Buffer): void {
  this[kCall]!.receiveChunk(chunk);
}

function onEnd(this: CallStream): void {
  this[kCall]!.receiveEnd();
}

function onClose(this: CallStream): void {
  this[kCall]!.streamClosed();
}

function onWantTrailers(this: CallStream): void {
  this.sendTrailers(this[kCall]!.trailers ?? OK_TRAILERS);
}

function closeStream(stream: CallStream): void {
  if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/**
 * Once our status is out, a client still sending (an early error: too large, malformed) gets RST_STREAM(NO_ERROR)
 * so it stops, as grpc-go does; Node does it by itself only for streams whose body was never read.
 */
function onFinishBeforeClientEnd(this: CallStream): void {
  setImmediate(closeStream, this);
}

function ignoreError(): void {
  // Stream errors (resets, writes after close) end in 'close', which is where the call learns of them.
}

/** A gRPC call carried by an HTTP/2 stream. */
export class Http2Call extends CallTransport implements FrameSink {
  /** The trailers to send when Node asks for them. */
  trailers: http2.OutgoingHttpHeaders | undefined;
  private decoder: MessageDecoder | undefined;
  private md: Metadata | undefined;
  private headersSent = false;

  constructor(
    method: RegisteredMethod,
    deadlineAt: number,
    private readonly stream: CallStream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly rawHeaders: readonly string[],
    private readonly limits: MessageLimits,
    private readonly activity: ConnectionActivity,
  ) {
    super(method, deadlineAt);
    activity.openCalls++;
    stream[kCall] = this;
    stream.on('error', ignoreError);
    stream.on('close', onClose);
    stream.on('wantTrailers', onWantTrailers);
  }

  /** Start reading the request and the deadline (once the layers admitted the call and a listener is set). */
  start(): void {
    if (!this.armDeadline()) return;
    this.stream.on('data', onData);
    this.stream.on('end', onEnd);
  }

  get metadata(): Metadata {
    return (this.md ??= requestMetadata(this.rawHeaders));
  }

  getPeer(): string {
    const socket = this.stream.session?.socket;
    if (!socket?.remoteAddress) return 'unknown';
    const host = socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]` : socket.remoteAddress;
    return `${host}:${socket.remotePort}`;
  }

  getHost(): string {
    return this.headers[':authority'] ?? this.headers.host ?? '';
  }

  /** A chunk of the request body. */
  receiveChunk(chunk: Buffer): void {
    if (this.ended) return;
    if (this.decoder === undefined && chunk.length >= PREFIX_BYTES && chunk[0] <= 1) {
      // The common case: nothing pending and exactly one whole message in the chunk.
      const length = chunk.readUInt32BE(1);
      if (length === chunk.length - PREFIX_BYTES && length <= this.limits.maxReceive) {
        this.receiveFrame(chunk[0] === 1, Buffer.from(chunk.subarray(PREFIX_BYTES)));
        return;
      }
    }
    const problem = (this.decoder ??= new MessageDecoder(this.limits.maxReceive)).push(chunk, this);
    if (problem) this.sendStatus(problem);
  }

  /** One complete request message. */
  receiveFrame(compressed: boolean, payload: Buffer): void {
    if (this.ended) return;
    let bytes = payload;
    if (compressed) {
      const inflated = decompress(
        this.headers['grpc-encoding'] as string | undefined,
        payload,
        this.limits.maxReceive,
      );
      if (!Buffer.isBuffer(inflated)) {
        this.sendStatus(inflated);
        return;
      }
      bytes = inflated;
    }
    let value: unknown;
    try {
      value = this.method.deserialize(bytes);
    } catch (err) {
      this.sendStatus({
        code: status.INTERNAL,
        details: `grpc: failed to unmarshal the received message: ${(err as Error).message}`,
      });
      return;
    }
    this.listener!.onMessage(value);
  }

  /** The client's END_STREAM. */
  receiveEnd(): void {
    if (this.ended) return;
    if (this.decoder?.midMessage) {
      this.sendStatus({
        code: status.INTERNAL,
        details: 'grpc: request ended inside a message: unexpected EOF',
      });
      return;
    }
    this.listener!.onHalfClose();
  }

  /** The stream closed (our trailers out, or a reset, or the connection gone). */
  streamClosed(): void {
    this.activity.openCalls--;
    this.clientCancelled();
  }

  startRead(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  pauseRead(): void {
    this.stream.pause();
  }

  private writable(): boolean {
    return !this.stream.destroyed && !this.stream.closed;
  }

  private baseHeaders(): http2.OutgoingHttpHeaders {
    return this.headers['content-type'] === 'application/grpc+proto'
      ? RESPONSE_HEADERS_PROTO
      : RESPONSE_HEADERS;
  }

  private respond(md?: Metadata): void {
    this.headersSent = true;
    this.activity.pingStrikes = 0;
    const base = this.baseHeaders();
    this.stream.respond(md ? { ...md.toHttp2Headers(), ...base } : base, WITH_TRAILERS);
  }

  sendMetadata(md: Metadata): void {
    if (this.ended || this.headersSent || !this.writable()) return;
    this.respond(md);
  }

  /** The framed bytes of a response, or undefined after ending the call (serializer failure, over the limit). */
  private encode(value: unknown): Buffer | undefined {
    let bytes: Buffer;
    try {
      bytes = this.method.serialize(value);
    } catch (err) {
      this.sendStatus({
        code: status.INTERNAL,
        details: `grpc: error while marshaling: ${(err as Error).message}`,
      });
      return undefined;
    }
    if (bytes.length > this.limits.maxSend) {
      this.sendStatus({
        code: status.RESOURCE_EXHAUSTED,
        details: `grpc: trying to send message larger than max (${bytes.length} vs. ${this.limits.maxSend})`,
      });
      return undefined;
    }
    return frameMessage(bytes);
  }

  sendUnaryResponse(value: unknown, trailer: Metadata | undefined): void {
    if (this.ended) return;
    const frame = this.encode(value);
    if (frame === undefined) return;
    if (!this.writable()) {
      this.clientCancelled();
      return;
    }
    if (!this.headersSent) this.respond();
    this.trailers = trailer
      ? statusTrailers({ code: status.OK, details: '', metadata: trailer })
      : OK_TRAILERS;
    this.stream.end(frame);
    this.finish(status.OK);
  }

  sendMessage(value: unknown, done: (err?: Error | null) => void): void {
    if (this.ended || !this.writable()) {
      done();
      return;
    }
    const frame = this.encode(value);
    if (frame === undefined) {
      done();
      return;
    }
    if (!this.headersSent) this.respond();
    else this.activity.pingStrikes = 0;
    // A write that fails because the stream was reset is not the handler's error: the reset reaches it as a cancel
    // (through 'close').
    this.stream.write(frame, () => done());
  }

  protected writeStatus(s: CallStatus): void {
    if (!this.writable()) return;
    if (!this.stream.readableEnded) this.stream.once('finish', onFinishBeforeClientEnd);
    if (this.headersSent) {
      this.trailers = statusTrailers(s);
      this.stream.end();
      return;
    }
    // Trailers-Only: one HEADERS frame with END_STREAM carrying the status (and content-type, which grpc-go and
    // Connect clients need to read it as gRPC).
    this.headersSent = true;
    this.activity.pingStrikes = 0;
    this.stream.respond({ ...this.baseHeaders(), ...statusTrailers(s) }, TRAILERS_ONLY);
  }
}
