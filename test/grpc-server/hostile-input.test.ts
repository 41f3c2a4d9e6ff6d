/**
 * Hostile input to statecar's gRPC server over raw HTTP/2: truncated messages, lengths that lie, bad flags,
 * compression without an encoding, metadata floods, resets mid-message, and a seeded stream of random bodies. Every
 * request must end in a clean status or a stream reset, promptly, and the server must go on serving.
 */
import type http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { GrpcServer } from '../../src/api/grpc/server/grpc-server';
import { mulberry32 } from '../support/seeded-random';
import {
  connect,
  echo,
  frame,
  grpcHeaders,
  probeClient,
  rawRequest,
  startProbeServer,
  stopServer,
  type ProbeClient,
  type RawResult,
} from './support';

let handlerRuns = 0;
const impl: grpc.UntypedServiceImplementation = {
  Echo: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    handlerRuns++;
    cb(null, call.request);
  },
  Count: (call: grpc.ServerWritableStream<{ n?: number }, unknown>) => {
    const n = typeof call.request?.n === 'number' ? Math.min(call.request.n, 10) : 1;
    for (let i = 0; i < n; i++) call.write({ i });
    call.end();
  },
  Chat: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
    call.on('data', (m) => call.write(m));
    call.on('end', () => call.end());
  },
  Sum: (call: grpc.ServerReadableStream<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    let n = 0;
    call.on('data', () => n++);
    call.on('end', () => cb(null, { n }));
  },
};

let server: GrpcServer;
let port: number;
let client: ProbeClient;
let session: http2.ClientHttp2Session;

beforeAll(async () => {
  ({ server, port } = await startProbeServer(impl, { maxReceiveMessageLength: 64 * 1024 }));
  client = probeClient(port);
  session = await connect(port);
});

afterAll(async () => {
  session?.close();
  client?.close();
  if (server) await stopServer(server);
});

/** The request ended cleanly: a gRPC status, or a reset by the server; never a hang. */
function expectClean(r: RawResult): void {
  expect(r.timedOut).toBeUndefined();
  expect(r.status !== undefined || r.rstCode !== undefined).toBe(true);
}

/** The server still serves an ordinary call. */
async function expectServing(): Promise<void> {
  const r = await echo(client, { still: 'alive' });
  expect(r.err).toBeNull();
  expect(r.value).toEqual({ still: 'alive' });
}

function prefix(flag: number, length: number): Buffer {
  const p = Buffer.alloc(5);
  p[0] = flag;
  p.writeUInt32BE(length >>> 0, 1);
  return p;
}

const ECHO = grpcHeaders('/test.Probe/Echo');

