/**
 * statecar's gRPC server, one protocol feature per test, against grpc-js clients and raw HTTP/2 frames over real
 * sockets: call kinds, metadata, deadlines, cancellation, size limits, compression, rich status details,
 * keep-alive pings, graceful GOAWAY, backpressure, grpc-go's answers to requests it cannot serve, and calls run
 * without HTTP/2.
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { decodeStatus, encodeStatus } from '../../src/api/grpc/rich-status';
import type { CallStatus } from '../../src/api/grpc/server/call-status';
import type { GrpcServer } from '../../src/api/grpc/server/grpc-server';
import {
  connect,
  echo,
  frame,
  grpcHeaders,
  probeClient,
  rawRequest,
  startProbeServer,
  stopServer,
  until,
  type ProbeClient,
} from './support';

interface EchoRequest {
  mode?: string;
  id?: string;
  size?: number;
  [k: string]: unknown;
}

/** What the handlers saw, by request id. */
const seen = new Map<
  string,
  { cancelled?: boolean; flag?: boolean; metadata?: grpc.Metadata; deadline?: grpc.Deadline }
>();
const releases = new Map<string, () => void>();
const flood = { written: 0, falses: 0, done: false };

const impl: grpc.UntypedServiceImplementation = {
  Echo: (call: grpc.ServerUnaryCall<EchoRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    const req = call.request;
    const id = req.id ?? '';
    const entry: { cancelled?: boolean; flag?: boolean; metadata?: grpc.Metadata; deadline?: grpc.Deadline } =
      {
        metadata: call.metadata,
        deadline: call.getDeadline(),
      };
    seen.set(id, entry);
    call.on('cancelled', () => {
      entry.cancelled = true;
      entry.flag = call.cancelled;
    });
    switch (req.mode) {
      case 'hang':
        return;
      case 'slow':
        releases.set(id, () => cb(null, { ok: id }));
        return;
      case 'metadata': {
        const h = new grpc.Metadata();
        h.set('x-header', 'h');
        h.set('x-header-bin', Buffer.from([9, 8, 7]));
        call.sendMetadata(h);
        const t = new grpc.Metadata();
        t.set('x-trailer', 't');
        cb(null, { peer: call.getPeer() }, t);
        return;
      }
      case 'details': {
        const md = new grpc.Metadata();
        md.set(
          'grpc-status-details-bin',
          encodeStatus(grpc.status.FAILED_PRECONDITION, 'no 100% luck', [
            { type: 'ErrorInfo', reason: 'WHY', domain: 'statecar.test', metadata: { k: 'v' } },
          ]),
        );
        cb({ code: grpc.status.FAILED_PRECONDITION, details: 'no 100% luck', metadata: md });
        return;
      }
      case 'big':
        cb(null, { data: 'x'.repeat(req.size ?? 0) });
        return;
      case 'throw':
        throw new Error('boom');
      default:
        cb(null, req);
    }
  },
  Count: (
    call: grpc.ServerWritableStream<{ n: number; size?: number; mode?: string; id?: string }, unknown>,
  ) => {
    const { n, size = 10, mode, id = '' } = call.request;
    const entry: { cancelled?: boolean } = {};
    seen.set(id, entry);
    call.on('cancelled', () => (entry.cancelled = true));
    if (mode === 'flood') {
      flood.written = 0;
      flood.falses = 0;
      flood.done = false;
      const payload = 'y'.repeat(size);
      const pump = (): void => {
        while (flood.written < n) {
          flood.written++;
          if (!call.write({ i: flood.written, payload })) {
            flood.falses++;
            call.once('drain', pump);
            return;
          }
        }
        flood.done = true;
        call.end();
      };
      pump();
      return;
    }
    if (mode === 'hang') return;
    for (let i = 0; i < n; i++) call.write({ i });
    call.end();
  },
  Chat: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
    call.on('data', (m: { fail?: boolean }) => {
      if (m.fail) call.emit('error', { code: grpc.status.ABORTED, details: 'asked to fail' });
      else call.write(m);
    });
    call.on('end', () => call.end());
  },
  Sum: (call: grpc.ServerReadableStream<{ n: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    let sum = 0;
    call.on('data', (m: { n: number }) => (sum += m.n));
    call.on('end', () => cb(null, { sum }));
  },
};

