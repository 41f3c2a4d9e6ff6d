/**
 * A front for statecar's gRPC ports that lets through one HTTP/2 request Node refuses: a `:authority` that is a
 * whole URL (`http://127.0.0.1:50001`).
 *
 * etcd lists its members' client URLs with their scheme (`Cluster.MemberList`, docs/etcd-semantics.md#response-
 * headers-and-status), and so does statecar. etcd 3.4's Go client, when it dials a member URL itself (`etcdctl
 * endpoint status --cluster`), sends that URL as the authority; Go's servers take it, while nghttp2 (under
 * node:http2, and so under grpc-js) resets every such stream with PROTOCOL_ERROR.
 *
 * The front reads a connection's first header block. Go clients send nothing but their preface before they have
 * the server's, so the front answers the preface with an empty SETTINGS frame of its own, and takes the client's
 * acknowledgement of it out of the stream (the real server, which sends its own SETTINGS once it has the
 * connection, must not see an acknowledgement it did not ask for). Nearly every connection has a plain `host:port`
 * authority and is then handed over untouched, the bytes read so far put back, so the HTTP/2 server reads the
 * socket directly from then on. A connection whose authority is a URL is passed through a rewriter instead, for its
 * whole life: each header block from the client is decoded (HPACK, the `hpack.js` package), its authority cut to
 * `host:port`, and encoded again; every other frame, and everything the server sends, passes as it is. A connection
 * handed over before the client acknowledged the front's SETTINGS (it did not answer within the time or byte bound,
 * or the server is shutting down) passes through the same filter, which then only takes that acknowledgement out.
 */
import type net from 'node:net';
import { Duplex } from 'node:stream';
import hpack from 'hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const FLAG_ACK = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** HTTP/2's default SETTINGS_HEADER_TABLE_SIZE and SETTINGS_MAX_FRAME_SIZE, which Node's server keeps. */
const HEADER_TABLE_SIZE = 4096;
const MAX_FRAME_SIZE = 16_384;
/**
 * Past this many bytes, or this long, without a complete first header block, the connection is handed over. The
 * byte bound is above HTTP/2's initial connection window (65,535 bytes of DATA): a client that sends a large first
 * message before it has read the front's SETTINGS must stop there, so its acknowledgement comes within the bound.
 */
const MAX_SNIFF_BYTES = 256 * 1024;
const MAX_SNIFF_MS = 500;
/** The front's own server preface: an empty SETTINGS frame (every setting at its default). */
const FRONT_SETTINGS = Buffer.from([0, 0, 0, TYPE_SETTINGS, 0, 0, 0, 0, 0]);

/** `http://host:port/...` → `host:port`; an authority that is not a URL is returned unchanged. */
export function authorityOfUrl(authority: string): string {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]+)/.exec(authority);
  return m ? m[1]! : authority;
}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** Reads HTTP/2 frames out of a byte stream. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** Bytes not yet taken by {@link next}. */
  rest(): Buffer {
    return this.buf;
  }

  next(): Frame | undefined {
    if (this.buf.length < FRAME_HEADER_BYTES) return undefined;
    const len = this.buf.readUIntBE(0, 3);
    if (this.buf.length < FRAME_HEADER_BYTES + len) return undefined;
    const frame = {
      type: this.buf[3]!,
      flags: this.buf[4]!,
      stream: this.buf.readUInt32BE(5) & 0x7fffffff,
      payload: this.buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len),
    };
    this.buf = this.buf.subarray(FRAME_HEADER_BYTES + len);
    return frame;
  }
}

