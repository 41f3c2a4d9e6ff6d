/**
 * statecar's gRPC server on `node:http2`. It takes grpc-js service definitions and grpc-js-style implementations
 * unchanged (`addService(definition, implementation)`), so the handlers, `@grpc/reflection` and
 * `grpc-health-check` plug in as they would into `grpc.Server`; it exists because grpc-js's server costs about
 * twice what `node:http2` itself does per call (docs/performance.md).
 *
 * Connections come from {@link GrpcServer.listen} or from whoever accepted them ({@link GrpcServer.acceptConnection}:
 * e.g. a listener that tells HTTP/2 from HTTP/1.1 by the first bytes); calls can also be run without HTTP/2
 * ({@link GrpcServer.invoke}). Every call, however it came, passes the same layers (token check, accounting) before
 * its handler. Wire rules: docs/grpc-server.md.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { authorityFront } from '../authority-front';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status } from '../grpc-core';
import type { CallLayer } from './call-layer';
import type { CallStatus } from './call-status';
import type { CallTransport } from './call-transport';
import { ACCEPT_ENCODING, isSupportedEncoding } from './compression';
import { encodeGrpcMessage } from './grpc-message';
import { MAX_TIMER_MS, parseGrpcTimeout } from './grpc-timeout';
import { Http2Call, TRAILERS_ONLY, type MessageLimits } from './http2-call';
import {
  InProcessCall,
  type InProcessOptions,
  type InProcessSink,
  type InProcessCallHandle,
} from './in-process-call';
import {
  ConnectionState,
  DEFAULT_KEEPALIVE_POLICY,
  enforcePingPolicy,
  type KeepalivePolicy,
} from './keepalive-policy';
import { MethodRegistry, splitPath, type RegisteredMethod } from './method-registry';
import { dispatch } from './server-calls';

/** Options of a {@link GrpcServer}, each with its default. */
export interface GrpcServerOptions {
  /** Largest request message accepted, bytes (default 4 MiB, as grpc-js and grpc-go); larger → RESOURCE_EXHAUSTED. */
  maxReceiveMessageLength?: number;
  /** Largest response message sent, bytes (default unlimited); larger → RESOURCE_EXHAUSTED. */
  maxSendMessageLength?: number;
  /** Run, in order, before every handler (default none). */
  layers?: CallLayer[];
  /** Client ping enforcement (default {@link DEFAULT_KEEPALIVE_POLICY}). */
  keepalive?: Partial<KeepalivePolicy>;
  /**
   * Memory one connection may hold (streams, header tables, unsent data), MB (default 64). Past it Node refuses new
   * streams on that connection until it drains; a client that never reads therefore cannot grow the server without
   * bound.
   */
  maxSessionMemoryMB?: number;
}

const DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024;

const kState = Symbol('connectionState');
type Session = http2.ServerHttp2Session & { [kState]?: ConnectionState };

const UNAVAILABLE_SHUTDOWN: CallStatus = { code: status.UNAVAILABLE, details: 'server is shutting down' };

/** `-1`, `Infinity` or undefined → no limit. */
function limit(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return value < 0 ? Infinity : value;
}

function ignore(): void {
  // Connection errors end in 'close'; nothing to do but not crash.
}

/** A gRPC server. */
export class GrpcServer {
  private readonly registry = new MethodRegistry();
  private readonly h2: http2.Http2Server;
  private readonly listeners: net.Server[] = [];
  /** Reads the start of each connection before it is served (see ../authority-front.ts). */
  private readonly front = authorityFront((connection) => this.serveConnection(connection));
  private readonly sessions = new Set<Session>();
  private readonly limits: MessageLimits;
  private readonly layers: CallLayer[];
  private readonly keepalive: KeepalivePolicy;
  private shuttingDown = false;
  private shutdownWaiters: (() => void)[] = [];