let server: GrpcServer;
let port: number;
let client: ProbeClient;

beforeAll(async () => {
  ({ server, port } = await startProbeServer(impl, {
    maxReceiveMessageLength: 4096,
    maxSendMessageLength: 8192,
  }));
  client = probeClient(port);
});

afterAll(async () => {
  client?.close();
  if (server) await stopServer(server);
});

describe('call kinds and metadata', () => {
  test('unary: request metadata (text and -bin) reaches the handler; headers and trailers come back', async () => {
    const md = new grpc.Metadata();
    md.set('x-text', 'hello');
    md.add('x-multi', 'a');
    md.add('x-multi', 'b, c');
    md.set('x-raw-bin', Buffer.from([0, 1, 2, 255]));
    const r = await echo(client, { id: 'md', mode: 'metadata' }, md);
    expect(r.err).toBeNull();
    expect((r.value as { peer: string }).peer).toMatch(/^127\.0\.0\.1:\d+$/);
    const got = seen.get('md')!.metadata!;
    expect(got.get('x-text')).toEqual(['hello']);
    expect(got.get('x-multi')).toEqual(['a', 'b, c']);
    expect(got.get('x-raw-bin')).toEqual([Buffer.from([0, 1, 2, 255])]);
    // Transport headers are not metadata.
    expect(got.get('grpc-timeout')).toEqual([]);
    expect(got.get('content-type')).toEqual([]);
    expect(r.headers!.get('x-header')).toEqual(['h']);
    expect(r.headers!.get('x-header-bin')).toEqual([Buffer.from([9, 8, 7])]);
    expect(r.trailers!.get('x-trailer')).toEqual(['t']);
  });

  test('server streaming, client streaming and bidi', async () => {
    const got: unknown[] = [];
    const s = client.Count({ n: 5 });
    s.on('data', (m) => got.push(m));
    await once(s, 'end');
    expect(got).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));

    const sum = await new Promise<unknown>((resolve, reject) => {
      const w = client.Sum((err, v) => (err ? reject(err) : resolve(v)));
      for (const n of [1, 2, 3, 4]) w.write({ n });
      w.end();
    });
    expect(sum).toEqual({ sum: 10 });

    const chat = client.Chat();
    const echoed: unknown[] = [];
    chat.on('data', (m) => echoed.push(m));
    chat.write({ a: 1 });
    chat.write({ b: 2 });
    chat.end();
    await once(chat, 'end');
    expect(echoed).toEqual([{ a: 1 }, { b: 2 }]);
  });

  test("a stream failed with emit('error', status) ends with that status", async () => {
    const chat = client.Chat();
    chat.write({ fail: true });
    const [err] = (await once(chat, 'error')) as [grpc.ServiceError];
    expect(err.code).toBe(grpc.status.ABORTED);
    expect(err.details).toBe('asked to fail');
  });

  test('a handler that throws gives UNKNOWN', async () => {
    const r = await echo(client, { mode: 'throw' });
    expect(r.err?.code).toBe(grpc.status.UNKNOWN);
  });
});

describe('deadlines and cancellation', () => {
  test('a deadline that passes gives DEADLINE_EXCEEDED and stops the handler', async () => {
    const r = await echo(client, { id: 'dl', mode: 'hang' }, new grpc.Metadata(), {
      deadline: Date.now() + 300,
    });
    expect(r.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until(() => seen.get('dl')?.cancelled === true);
    expect(seen.get('dl')!.flag).toBe(true);
    const d = seen.get('dl')!.deadline;
    expect(d instanceof Date).toBe(true);
  });

  test('the server ends an expired call itself, even if the client does not', async () => {
    const s = await connect(port);
    try {
      const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-timeout': '200m' }), [
        frame(JSON.stringify({ id: 'dl-raw', mode: 'hang' })),
      ]);
      expect(r.status).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(seen.get('dl-raw')!.cancelled).toBe(true);
    } finally {
      s.close();
    }
  });

  test('a client cancel reaches unary and streaming handlers', async () => {
    const call = client.Echo({ id: 'cx', mode: 'hang' }, new grpc.Metadata(), {}, () => undefined);
    await until(() => seen.has('cx'));
    call.cancel();
    await until(() => seen.get('cx')!.cancelled === true);

    const stream = client.Count({ n: 0, mode: 'hang', id: 'cx-stream' });
    stream.on('error', () => undefined);
    await until(() => seen.has('cx-stream'));
    stream.cancel();
    await until(() => seen.get('cx-stream')!.cancelled === true);
  });
});