function frameBytes(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** The header block fragment of a HEADERS frame: padding and priority fields removed. */
function headerFragment(f: Frame): Buffer {
  let p = f.payload;
  let pad = 0;
  if (f.flags & FLAG_PADDED) {
    pad = p[0] ?? 0;
    p = p.subarray(1);
  }
  if (f.flags & FLAG_PRIORITY) p = p.subarray(5);
  return p.subarray(0, Math.max(0, p.length - pad));
}

/** Decodes one connection's header blocks from the client, in order (the HPACK table spans the connection). */
class HeaderDecoder {
  private readonly decomp = hpack.decompressor.create({ table: { size: HEADER_TABLE_SIZE } });

  decode(block: Buffer): hpack.Header[] {
    this.decomp.write(block);
    this.decomp.execute();
    const out: hpack.Header[] = [];
    for (
      let h = this.decomp.read() as hpack.Header | null;
      h !== null;
      h = this.decomp.read() as hpack.Header | null
    ) {
      out.push(h);
    }
    return out;
  }
}

/** Gathers a header block over HEADERS + CONTINUATION frames. */
class BlockCollector {
  private pending: { first: Frame; parts: Buffer[] } | undefined;

  /** No block half-read (a HEADERS frame without its CONTINUATIONs). */
  idle(): boolean {
    return this.pending === undefined;
  }

  /** A complete block (with its HEADERS frame), or undefined while CONTINUATION frames are awaited. */
  add(f: Frame): { first: Frame; block: Buffer } | undefined {
    if (f.type === TYPE_HEADERS) this.pending = { first: f, parts: [headerFragment(f)] };
    else this.pending?.parts.push(f.payload);
    if (!(f.flags & FLAG_END_HEADERS) || !this.pending) return undefined;
    const done = { first: this.pending.first, block: Buffer.concat(this.pending.parts) };
    this.pending = undefined;
    return done;
  }
}

/**
 * The client half of a connection the front keeps filtering after the hand-over; frames in, frames out. It rewrites
 * URL authorities (`rewrite`), and takes out the acknowledgement of the front's SETTINGS when the client had not
 * sent it yet at the hand-over (`dropAck`): the server must never see an acknowledgement it did not ask for, which
 * nghttp2 answers with GOAWAY(PROTOCOL_ERROR).
 */
class AuthorityRewriter {
  private readonly frames = new FrameReader();
  private readonly blocks = new BlockCollector();
  private readonly comp = hpack.compressor.create({ table: { size: HEADER_TABLE_SIZE } });
  private prefaceLeft = PREFACE.length;

  constructor(
    private readonly decoder: HeaderDecoder,
    private readonly rewrite: boolean,
    private dropAck: boolean,
  ) {}

  /** Rewrite the client bytes `chunk`; returns what to pass on now. */
  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, chunk.length);
      out.push(chunk.subarray(0, n));
      this.prefaceLeft -= n;
      chunk = chunk.subarray(n);
    }
    this.frames.push(chunk);
    for (let f = this.frames.next(); f; f = this.frames.next()) {
      if (this.dropAck && f.type === TYPE_SETTINGS && f.flags & FLAG_ACK) {
        this.dropAck = false;
        continue;
      }
      if (!this.rewrite || (f.type !== TYPE_HEADERS && f.type !== TYPE_CONTINUATION)) {
        out.push(frameBytes(f.type, f.flags, f.stream, f.payload));
        continue;
      }
      const done = this.blocks.add(f);
      if (done) out.push(this.reencode(done.first, this.decoder.decode(done.block)));
    }
    return Buffer.concat(out);
  }

  private reencode(first: Frame, headers: hpack.Header[]): Buffer {
    const fixed = headers.map((h) =>
      h.name === ':authority' ? { ...h, value: authorityOfUrl(h.value) } : h,
    );
    this.comp.write(fixed);
    const parts: Buffer[] = [];
    for (let b = this.comp.read() as Buffer | null; b !== null; b = this.comp.read() as Buffer | null)
      parts.push(b);
    const block = Buffer.concat(parts);
    const out: Buffer[] = [];
    for (let at = 0; at === 0 || at < block.length; at += MAX_FRAME_SIZE) {
      const piece = block.subarray(at, at + MAX_FRAME_SIZE);
      const last = at + MAX_FRAME_SIZE >= block.length;
      const type = at === 0 ? TYPE_HEADERS : TYPE_CONTINUATION;
      const flags = (at === 0 ? first.flags & FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0);
      out.push(frameBytes(type, flags, first.stream, piece));
    }
    return Buffer.concat(out);
  }
}

/** A duplex over `socket` whose client-to-server bytes go through `rewriter` (the server's answers pass as-is). */
function rewritingStream(socket: net.Socket, rewriter: AuthorityRewriter, already: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  const forward = (chunk: Buffer): void => {
    let out: Buffer;
    try {
      out = rewriter.push(chunk);
    } catch {
      // Bytes the rewriter cannot follow (a broken header block): the connection is beyond repair.
      stream.destroy();
      return;
    }
    if (out.length > 0 && !stream.push(out)) socket.pause();
  };
  forward(already);
  socket.on('data', forward);
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  socket.on('error', () => stream.destroy());
  return stream;
}

/** Frames a client sends while setting the connection up, before it asks anything. */
const SETUP_FRAMES = new Set([TYPE_SETTINGS, 0x8 /* WINDOW_UPDATE */, 0x2 /* PRIORITY */]);
/** After the acknowledgement, how long to wait for a first header block before handing the connection over. */
const GRACE_MS = 50;