  constructor(options: GrpcServerOptions = {}) {
    this.limits = {
      maxReceive: limit(options.maxReceiveMessageLength, DEFAULT_MAX_RECEIVE),
      maxSend: limit(options.maxSendMessageLength, Infinity),
    };
    this.layers = options.layers ?? [];
    this.keepalive = { ...DEFAULT_KEEPALIVE_POLICY, ...options.keepalive };
    this.h2 = http2.createServer({
      maxSessionMemory: options.maxSessionMemoryMB ?? 64,
      // Response metadata is the handlers' to size; Node's default cap would fail large trailers.
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    });
    this.h2.on('session', (session: Session) => this.onSession(session));
    // Node passes the raw header list as a fourth argument its typings leave out.
    this.h2.on('stream', ((
      stream: http2.ServerHttp2Stream,
      headers: http2.IncomingHttpHeaders,
      _flags: number,
      rawHeaders: string[],
    ) => this.onStream(stream, headers, rawHeaders)) as (s: http2.ServerHttp2Stream) => void);
    this.h2.on('sessionError', ignore);
  }

  /** Add a service, as `grpc.Server.addService` does. Throws on a method path already served. */
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.registry.add(service, implementation);
  }

  /** The registered service definitions by full name (`pkg.Service`), e.g. for reflection. */
  services(): ReadonlyMap<string, ServiceDefinition> {
    return this.registry.serviceDefinitions();
  }

  /** Listen on host:port (0 = any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    // Through the authority front: etcd 3.4's client sends a whole URL as :authority, which nghttp2 refuses
    // (../authority-front.ts).
    const listener = net.createServer((socket) => this.acceptConnection(socket));
    this.listeners.push(listener);
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host, port }, () => {
        listener.off('error', reject);
        const addr = listener.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /**
   * Serve gRPC on a connection someone else accepted (its bytes not yet read, or put back with `socket.unshift`):
   * the HTTP/2 preface and everything after it is this server's. It passes the authority front like a connection
   * of {@link GrpcServer.listen}, so a protocol sniffer in front of this server changes nothing for etcd 3.4's
   * client.
   */
  acceptConnection(socket: net.Socket): void {
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    this.front.accept(socket);
  }

  /** Hand a connection (as it left the authority front) to the HTTP/2 server. */
  private serveConnection(connection: Duplex): void {
    if (this.shuttingDown) {
      connection.destroy();
      return;
    }
    this.h2.emit('connection', connection);
  }

  /**
   * Run a registered method without HTTP/2 (e.g. a JSON gateway): request objects in through the handle, response
   * objects and the status out through `sink`, with the same layers, deadline and cancel handling as a call on the
   * wire. Returns undefined for an unknown path (after telling `sink` UNIMPLEMENTED).
   */
  invoke(path: string, options: InProcessOptions, sink: InProcessSink): InProcessCallHandle | undefined {
    const method = this.registry.get(path);
    if (!method) {
      sink.onStatus(this.unknownPath(path));
      return undefined;
    }
    const deadlineAt = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    const call = new InProcessCall(method, deadlineAt, options, sink);
    if (this.shuttingDown) {
      call.sendStatus(UNAVAILABLE_SHUTDOWN);
      return call.handle();
    }
    if (this.admit(call)) call.start();
    return call.handle();
  }

  /** Run the layers, then attach the handler; false when the call was refused or ended. */
  private admit(call: CallTransport): boolean {
    for (const layer of this.layers) {
      const refused = layer(call);
      if (refused) {
        call.sendStatus(refused);
        return false;
      }
      if (call.ended) return false;
    }
    if (call.method.func === undefined) {
      const split = splitPath(call.path)!;
      call.sendStatus({
        code: status.UNIMPLEMENTED,
        details: `unknown method ${split.method} for service ${split.service}`,
      });
      return false;
    }
    dispatch(call);
    return true;
  }

  /** grpc-go's answer to a path no method is registered at. */
  private unknownPath(path: string): CallStatus {
    const split = splitPath(path);
    if (!split)
      return { code: status.UNIMPLEMENTED, details: `malformed method name: ${JSON.stringify(path)}` };
    if (!this.registry.hasService(split.service)) {
      return { code: status.UNIMPLEMENTED, details: `unknown service ${split.service}` };
    }
    return {
      code: status.UNIMPLEMENTED,
      details: `unknown method ${split.method} for service ${split.service}`,
    };
  }

  private onSession(session: Session): void {
    const state = new ConnectionState();
    session[kState] = state;
    session.on('error', ignore);
    enforcePingPolicy(session, state, this.keepalive);
    this.sessions.add(session);
    session.once('close', () => {
      this.sessions.delete(session);
      if (this.shuttingDown) this.checkDrained();
    });
    if (this.shuttingDown) session.close();
  }

  private onStream(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: string[],
  ): void {
    stream.on('error', ignore);
    // The checks in grpc-go's order: content type, method, timeout, then the path.
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      earlyAnswer(
        stream,
        415,
        status.INVALID_ARGUMENT,
        `invalid gRPC request content-type ${JSON.stringify(contentType ?? '')}`,
      );
      return;
    }
    if (headers[':method'] !== 'POST') {
      earlyAnswer(
        stream,
        405,
        status.INTERNAL,
        `Received a HEADERS frame with :method ${JSON.stringify(headers[':method'] ?? '')} which should be POST`,
      );
      return;
    }
    let deadlineAt = Infinity;
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(timeout as string);
      if (typeof ms === 'string') {
        earlyAnswer(stream, 400, status.INTERNAL, `malformed grpc-timeout: ${ms}`);
        return;
      }
      if (ms <= MAX_TIMER_MS) deadlineAt = Date.now() + ms;
    }
    const path = headers[':path'] ?? '';
    const method = this.registry.get(path);
    if (!method) {
      trailersOnly(stream, this.unknownPath(path));
      return;
    }
    const encoding = headers['grpc-encoding'] as string | undefined;
    if (!isSupportedEncoding(encoding)) {
      trailersOnly(stream, {
        code: status.UNIMPLEMENTED,
        details: `grpc: Decompressor is not installed for grpc-encoding ${JSON.stringify(encoding)}`,
      });
      return;
    }
    const session = stream.session as Session | undefined;
    const state = session?.[kState] ?? new ConnectionState();
    const call = new Http2Call(method, deadlineAt, stream, headers, rawHeaders, this.limits, state);
    if (this.admit(call)) call.start();
  }

  /**
   * Graceful stop: stop accepting connections, send GOAWAY on every open one (calls in flight go on; new streams
   * are refused, and clients retry them elsewhere), and call `done` once every connection has closed.
   */
  tryShutdown(done: (err?: Error) => void): void {
    // Connections the authority front is still reading become sessions now, so they get their GOAWAY too.
    this.front.flush();
    this.shuttingDown = true;
    this.shutdownWaiters.push(() => done());
    for (const l of this.listeners) l.close();
    for (const s of this.sessions) if (!s.closed) s.close();
    this.checkDrained();
  }

  /** Cut every connection now; calls still open see a cancel. */
  forceShutdown(): void {
    this.front.flush();
    this.shuttingDown = true;
    for (const l of this.listeners) l.close();
    for (const s of this.sessions) s.destroy(undefined, http2.constants.NGHTTP2_CANCEL);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.sessions.size > 0) return;
    const waiters = this.shutdownWaiters.splice(0);
    for (const w of waiters) w();
  }
}

/** Trailers-Only answer with a status. */
function trailersOnly(stream: http2.ServerHttp2Stream, s: CallStatus): void {
  if (stream.destroyed || stream.closed) return;
  const headers: http2.OutgoingHttpHeaders = {
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': String(s.code),
    'grpc-message': encodeGrpcMessage(s.details),
  };
  if (s.code === status.UNIMPLEMENTED) headers['grpc-accept-encoding'] = ACCEPT_ENCODING;
  stream.respond(headers, TRAILERS_ONLY);
}

/** An answer before the call is a gRPC call at all: an HTTP status beside the gRPC one (grpc-go's form). */
function earlyAnswer(
  stream: http2.ServerHttp2Stream,
  httpStatus: number,
  code: number,
  message: string,
): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(
    {
      ':status': httpStatus,
      'content-type': 'application/grpc',
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(message),
    },
    TRAILERS_ONLY,
  );
}

export type { RegisteredMethod };