describe('limits and compression', () => {
  test('a request over the receive limit gives RESOURCE_EXHAUSTED before the handler runs', async () => {
    const r = await echo(client, { id: 'too-big', pad: 'z'.repeat(5000) });
    expect(r.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(r.err?.details).toMatch(/larger than max \(\d+ vs\. 4096\)/);
    expect(seen.has('too-big')).toBe(false);
  });

  test('a response over the send limit gives RESOURCE_EXHAUSTED', async () => {
    const r = await echo(client, { mode: 'big', size: 9000 });
    expect(r.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  test('gzip-compressed requests from grpc-js are served', async () => {
    const gz = probeClient(port, { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip });
    try {
      const r = await echo(gz, { id: 'gz', text: 'compress me '.repeat(50) });
      expect(r.err).toBeNull();
      expect((r.value as { text: string }).text).toBe('compress me '.repeat(50));
    } finally {
      gz.close();
    }
  });

  test('gzip and deflate messages on the wire are decoded; bombs stop at the limit', async () => {
    const s = await connect(port);
    try {
      const body = JSON.stringify({ v: 'raw' });
      const g = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-encoding': 'gzip' }), [
        frame(zlib.gzipSync(body), 1),
      ]);
      expect(g.status).toBe(0);
      expect(g.body.subarray(5).toString()).toBe(body);
      const d = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-encoding': 'deflate' }), [
        frame(zlib.deflateSync(body), 1),
      ]);
      expect(d.status).toBe(0);
      const bomb = zlib.gzipSync(Buffer.alloc(3 * 1024 * 1024, 32));
      expect(bomb.length).toBeLessThan(4096);
      const b = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-encoding': 'gzip' }), [
        frame(bomb, 1),
      ]);
      expect(b.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(b.message).toMatch(/after decompression larger than max 4096/);
      const corrupt = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-encoding': 'gzip' }), [
        frame(Buffer.from('not gzip at all'), 1),
      ]);
      expect(corrupt.status).toBe(grpc.status.INTERNAL);
    } finally {
      s.close();
    }
  });
});

describe('status', () => {
  test('grpc-status-details-bin decodes in grpc-js, code and message matching the status', async () => {
    const r = await echo(client, { mode: 'details' });
    expect(r.err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(r.err?.details).toBe('no 100% luck');
    const [bin] = r.err!.metadata.get('grpc-status-details-bin') as Buffer[];
    const decoded = decodeStatus(bin);
    expect(decoded.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(decoded.message).toBe('no 100% luck');
    expect(decoded.details[0]).toMatchObject({ reason: 'WHY', domain: 'statecar.test' });
  });

  test('grpc-message is percent-encoded as grpc-go writes it', async () => {
    const s = await connect(port);
    try {
      const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo'), [
        frame(JSON.stringify({ mode: 'details' })),
      ]);
      expect(r.message).toBe('no 100%25 luck');
    } finally {
      s.close();
    }
  });
});