/** The front of one server: accepts sockets, hands connections on. */
export interface AuthorityFront {
  /** The `connection` listener for a net.Server. */
  accept(socket: net.Socket): void;
  /** Hand over every connection still being read at once (the server is shutting down and must see them all). */
  flush(): void;
}

/**
 * Read the start of each connection and hand it to `deliver`: the socket itself, with what was read put back, or
 * a rewriting stream when the client's authority is a URL. A connection is handed over as soon as the first header
 * block is read, or once the client has acknowledged the front's SETTINGS and then sends anything but set-up frames
 * (a PING) or nothing for a moment: the front never holds a connection longer than a client would notice.
 */
export function authorityFront(deliver: (connection: Duplex) => void): AuthorityFront {
  const pending = new Set<() => void>();
  const accept = (socket: net.Socket): void => {
    let seen: Buffer = Buffer.alloc(0);
    /** What to hand over if the sniff ends now: `seen` without the acknowledgement of FRONT_SETTINGS. */
    let passOn: Buffer = seen;
    let greeted = false;
    /** The client has acknowledged FRONT_SETTINGS (and the acknowledgement is out of `passOn`). */
    let ackSeen = false;
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const handOver = (rewrite: boolean, bytes: Buffer): void => {
      if (done) return;
      done = true;
      pending.delete(flushOne);
      clearTimeout(timer);
      clearTimeout(grace);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      const ackDue = greeted && !ackSeen;
      if (rewrite || ackDue) {
        // The rewriter reads the connection from its first byte, with its own HPACK state. A connection handed
        // over before its acknowledgement arrived (a slow client, a shutdown) goes through it too, for that alone.
        const rewriter = new AuthorityRewriter(new HeaderDecoder(), rewrite, ackDue);
        deliver(rewritingStream(socket, rewriter, bytes));
        return;
      }
      socket.pause();
      socket.unshift(bytes);
      deliver(socket);
    };
    const flushOne = (): void => handOver(false, passOn);
    const onError = (): void => {
      done = true;
      pending.delete(flushOne);
      clearTimeout(timer);
      clearTimeout(grace);
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      passOn = seen;
      const head = seen.subarray(0, PREFACE.length);
      // Not HTTP/2 with prior knowledge: the server gives its own answer.
      if (!PREFACE.subarray(0, head.length).equals(head)) return handOver(false, seen);
      if (seen.length < PREFACE.length) return;
      if (!greeted) {
        greeted = true;
        socket.write(FRONT_SETTINGS);
      }
      // The sniff is short: parse what has arrived from the start each time.
      const frames = new FrameReader();
      frames.push(seen.subarray(PREFACE.length));
      const kept: Buffer[] = [PREFACE];
      const blocks = new BlockCollector();
      let acked = false;
      let asked = false;
      let authority: string | undefined;
      for (let f = frames.next(); f; f = frames.next()) {
        if (!acked && f.type === TYPE_SETTINGS && f.flags & FLAG_ACK) {
          acked = true; // the acknowledgement of FRONT_SETTINGS: not passed on
          continue;
        }
        kept.push(frameBytes(f.type, f.flags, f.stream, f.payload));
        if (!SETUP_FRAMES.has(f.type)) asked = true;
        if (authority !== undefined || (f.type !== TYPE_HEADERS && f.type !== TYPE_CONTINUATION)) continue;
        const block = blocks.add(f);
        if (!block) continue;
        try {
          authority =
            new HeaderDecoder().decode(block.block).find((h) => h.name === ':authority')?.value ?? '';
        } catch {
          authority = '';
        }
      }
      kept.push(frames.rest());
      passOn = Buffer.concat(kept);
      ackSeen = acked;
      if (!acked) {
        // A client that never acknowledges, or sends a lot first: the server judges it.
        if (seen.length > MAX_SNIFF_BYTES) handOver(false, passOn);
        return;
      }
      if (authority !== undefined) return handOver(authorityOfUrl(authority) !== authority, passOn);
      // Something other than a request first (a PING), or a header block still incomplete past the limit.
      if ((asked && blocks.idle()) || seen.length > MAX_SNIFF_BYTES) return handOver(false, passOn);
      grace ??= setTimeout(() => handOver(false, passOn), GRACE_MS);
    };
    const timer = setTimeout(() => handOver(false, passOn), MAX_SNIFF_MS);
    timer.unref();
    pending.add(flushOne);
    socket.on('data', onData);
    socket.on('error', onError);
    // A socket handed over by a protocol sniffer arrives paused (its first bytes put back): read it.
    socket.resume();
  };
  return {
    accept,
    flush: () => {
      for (const f of [...pending]) f();
    },
  };
}
