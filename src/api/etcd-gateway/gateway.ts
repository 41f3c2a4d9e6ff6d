/**
 * etcd's JSON gateway over HTTP/1.1: `POST /v3/kv/range` and the rest (routes.ts), each run as the gRPC method of
 * the same port through the gRPC server's in-process entry (`GrpcServer.invoke`: the same layers — token check,
 * accounting —, cancel handling and handlers as a call on the wire), with etcd's JSON mapping (json-mapping.ts)
 * and error forms (error-forms.ts). Also etcd's `GET /version` (Patroni reads it to pick the API prefix) and
 * `GET /health`.
 *
 * A request becomes the request object a gRPC client's bytes would give: JSON → protobuf message → bytes → the
 * method's own request deserializer (so the size checks and fast codecs apply unchanged); each answer goes through
 * the method's response serializer and back to JSON. See docs/etcd-gateway.md.
 */
import http from 'node:http';
import type net from 'node:net';
import { Metadata, status } from '../grpc/grpc-core';
import type { CallStatus } from '../grpc/server/call-status';
import { DEADLINE_EXCEEDED } from '../grpc/server/call-transport';
import type { GrpcServer } from '../grpc/server/grpc-server';
import type { InProcessCallHandle, InProcessOptions } from '../grpc/server/in-process-call';
import { MAX_TIMER_MS } from '../grpc/server/grpc-timeout';
import type { ConnectionSink } from '../protocol-sniffer';
import { errorBody, httpStatusOfCode, streamErrorChunk } from './error-forms';
import { GoJsonError, readValue, type JsonNode } from './go-json';
import { goJsonStringify, JsonMappingError, messageFromJson, messageToJson } from './json-mapping';
import { ServedMethodTypes, type MethodTypes } from './message-types';
import { GATEWAY_PREFIXES, routeOf } from './routes';

/** Options of {@link EtcdGateway}. */
export interface EtcdGatewayOptions {
  /** The gRPC server of the same port: its methods answer the routes. */
  server: Pick<GrpcServer, 'invoke' | 'services'>;
  /** Largest encoded request message, the port's gRPC receive limit (etcd: max-request-bytes + 512 KiB). */
  maxRequestMessageBytes: number;
  /** The etcd version statecar reports (Maintenance Status, `GET /version`). */
  version: string;
  /** Whether the engine serves requests, for `GET /health` (default: always). */
  healthy?: () => boolean;
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

/** The caller as the gRPC side sees it. */
type CallInfo = Required<Pick<InProcessOptions, 'metadata' | 'host' | 'peer'>> &
  Pick<InProcessOptions, 'timeoutMs'>;

/** The gateway: a node:http server fed connections by the protocol sniffer. */
export class EtcdGateway implements ConnectionSink {
  readonly server: http.Server;
  private readonly sockets = new Map<net.Socket, number>();
  private closing = false;
  private readonly maxBodyBytes: number;
  private readonly types: ServedMethodTypes;