describe('connection management', () => {
  test('pings are answered', async () => {
    const s = await connect(port);
    try {
      for (let i = 0; i < 3; i++) {
        const ack = await new Promise<boolean>((resolve) => s.ping((err) => resolve(!err)));
        expect(ack).toBe(true);
      }
      const r = await echo(client, { after: 'pings' });
      expect(r.err).toBeNull();
    } finally {
      s.close();
    }
  });

  test('a ping flood gets GOAWAY(ENHANCE_YOUR_CALM, too_many_pings); spaced pings do not', async () => {
    const strict = await startProbeServer(impl, {
      keepalive: { minPingIntervalMs: 60_000, maxPingStrikes: 2 },
    });
    const relaxed = await startProbeServer(impl, { keepalive: { minPingIntervalMs: 50, maxPingStrikes: 2 } });
    try {
      const s = await connect(strict.port);
      const goaway = once(s, 'goaway') as Promise<[number, number, Buffer]>;
      for (let i = 0; i < 5; i++) s.ping(() => undefined);
      const [code, , data] = await goaway;
      expect(code).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      expect(data.toString()).toBe('too_many_pings');
      s.destroy();

      const ok = await connect(relaxed.port);
      let away = false;
      ok.on('goaway', () => (away = true));
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => ok.ping(r));
        await new Promise((r) => setTimeout(r, 120));
      }
      expect(away).toBe(false);
      ok.close();
    } finally {
      await stopServer(strict.server);
      await stopServer(relaxed.server);
    }
  });

  test('graceful shutdown sends GOAWAY and drains the calls in flight', async () => {
    const own = await startProbeServer(impl);
    const c = probeClient(own.port);
    try {
      const inFlight = echo(c, { id: 'drain', mode: 'slow' });
      await until(() => releases.has('drain'));
      const session = await connect(own.port);
      const goaway = once(session, 'goaway');
      let stopped = false;
      own.server.tryShutdown(() => (stopped = true));
      await goaway;
      expect(stopped).toBe(false);
      releases.get('drain')!();
      const r = await inFlight;
      expect(r.err).toBeNull();
      expect(r.value).toEqual({ ok: 'drain' });
      session.destroy();
      c.close();
      await until(() => stopped);
    } finally {
      c.close();
      own.server.forceShutdown();
    }
  });
});

describe('backpressure', () => {
  test('a server stream to a client that does not read stops at write() === false, then finishes', async () => {
    const s = await connect(port);
    try {
      const req = s.request(grpcHeaders('/test.Probe/Count'));
      req.pause();
      req.end(frame(JSON.stringify({ n: 3000, size: 1000, mode: 'flood' })));
      await until(() => flood.falses > 0);
      // The peer's window is 64 KiB; nothing more may leave the handler until the client reads.
      await new Promise((r) => setTimeout(r, 300));
      const stalledAt = flood.written;
      expect(stalledAt).toBeLessThan(300);
      expect(flood.done).toBe(false);
      let bytes = 0;
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.resume();
      const [trailers] = (await once(req, 'trailers')) as [http2.IncomingHttpHeaders];
      expect(trailers['grpc-status']).toBe('0');
      expect(flood.done).toBe(true);
      expect(bytes).toBeGreaterThan(3000 * 1000);
    } finally {
      s.close();
    }
  });
});

