/**
 * etcd's JSON gateway over HTTP/1.1: `POST /v3/kv/range` and the rest (routes.ts), answered by the handlers the
 * gRPC port registers (method-registry.ts, invocation.ts), with etcd's JSON mapping (json-mapping.ts) and error
 * forms (error-forms.ts). Also etcd's `GET /version` (Patroni reads it to pick the API prefix) and `GET /health`.
 *
 * A request becomes the same bytes a gRPC client would send: JSON → protobuf message → the method's own request
 * deserializer (so the size checks and fast codecs apply unchanged) → the handler; each answer goes through the
 * method's response serializer and back to JSON. See docs/etcd-gateway.md.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { InFlightTracker } from '../../lifecycle/in-flight-tracker';
import { tokenProblem } from '../grpc/auth-interceptor';
import { DaprError } from '../dapr-errors';
import type { ConnectionSink } from '../protocol-sniffer';
import { errorBody, httpStatusOfCode, streamErrorChunk } from './error-forms';
import { GoJsonError, readValue, type JsonNode } from './go-json';
import { GatewayCall, type CallInfo, type CallStatus } from './invocation';
import { goJsonStringify, JsonMappingError, messageFromJson, messageToJson } from './json-mapping';
import type { MethodRegistry, RegisteredMethod } from './method-registry';
import { GATEWAY_PREFIXES, routeOf } from './routes';

/** Options of {@link EtcdGateway}. */
export interface EtcdGatewayOptions {
  /** The services to serve (those registered on the gRPC side of the same port). */
  registry: MethodRegistry;
  /** Largest encoded request message, the port's gRPC receive limit (etcd: max-request-bytes + 512 KiB). */
  maxRequestMessageBytes: number;
  /** The etcd version statecar reports (Maintenance Status, `GET /version`). */
  version: string;
  /** Whether the engine serves requests, for `GET /health` (default: always). */
  healthy?: () => boolean;
  /** A `dapr-api-token` every gateway request must carry (on the Dapr gRPC port with DAPR_API_TOKEN). */
  apiToken?: string;
  /** Requests in flight, for the graceful shutdown; streams register as long-lived. */
  inFlight?: InFlightTracker;
}

/**
 * The most bytes of JSON read for one request message before it is refused: base64 makes bytes 4/3 larger and JSON
 * adds names and quotes, so four times the message limit leaves room for any message within it.
 */
const BODY_FACTOR = 4;

/** CORS headers etcd sends with its default `--cors=*`. */
const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
};

const JSON_TYPE = 'application/json';

/** How long an idle keep-alive connection is kept open, ms. */
const KEEP_ALIVE_MS = 120_000;

/** The gateway: a node:http server fed connections by the protocol sniffer. */
export class EtcdGateway implements ConnectionSink {
  readonly server: http.Server;
  private readonly sockets = new Map<Duplex, number>();
  private closing = false;
  private readonly maxBodyBytes: number;

