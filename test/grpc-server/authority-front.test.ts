/**
 * The authority front of statecar's gRPC ports (src/api/grpc/authority-front.ts) at the frame level: it answers a
 * client's preface with SETTINGS of its own, so the client's acknowledgement of them must never reach the HTTP/2
 * server, which did not send them and would end the connection with GOAWAY(PROTOCOL_ERROR) — also when the front
 * hands a connection over before that acknowledgement arrived (a client slower than the front's time bound).
 */
import net from 'node:net';
import type { GrpcServer } from '../../src/api/grpc/server/grpc-server';
import { startProbeServer, stopServer } from './support';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const ACK = 0x1;

function frameBytes(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

interface Frame {
  type: number;
  flags: number;
  payload: Buffer;
}

/** A raw HTTP/2 client connection: send bytes, wait for frames the server sends. */
class RawConnection {
  readonly frames: Frame[] = [];
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3]!, flags: this.buf[4]!, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolve with the first frame (from index `from` on) matching `pred`; reject on close or after `ms`. */
  async next(pred: (f: Frame) => boolean, from = 0, ms = 15_000): Promise<number> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex((f, j) => j >= from && pred(f));
      if (i >= 0) return i;
      if (this.closed) throw new Error(`connection closed; frames: ${JSON.stringify(this.types())}`);
      if (Date.now() > end) throw new Error(`no such frame in time; frames: ${JSON.stringify(this.types())}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  types(): string[] {
    return this.frames.map((f) => `${f.type}/${f.flags}`);
  }
}

let server: GrpcServer;
let port: number;

beforeAll(async () => {
  ({ server, port } = await startProbeServer({}));
});
afterAll(async () => {
  await stopServer(server);
});

async function open(): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return new RawConnection(socket);
}

test("a client that acknowledges the front's SETTINGS only after the hand-over keeps its connection", async () => {
  const c = await open();
  try {
    c.socket.write(Buffer.concat([PREFACE, frameBytes(SETTINGS, 0, 0)]));
    // The front's SETTINGS first; the client does not answer them.
    const front = await c.next((f) => f.type === SETTINGS && !(f.flags & ACK));
    // The HTTP/2 server's own SETTINGS come once the front has given up waiting and handed the connection over.
    const real = await c.next((f) => f.type === SETTINGS && !(f.flags & ACK), front + 1);
    expect(real).toBeGreaterThan(front);
    // Now both acknowledgements, then a PING: the server must answer it, not end the connection.
    const opaque = Buffer.from('statecar');
    c.socket.write(
      Buffer.concat([
        frameBytes(SETTINGS, ACK, 0),
        frameBytes(SETTINGS, ACK, 0),
        frameBytes(PING, 0, 0, opaque),
      ]),
    );
    const pong = await c.next((f) => (f.type === PING && (f.flags & ACK) !== 0) || f.type === GOAWAY);
    expect(c.frames[pong]!.type).toBe(PING);
    expect(c.frames[pong]!.payload.equals(opaque)).toBe(true);
  } finally {
    c.socket.destroy();
  }
});

test('a client that acknowledges at once is handed over untouched and answered', async () => {
  const c = await open();
  try {
    c.socket.write(Buffer.concat([PREFACE, frameBytes(SETTINGS, 0, 0)]));
    await c.next((f) => f.type === SETTINGS && !(f.flags & ACK));
    const opaque = Buffer.from('ping-one');
    c.socket.write(Buffer.concat([frameBytes(SETTINGS, ACK, 0), frameBytes(PING, 0, 0, opaque)]));
    // The server's own SETTINGS arrive after the hand-over; acknowledge them as any client does.
    const real = await c.next((f) => f.type === SETTINGS && !(f.flags & ACK), 1);
    c.socket.write(frameBytes(SETTINGS, ACK, 0));
    const pong = await c.next((f) => (f.type === PING && (f.flags & ACK) !== 0) || f.type === GOAWAY, real);
    expect(c.frames[pong]!.type).toBe(PING);
    expect(c.frames[pong]!.payload.equals(opaque)).toBe(true);
  } finally {
    c.socket.destroy();
  }
});