describe("requests the server cannot serve, answered as grpc-go's server does", () => {
  let s: http2.ClientHttp2Session;
  beforeAll(async () => (s = await connect(port)));
  afterAll(() => s?.close());

  const msg = frame(JSON.stringify({}));

  test('unknown service, unknown method, malformed path: UNIMPLEMENTED, Trailers-Only', async () => {
    const svc = await rawRequest(s, grpcHeaders('/nope.Svc/Get'), [msg]);
    expect(svc.status).toBe(grpc.status.UNIMPLEMENTED);
    expect(svc.message).toBe('unknown service nope.Svc');
    expect(svc.trailers).toBeUndefined();
    expect(svc.headers!['content-type']).toBe('application/grpc');
    const m = await rawRequest(s, grpcHeaders('/test.Probe/Nope'), [msg]);
    expect(m.message).toBe('unknown method Nope for service test.Probe');
    const bad = await rawRequest(s, grpcHeaders('/nopath'), [msg]);
    expect(bad.status).toBe(grpc.status.UNIMPLEMENTED);
    expect(bad.message).toBe('malformed method name: "/nopath"');
  });

  test('a grpc-js client calling an unknown method gets UNIMPLEMENTED', async () => {
    const Other = grpc.makeGenericClientConstructor(
      {
        X: {
          ...Object.values(await import('./support').then((m) => m.PROBE_SERVICE))[0],
          path: '/test.Probe/X',
        },
      },
      'Other',
    );
    const o = new Other(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
      X: (r: unknown, cb: (e: grpc.ServiceError | null) => void) => void;
      close(): void;
    };
    const err = await new Promise<grpc.ServiceError | null>((resolve) => o.X({}, resolve));
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    o.close();
  });

  test('a content type other than application/grpc: HTTP 415', async () => {
    const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'content-type': 'text/plain' }), [msg]);
    expect(r.headers![':status']).toBe(415);
    expect(r.status).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.message).toBe('invalid gRPC request content-type "text/plain"');
    const proto = await rawRequest(
      s,
      grpcHeaders('/test.Probe/Echo', { 'content-type': 'application/grpc+proto' }),
      [msg],
    );
    expect(proto.status).toBe(0);
    expect(proto.headers!['content-type']).toBe('application/grpc+proto');
  });

  test('GET: HTTP 405 with INTERNAL', async () => {
    const r = await rawRequest(s, { ...grpcHeaders('/test.Probe/Echo'), ':method': 'GET' }, [], {
      end: true,
    });
    expect(r.headers![':status']).toBe(405);
    expect(r.status).toBe(grpc.status.INTERNAL);
  });

  test('malformed grpc-timeout: HTTP 400 with INTERNAL; valid units accepted', async () => {
    for (const bad of ['abc', '5', '123456789S', '1x', '-5S']) {
      const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-timeout': bad }), [msg]);
      expect([r.headers![':status'], r.status]).toEqual([400, grpc.status.INTERNAL]);
      expect(r.message).toMatch(/^malformed grpc-timeout: /);
    }
    for (const good of ['1H', '2M', '10S', '5000m', '4992424u', '99999999n']) {
      const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-timeout': good }), [msg]);
      expect(r.status).toBe(0);
    }
  });

  test('unsupported grpc-encoding: UNIMPLEMENTED listing what is supported', async () => {
    const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo', { 'grpc-encoding': 'snappy' }), [msg]);
    expect(r.status).toBe(grpc.status.UNIMPLEMENTED);
    expect(r.headers!['grpc-accept-encoding']).toBe('identity,deflate,gzip');
    expect(String(r.headers!['grpc-accept-encoding'])).not.toContain('snappy');
  });

  test('compressed flag without an encoding: INTERNAL', async () => {
    const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo'), [frame(JSON.stringify({}), 1)]);
    expect(r.status).toBe(grpc.status.INTERNAL);
    expect(r.message).toBe('grpc: compressed flag set with identity or empty encoding');
  });
});

describe('calls without HTTP/2', () => {
  test('invoke runs unary and streaming handlers with the same call objects', async () => {
    const unary = await new Promise<{ values: unknown[]; status: CallStatus }>((resolve) => {
      const values: unknown[] = [];
      const h = server.invoke(
        '/test.Probe/Echo',
        {},
        {
          onMessage: (v) => void values.push(v),
          onStatus: (st) => resolve({ values, status: st }),
        },
      );
      h!.write({ hello: 'gateway' });
      h!.end();
    });
    expect(unary.status.code).toBe(0);
    expect(unary.values).toEqual([{ hello: 'gateway' }]);

    let held = false;
    const streamed = await new Promise<{ values: unknown[]; status: CallStatus }>((resolve) => {
      const values: unknown[] = [];
      const h = server.invoke(
        '/test.Probe/Count',
        {},
        {
          onMessage: (v) => {
            values.push(v);
            if (values.length === 2 && !held) {
              held = true;
              setTimeout(() => h!.resume(), 20);
              return false;
            }
            return true;
          },
          onStatus: (st) => resolve({ values, status: st }),
        },
      );
      h!.write({ n: 4 });
      h!.end();
    });
    expect(streamed.status.code).toBe(0);
    expect(streamed.values).toEqual([0, 1, 2, 3].map((i) => ({ i })));

    const unknown = await new Promise<CallStatus>((resolve) =>
      server.invoke('/test.Probe/Missing', {}, { onMessage: () => undefined, onStatus: resolve }),
    );
    expect(unknown.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});