  constructor(private readonly opts: EtcdGatewayOptions) {
    this.maxBodyBytes = opts.maxRequestMessageBytes * BODY_FACTOR;
    this.types = new ServedMethodTypes(() => opts.server.services());
    // No time limit on a whole request: a watch's body may stay open as long as the watch (etcd sets none either).
    // Idle keep-alive connections are kept 2 min (node's default is 5 s; etcd keeps them until the client closes):
    // Patroni's connection pool polls every loop_wait (10 s by default) and must not race a server-side close.
    this.server = http.createServer({ requestTimeout: 0 }, (req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = KEEP_ALIVE_MS;
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.set(socket, 0);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Take over an HTTP/1.1 connection. */
  acceptConnection(socket: net.Socket): void {
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
    const types = this.types.get(path);
    if (!types) {
      // Not served on this port: the gRPC server answers what it answers a gRPC client (UNIMPLEMENTED).
      this.opts.server.invoke(path, {}, { onMessage: () => true, onStatus: (s) => jsonError(res, s) });
      return;
    }
    const info = callInfo(req);
    if (typeof info === 'string') {
      return jsonError(res, { code: status.INVALID_ARGUMENT, details: `invalid grpc-timeout: ${info}` });
    }
    if (types.kind === 'unary' || types.kind === 'serverStream') {
      void this.serveSingleRequest(path, types, info, req, res);
    } else {
      this.serveStreamingRequest(path, types, info, req, res);
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
    path: string,
    types: MethodTypes,
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
    let request: unknown;
    try {
      const r = readValue(body, 0, true);
      request = this.toRequest(types, 'node' in r ? r.node : undefined);
    } catch (err) {
      return jsonError(res, mappingStatus(err));
    }
    const call = this.open(path, types, info, res);
    call?.write(request);
    call?.end();
  }

  /** Client- and bidi-streaming methods: the body is a sequence of JSON values, each one request. */
  private serveStreamingRequest(
    path: string,
    types: MethodTypes,
    info: CallInfo,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    let pending: Buffer = Buffer.alloc(0);
    let started = false;
    let call: InProcessCallHandle | undefined;
    let stopped = false;
    let bodyEnded = false;
    // The handler is not taking requests (its answers wait for a client that does not read them): the body is not
    // read meanwhile, so what the client sends waits in its own socket, not in the sidecar's memory.
    let blocked = false;
    const start = (): void => {
      started = true;
      call = this.open(path, types, info, res, () => {
        blocked = false;
        req.resume();
        take();
      });
    };
    const take = (): void => {
      const final = bodyEnded;
      while (!stopped && !blocked) {
        let r;
        let request: unknown;
        try {
          r = readValue(pending, 0, final);
          if ('incomplete' in r) {
            if (pending.length > this.maxBodyBytes) throw new BodyTooLarge();
            return;
          }
          if ('eof' in r) {
            // The client's half-close: the call goes on (a watch stays open), it just gets no more requests.
            if (!started) start();
            call?.end();
            stopped = true;
            return;
          }
          request = this.toRequest(types, r.node);
        } catch (err) {
          stopped = true;
          req.resume();
          if (started) {
            // A later request that cannot be read ends the request stream, as etcd's gateway stops sending.
            call?.end();
            return;
          }
          // etcd's gateway passes a streaming call's first decode error on as is, so it is code Unknown there.
          const tooLarge = err instanceof BodyTooLarge;
          if (tooLarge) res.setHeader('Connection', 'close');
          return jsonError(res, tooLarge ? this.bodyTooLarge() : mappingStatus(err, status.UNKNOWN));
        }
        pending = pending.subarray(r.end);
        if (!started) start();
        if (call && !call.write(request)) {
          blocked = true;
          req.pause();
        }
      }
    };
    req.on('data', (chunk: Buffer) => {
      if (stopped) return;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      take();
    });
    req.on('end', () => {
      bodyEnded = true;
      take();
    });
  }

  /** The request object: JSON → protobuf bytes (size-checked) → the method's own deserializer. */
  private toRequest(types: MethodTypes, node: JsonNode | undefined): unknown {
    const type = types.requestType;
    const bytes = type.encode(type.fromObject(node ? messageFromJson(type, node) : {})).finish();
    const max = this.opts.maxRequestMessageBytes;
    if (bytes.length > max) {
      throw new StatusFailure({
        code: status.RESOURCE_EXHAUSTED,
        // grpc-go's wording, as etcd's gateway relays it.
        details: `grpc: received message larger than max (${bytes.length} vs. ${max})`,
      });
    }
    return types.deserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  private bodyTooLarge(): CallStatus {
    return {
      code: status.RESOURCE_EXHAUSTED,
      details: `request body larger than ${this.maxBodyBytes} bytes (the message limit is ${this.opts.maxRequestMessageBytes} bytes)`,
    };
  }

  /**
   * Run the method, its answers written to `res`: one JSON object for unary calls, `{"result": ...}` lines for
   * streams. A stream's next answer waits until the response has taken the previous one (the handler's `write`
   * answers false meanwhile, so a watch pauses its watcher). Undefined when the call was refused at once.
   */
  private open(
    path: string,
    types: MethodTypes,
    info: CallInfo,
    res: http.ServerResponse,
    onWritable?: () => void,
  ): InProcessCallHandle | undefined {
    const streaming = types.kind === 'serverStream' || types.kind === 'bidi';
    const toJson = (value: unknown): string =>
      goJsonStringify(messageToJson(types.responseType, types.responseType.decode(types.serialize(value))));
    let started = false;
    let unaryBody = '{}';
    let failure: CallStatus | undefined;
    // Filled in once invoke returns; the sink may run before that (a call refused at once) and then needs none.
    const call: { handle?: InProcessCallHandle } = {};
    const finish = (s: CallStatus): void => {
      if (res.writableEnded) return;
      if (s.code === status.OK) {
        if (!streaming) {
          res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(unaryBody) });
          res.end(unaryBody);
          return;
        }
        if (!started) res.writeHead(200, { 'Content-Type': JSON_TYPE });
        res.end();
        return;
      }
      if (!streaming) return jsonError(res, s);
      if (!started) res.writeHead(httpStatusOfCode(s.code), { 'Content-Type': JSON_TYPE });
      res.end(streamErrorChunk(s));
    };
    call.handle = this.opts.server.invoke(path, info, {
      onWritable,
      onMessage: (value) => {
        let json: string;
        try {
          json = toJson(value);
        } catch (err) {
          failure = { code: status.INTERNAL, details: `failed to serialize response: ${String(err)}` };
          call.handle?.cancel();
          finish(failure);
          return false;
        }
        if (!streaming) {
          unaryBody = json;
          return true;
        }
        if (!started) {
          started = true;
          res.writeHead(200, { 'Content-Type': JSON_TYPE });
        }
        if (res.write(`{"result":${json}}\n`)) return true;
        res.once('drain', () => call.handle?.resume());
        return false;
      },
      // The deadline is the gateway's own context in etcd, so its expiry reads as Go's context error: a unary
      // call's status says DEADLINE_EXCEEDED, while a stream's Recv returns the bare error, which grpc-gateway
      // renders as UNKNOWN.
      onStatus: (s) => {
        const expired = s.code === DEADLINE_EXCEEDED.code && s.details === DEADLINE_EXCEEDED.details;
        const code = expired && streaming ? status.UNKNOWN : s.code;
        finish(failure ?? (expired ? { code, details: 'context deadline exceeded' } : s));
      },
    });
    // The client went away before the answer was complete: the handler is cancelled (a watch frees its watchers).
    res.once('close', () => {
      if (!res.writableFinished) call.handle?.cancel();
    });
    return call.handle;
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
function mappingStatus(err: unknown, code: number = status.INVALID_ARGUMENT): CallStatus {
  if (err instanceof StatusFailure) return err.status;
  if (err instanceof GoJsonError || err instanceof JsonMappingError) return { code, details: err.message };
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/**
 * The caller as a handler sees it: grpc-gateway's metadata from the HTTP headers, host, peer and the deadline of a
 * `Grpc-Timeout` header (grpc-gateway turns it into the call's deadline). A malformed header comes back as itself,
 * to be answered INVALID_ARGUMENT as grpc-gateway does.
 */
function callInfo(req: http.IncomingMessage): CallInfo | string {
  const timeoutHeader = req.headers['grpc-timeout'];
  let timeoutMs: number | undefined;
  if (typeof timeoutHeader === 'string' && timeoutHeader !== '') {
    const parsed = gatewayTimeoutMs(timeoutHeader);
    if (parsed === undefined) return timeoutHeader;
    timeoutMs = parsed <= MAX_TIMER_MS ? Math.max(parsed, 0) : undefined;
  }
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(req.headers)) {
    // grpc-gateway passes `Authorization` on as is and `Grpc-Metadata-<name>` as `<name>`; the Dapr token header
    // goes on too, for the port's token check.
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
    // The Host header, as `:authority` is on gRPC: the Cluster service lists `http://<host>` as the member's client
    // URL, which HTTP clients (Patroni) dial as well as gRPC ones.
    host,
    peer: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  };
}

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * A `Grpc-Timeout` header as grpc-gateway reads it: a signed decimal and one gRPC unit letter, looser than the gRPC
 * wire's 8 unsigned digits; a negative or zero value is a deadline already past.
 */
function gatewayTimeoutMs(value: string): number | undefined {
  const unit = TIMEOUT_UNIT_MS[value[value.length - 1]];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^[+-]?\d+$/.test(digits)) return undefined;
  return Number(digits) * unit;
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