describe('framing that lies', () => {
  test('a message cut short by END_STREAM: INTERNAL, handler never runs', async () => {
    const before = handlerRuns;
    for (const chunks of [
      [prefix(0, 100), Buffer.from('{"a":1')],
      [Buffer.from([0, 0, 0])],
      [prefix(0, 3)],
    ]) {
      const r = await rawRequest(session, ECHO, chunks);
      expect(r.status).toBe(grpc.status.INTERNAL);
      expect(r.message).toMatch(/unexpected EOF/);
    }
    expect(handlerRuns).toBe(before);
  });

  test('a length shorter than the bytes that follow: the rest is read as a second message and refused', async () => {
    const body = Buffer.from('{"a":"bcdef"}');
    const r = await rawRequest(session, ECHO, [Buffer.concat([prefix(0, 2), body])]);
    expect([grpc.status.INTERNAL, grpc.status.UNIMPLEMENTED]).toContain(r.status);
  });

  test('a length beyond the limit is refused as soon as it is read, before any body arrives', async () => {
    for (const length of [64 * 1024 + 1, 0x7fffffff, 0xffffffff]) {
      // The client never ends its side: the server's status and its RST_STREAM(NO_ERROR) end the stream.
      const r = await rawRequest(session, ECHO, [prefix(0, length)], { end: false, timeoutMs: 5000 });
      expect(r.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(r.timedOut).toBeUndefined();
    }
  });

  test('a flag other than 0 or 1, and a compressed flag without an encoding: INTERNAL', async () => {
    for (const flag of [1, 2, 255]) {
      const r = await rawRequest(session, ECHO, [frame('{}', flag)]);
      expect(r.status).toBe(grpc.status.INTERNAL);
    }
  });

  test('two messages to a unary method, and none: cardinality violation', async () => {
    const two = await rawRequest(session, ECHO, [frame('{}'), frame('{}')]);
    expect(two.status).toBe(grpc.status.UNIMPLEMENTED);
    const none = await rawRequest(session, ECHO, []);
    expect(none.status).toBe(grpc.status.UNIMPLEMENTED);
    const streamNone = await rawRequest(session, grpcHeaders('/test.Probe/Count'), []);
    expect(streamNone.status).toBe(grpc.status.UNIMPLEMENTED);
  });

  test('bytes that do not parse: INTERNAL', async () => {
    const r = await rawRequest(session, ECHO, [frame('not json')]);
    expect(r.status).toBe(grpc.status.INTERNAL);
    expect(r.message).toMatch(/^grpc: failed to unmarshal the received message/);
  });

  test('unknown encodings, whatever their spelling, are refused', async () => {
    for (const enc of ['snappy', 'GZIP', 'br', 'x'.repeat(200)]) {
      const r = await rawRequest(session, grpcHeaders('/test.Probe/Echo', { 'grpc-encoding': enc }), [
        frame('{}', 1),
      ]);
      expect(r.status).toBe(grpc.status.UNIMPLEMENTED);
    }
  });
});

describe('resets, floods and timeouts', () => {
  test('streams reset mid-message leave nothing behind', async () => {
    const before = handlerRuns;
    for (let i = 0; i < 20; i++) {
      const r = await rawRequest(session, ECHO, [prefix(0, 50), Buffer.from('{"half":')], { reset: true });
      expect(r.timedOut).toBeUndefined();
    }
    const chat = await rawRequest(
      session,
      grpcHeaders('/test.Probe/Chat'),
      [frame('{"a":1}'), prefix(0, 9)],
      {
        reset: true,
      },
    );
    expect(chat.timedOut).toBeUndefined();
    expect(handlerRuns).toBe(before);
    await expectServing();
  });

  test('a metadata flood is refused by the stream or connection, and the server goes on', async () => {
    const many: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i < 300; i++) many[`x-flood-${i}`] = 'v';
    const s = await connect(port);
    const r = await rawRequest(s, grpcHeaders('/test.Probe/Echo', many), [frame('{}')]);
    expectClean(r);
    expect(r.status === grpc.status.RESOURCE_EXHAUSTED || r.rstCode !== undefined).toBe(true);
    s.destroy();

    const big = await connect(port);
    big.on('error', () => undefined);
    const huge = await rawRequest(big, grpcHeaders('/test.Probe/Echo', { 'x-huge': 'h'.repeat(200_000) }), [
      frame('{}'),
    ]);
    expect(huge.timedOut).toBeUndefined();
    big.destroy();
    await expectServing();
  });

  test('malformed timeouts never hang a call', async () => {
    for (const t of ['', ' ', '1', 'S', '00000000000S', '1.5S', '１S', '1 S']) {
      const r = await rawRequest(session, grpcHeaders('/test.Probe/Echo', { 'grpc-timeout': t }), [
        frame('{}'),
      ]);
      expectClean(r);
    }
  });

  test('a zero timeout ends the call with DEADLINE_EXCEEDED at once', async () => {
    const r = await rawRequest(session, grpcHeaders('/test.Probe/Echo', { 'grpc-timeout': '0n' }), [
      frame('{}'),
    ]);
    expect(r.status).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});

describe('seeded random bodies', () => {
  const SEED = Number(process.env.GRPC_FUZZ_SEED ?? 0x5eed16);
  const ROUNDS = 150;

  test(`${ROUNDS} random bodies (seed ${SEED}) each end cleanly and the server keeps serving`, async () => {
    const next = mulberry32(SEED);
    const int = (n: number): number => Math.floor(next() * n);
    const paths = ['/test.Probe/Echo', '/test.Probe/Count', '/test.Probe/Chat', '/test.Probe/Sum'];
    const pieces = (): Buffer => {
      switch (int(5)) {
        case 0:
          return frame(JSON.stringify({ n: int(20), s: 'q'.repeat(int(100)) }), int(4) === 0 ? 1 : 0);
        case 1:
          return prefix(int(3), int(4) === 0 ? int(0xffffffff) : int(200));
        case 2:
          return Buffer.from(Array.from({ length: int(64) }, () => int(256)));
        case 3:
          return frame(Buffer.from(Array.from({ length: int(32) }, () => int(256))));
        default:
          return frame('{}');
      }
    };
    for (let round = 0; round < ROUNDS; round++) {
      const body = Buffer.concat(Array.from({ length: 1 + int(4) }, pieces));
      // Cut the body at random points: messages across and within DATA frames.
      const chunks: Buffer[] = [];
      let at = 0;
      while (at < body.length) {
        const n = 1 + int(Math.max(1, body.length - at));
        chunks.push(body.subarray(at, at + n));
        at += n;
      }
      const extra: http2.OutgoingHttpHeaders = {};
      if (int(6) === 0) extra['grpc-encoding'] = ['gzip', 'deflate', 'identity', 'zstd'][int(4)];
      if (int(6) === 0) extra['grpc-timeout'] = ['1S', '0m', 'xx', '99999999H'][int(4)];
      const r = await rawRequest(session, grpcHeaders(paths[int(paths.length)], extra), chunks, {
        reset: int(8) === 0,
        timeoutMs: 5000,
      });
      if (r.timedOut) throw new Error(`round ${round} (seed ${SEED}) hung`);
    }
    await expectServing();
  });
});
