/**
 * A small test service for statecar's gRPC server (JSON messages, so tests can send any bytes), a grpc-js client
 * for it, and a raw HTTP/2 client that sends exactly the frames a test wants and reports what came back.
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { GrpcServer, type GrpcServerOptions } from '../../src/api/grpc/server/grpc-server';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')),
};

function method(
  name: string,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: `/test.Probe/${name}`,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  };
}

/** `test.Probe`: one method of each kind. */
export const PROBE_SERVICE: grpc.ServiceDefinition = {
  Echo: method('Echo', false, false),
  Count: method('Count', false, true),
  Chat: method('Chat', true, true),
  Sum: method('Sum', true, false),
};

/** A grpc-js client of {@link PROBE_SERVICE}. */
export type ProbeClient = grpc.Client & {
  Echo: (
    req: unknown,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: grpc.requestCallback<unknown>,
  ) => grpc.ClientUnaryCall;
  Count: (req: unknown, md?: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;
  Chat: (md?: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, unknown>;
  Sum: (cb: grpc.requestCallback<unknown>) => grpc.ClientWritableStream<unknown>;
};

const ProbeClientCtor = grpc.makeGenericClientConstructor(PROBE_SERVICE, 'Probe');

export function probeClient(port: number, options: grpc.ClientOptions = {}): ProbeClient {
  return new ProbeClientCtor(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
    options,
  ) as unknown as ProbeClient;
}

/** Unary Echo as a promise of [error, value, trailers]. */
export function echo(
  client: ProbeClient,
  req: unknown,
  md = new grpc.Metadata(),
  opts: grpc.CallOptions = {},
): Promise<{
  err: grpc.ServiceError | null;
  value: unknown;
  headers?: grpc.Metadata;
  trailers?: grpc.Metadata;
}> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let trailers: grpc.Metadata | undefined;
    let result: { err: grpc.ServiceError | null; value: unknown } | undefined;
    let done = false;
    const finish = (): void => {
      if (done || !result || !trailers) return;
      done = true;
      resolve({ ...result, headers, trailers });
    };
    const call = client.Echo(req, md, opts, (err, value) => {
      result = { err, value };
      if (err) trailers ??= err.metadata;
      finish();
    });
    call.on('metadata', (m) => (headers = m));
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
      finish();
    });
  });
}

/** Start a server with `impl` for the probe service; resolves with it and its port. */
export async function startProbeServer(
  impl: grpc.UntypedServiceImplementation,
  options: GrpcServerOptions = {},
): Promise<{ server: GrpcServer; port: number }> {
  const server = new GrpcServer(options);
  server.addService(PROBE_SERVICE, impl);
  const port = await server.listen('127.0.0.1', 0);
  return { server, port };
}

/** Stop a server, cutting what is left after a moment. */
export async function stopServer(server: GrpcServer): Promise<void> {
  await Promise.race([
    new Promise<void>((r) => server.tryShutdown(() => r())),
    new Promise<void>((r) => setTimeout(r, 500)),
  ]);
  server.forceShutdown();
}

/** A length-prefixed message. */
export function frame(payload: Buffer | string, flag = 0): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** What a raw request got back. */
export interface RawResult {
  /** Response headers (for Trailers-Only, also the status). */
  headers?: http2.IncomingHttpHeaders;
  trailers?: http2.IncomingHttpHeaders;
  body: Buffer;
  /** RST_STREAM code if the stream was reset. */
  rstCode?: number;
  /** True when the client gave up waiting (the server neither answered nor reset in time). */
  timedOut?: boolean;
  /** grpc-status from trailers or Trailers-Only headers. */
  status?: number;
  message?: string;
}

/** Open an HTTP/2 session to the server. */
export function connect(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Default gRPC request headers for `path`. */
export function grpcHeaders(path: string, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders {
  return { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra };
}

/**
 * Send one raw request: `chunks` are written one DATA write each (then END_STREAM unless `end` is false, or an
 * RST after them if `reset`); resolves when the stream closes.
 */
export function rawRequest(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  chunks: Buffer[],
  opts: { end?: boolean; reset?: boolean; timeoutMs?: number } = {},
): Promise<RawResult> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: false });
    const result: RawResult = { body: Buffer.alloc(0) };
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      result.timedOut = true;
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, opts.timeoutMs ?? 10_000);
    req.on('response', (h) => {
      result.headers = h;
      if (h['grpc-status'] !== undefined) {
        result.status = Number(h['grpc-status']);
        result.message = h['grpc-message'] as string | undefined;
      }
    });
    req.on('trailers', (t) => {
      result.trailers = t;
      result.status = Number(t['grpc-status']);
      result.message = t['grpc-message'] as string | undefined;
    });
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('error', () => undefined);
    req.on('close', () => {
      clearTimeout(timer);
      result.body = Buffer.concat(parts);
      if (req.rstCode !== undefined && req.rstCode !== 0) result.rstCode = req.rstCode;
      resolve(result);
    });
    for (const c of chunks) req.write(c);
    if (opts.reset) req.close(http2.constants.NGHTTP2_CANCEL);
    else if (opts.end !== false) req.end();
  });
}

/** Resolve when `pred()` holds, polling; reject after `ms`. */
export async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