  constructor(private readonly opts: EtcdGatewayOptions) {
    this.maxBodyBytes = opts.maxRequestMessageBytes * BODY_FACTOR;
    // No time limit on a whole request: a watch's body may stay open as long as the watch (etcd sets none either).
    // Idle keep-alive connections are kept 2 min (node's default is 5 s; etcd keeps them until the client closes):
    // Patroni's connection pool polls every loop_wait (10 s by default) and must not race a server-side close.
    this.server = http.createServer({ requestTimeout: 0 }, (req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = KEEP_ALIVE_MS;
    this.server.on('connection', (socket: Duplex) => {
      this.sockets.set(socket, 0);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Take over an HTTP/1.1 connection. */
  injectConnection(socket: Duplex): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.server.emit('connection', socket);
    // node:http reads the socket's handle directly; the bytes the sniffer put back arrive as `data` once flowing.
    socket.resume();
  }

  /** Stop taking requests: idle connections close now, busy ones once their response is out. */
  close(): void {
    this.closing = true;
    for (const [socket, busy] of this.sockets) if (busy === 0) socket.destroy();
  }

  /** Cut every connection. */
  destroyConnections(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    this.sockets.set(socket, (this.sockets.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const busy = (this.sockets.get(socket) ?? 1) - 1;
      this.sockets.set(socket, busy);
      if (this.closing && busy === 0) socket.destroy();
    });
    if (this.closing) res.setHeader('Connection', 'close');
    for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(200).end();
      return;
    }
    const urlPath = (req.url ?? '/').split('?')[0];
    if (urlPath === '/version' || urlPath === '/health') return this.serveInfo(urlPath, req, res);
    const path = routeOf(urlPath);
    if (!path) {
      // Under a version prefix the gateway's router answers; elsewhere Go's default mux does.
      const gateway = GATEWAY_PREFIXES.some((p) => urlPath.startsWith(p));
      return textError(res, 404, gateway ? 'Not Found' : '404 page not found');
    }
    if (req.method !== 'POST') return textError(res, 405, 'Method Not Allowed');
    const [, service, name] = path.split('/');
    const method = this.opts.registry.get(path);
    if (!method) {
      // What a gRPC server answers for a service or method it does not have (grpc-go's wording, as etcd's).
      const details = this.opts.registry.hasService(service)
        ? `unknown method ${name} for service ${service}`
        : `unknown service ${service}`;
      return jsonError(res, { code: grpc.status.UNIMPLEMENTED, details });
    }
    const info = callInfo(req);
    if (this.opts.apiToken !== undefined && tokenProblem(info.metadata, this.opts.apiToken)) {
      return jsonError(res, {
        code: grpc.status.UNAUTHENTICATED,
        details: new DaprError('UNAUTHENTICATED', {}).message,
      });
    }
    info.metadata.remove('dapr-api-token');
    if (method.kind === 'unary' || method.kind === 'serverStream') {
      void this.serveSingleRequest(method, info, req, res);
    } else {
      this.serveStreamingRequest(method, info, req, res);
    }
  }

  private serveInfo(urlPath: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return textError(res, 405, 'Method Not Allowed');
    if (urlPath === '/version') {
      const [major, minor] = this.opts.version.split('.');
      const body = goJsonStringify({ etcdserver: this.opts.version, etcdcluster: `${major}.${minor}.0` });
      res.writeHead(200, { 'Content-Type': JSON_TYPE }).end(body);
      return;
    }
    const ok = this.opts.healthy?.() ?? true;
    res
      .writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end(goJsonStringify({ health: String(ok), reason: '' }));
  }

  /** Unary and server-streaming methods: one request, the body's first JSON value. */
  private async serveSingleRequest(
    method: RegisteredMethod,
    info: CallInfo,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    const body = await readBody(req, this.maxBodyBytes);
    if (body === 'gone') return;
    if (body === 'too large') {
      res.setHeader('Connection', 'close');
      return jsonError(res, this.bodyTooLarge());
    }
    let request: object;
    try {
      const r = readValue(body, 0, true);
      request = this.toRequest(method, 'node' in r ? r.node : undefined);
    } catch (err) {
      return jsonError(res, mappingStatus(err));
    }
    const call = this.open(method, info, res);
    call.request = request;
    call.start();
  }

  /** Client- and bidi-streaming methods: the body is a sequence of JSON values, each one request. */
  private serveStreamingRequest(
    method: RegisteredMethod,
    info: CallInfo,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    let pending: Buffer = Buffer.alloc(0);
    let call: GatewayCall | undefined;
    let stopped = false;
    // Requests after the first that cannot be read end the request stream, as etcd's gateway does (it stops
    // sending and half-closes); the first one's error is the answer.
    const stop = (): void => {
      stopped = true;
      req.resume();
      call?.endRequests();
    };
    const take = (final: boolean): void => {
      while (!stopped) {
        let r;
        let request: object;
        try {
          r = readValue(pending, 0, final);
          if ('incomplete' in r) {
            if (pending.length > this.maxBodyBytes) throw new BodyTooLarge();
            return;
          }
          if ('eof' in r) {
            if (!call) this.startStream(method, info, res).endRequests();
            else call.endRequests();
            stopped = true;
            return;
          }
          request = this.toRequest(method, r.node);
        } catch (err) {
          // etcd's gateway passes a streaming call's decode error on as is, so it is code Unknown there.
          const status =
            err instanceof BodyTooLarge ? this.bodyTooLarge() : mappingStatus(err, grpc.status.UNKNOWN);
          if (!call) {
            stopped = true;
            req.resume();
            if (err instanceof BodyTooLarge) res.setHeader('Connection', 'close');
            return jsonError(res, status);
          }
          return stop();
        }
        pending = pending.subarray(r.end);
        call ??= this.startStream(method, info, res);
        const current = call;
        current.onWantRequests = () => req.resume();
        if (!current.pushRequest(request)) req.pause();
      }
    };
    req.on('data', (chunk: Buffer) => {
      if (stopped) return;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      take(false);
    });
    req.on('end', () => take(true));
  }

  private startStream(method: RegisteredMethod, info: CallInfo, res: http.ServerResponse): GatewayCall {
    const call = this.open(method, info, res);
    call.start();
    return call;
  }

  /** The request message: JSON → protobuf bytes (size-checked) → the method's own deserializer. */
  private toRequest(method: RegisteredMethod, node: JsonNode | undefined): object {
    const type = method.requestType;
    const bytes = type.encode(type.fromObject(node ? messageFromJson(type, node) : {})).finish();
    const max = this.opts.maxRequestMessageBytes;
    if (bytes.length > max) {
      throw new StatusFailure({
        code: grpc.status.RESOURCE_EXHAUSTED,
        // grpc-go's wording, as etcd's gateway relays it.
        details: `grpc: received message larger than max (${bytes.length} vs. ${max})`,
      });
    }
    return method.definition.requestDeserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  private bodyTooLarge(): CallStatus {
    return {
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: `request body larger than ${this.maxBodyBytes} bytes (the message limit is ${this.opts.maxRequestMessageBytes} bytes)`,
    };
  }

  /** A call whose answers are written to `res`: one JSON object for unary calls, `{"result": ...}` lines for streams. */
  private open(method: RegisteredMethod, info: CallInfo, res: http.ServerResponse): GatewayCall {
    const streaming = method.kind === 'serverStream' || method.kind === 'bidi';
    let started = false;
    const call = new GatewayCall(method, info, {
      message: (value, ready) => {
        let json: string;
        try {
          json = goJsonStringify(
            messageToJson(
              method.responseType,
              method.responseType.decode(method.definition.responseSerialize(value)),
            ),
          );
        } catch (err) {
          call.fail({ code: grpc.status.INTERNAL, details: `failed to serialize response: ${String(err)}` });
          return;
        }
        if (!streaming) {
          res
            .writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(json) })
            .end(json);
          return ready();
        }
        if (!started) {
          started = true;
          res.writeHead(200, { 'Content-Type': JSON_TYPE });
        }
        if (res.write(`{"result":${json}}\n`)) ready();
        else res.once('drain', ready);
      },
      end: (status) => {
        if (status.code === grpc.status.OK) {
          if (streaming && !started) res.writeHead(200, { 'Content-Type': JSON_TYPE });
          if (!res.writableEnded) res.end();
          return;
        }
        if (!streaming) return jsonError(res, status);
        if (!started) res.writeHead(httpStatusOfCode(status.code), { 'Content-Type': JSON_TYPE });
        res.end(streamErrorChunk(status));
      },
    });
    const inFlight = this.opts.inFlight;
    const done =
      method.kind === 'unary'
        ? inFlight?.begin('http')
        : inFlight?.stream(() => {
            call.cancel();
            res.destroy();
          });
    res.once('close', () => {
      done?.();
      // The client went away before the answer was complete: the handler is cancelled (a watch frees its watchers).
      if (!res.writableFinished) call.cancel();
    });
    return call;
  }
}

/** A failure with a status of its own (e.g. the message size limit). */
class StatusFailure extends Error {
  constructor(readonly status: CallStatus) {
    super(status.details);
  }
}

class BodyTooLarge extends Error {}

/** The status for a request that could not be turned into a message. */
function mappingStatus(err: unknown, code: grpc.status = grpc.status.INVALID_ARGUMENT): CallStatus {
  if (err instanceof StatusFailure) return err.status;
  if (err instanceof GoJsonError || err instanceof JsonMappingError) return { code, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/** The caller as a handler sees it: grpc-gateway's metadata from the HTTP headers, host and peer. */
function callInfo(req: http.IncomingMessage): CallInfo {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(req.headers)) {
    // grpc-gateway passes `Authorization` on as is and `Grpc-Metadata-<name>` as `<name>`; the Dapr token header
    // is kept for the token check.
    const name =
      key === 'authorization' || key === 'dapr-api-token'
        ? key
        : key.startsWith('grpc-metadata-')
          ? key.slice('grpc-metadata-'.length)
          : undefined;
    if (!name || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      try {
        metadata.add(name, v);
      } catch {
        // A name gRPC metadata cannot carry (e.g. `-bin` without binary data) is dropped, as grpc-go drops it.
      }
    }
  }
  const host = req.headers.host ?? '';
  return {
    metadata,
    // Over HTTP/1.1 the address a client dials is a URL: the Cluster service lists it as the member's client URL,
    // and HTTP clients (Patroni) dial what it lists.
    host: host ? `http://${host}` : '',
    peer: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
  };
}

/** Read a whole body, up to `max` bytes. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | 'too large' | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too large');
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', () => resolve('gone'));
    req.on('close', () => {
      if (!req.complete) resolve('gone');
    });
  });
}

/** A failed call in the gateway's JSON form. */
function jsonError(res: http.ServerResponse, s: CallStatus): void {
  if (res.headersSent) return void res.end();
  const body = errorBody(s);
  res
    .writeHead(httpStatusOfCode(s.code), {
      'Content-Type': JSON_TYPE,
      'Content-Length': Buffer.byteLength(body),
    })
    .end(body);
}

/** Go's `http.Error`: a plain-text line. */
function textError(res: http.ServerResponse, status: number, text: string): void {
  res
    .writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' })
    .end(`${text}\n`);
}
