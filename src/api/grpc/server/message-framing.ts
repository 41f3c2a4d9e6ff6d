/**
 * Length-prefixed gRPC messages: each is a 1-byte compressed flag, a 4-byte big-endian length and that many bytes.
 *
 * Reading: DATA frame boundaries mean nothing here; one chunk may hold several messages and the start of another,
 * one message may span many chunks. The declared length is checked against the limit as soon as its 4 bytes are
 * in, before any of the body is buffered, so a lying length costs nothing.
 */
import { status } from '../grpc-core';
import type { CallStatus } from './call-status';

/** Bytes before each message: the flag and the length. */
export const PREFIX_BYTES = 5;

/** One message framed for the wire (flag 0: responses are never compressed). */
export function frameMessage(bytes: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(PREFIX_BYTES + bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length, 1);
  bytes.copy(frame, PREFIX_BYTES);
  return frame;
}

/** Receives each complete message, a copy that never shares memory with the chunk it came in. */
export interface FrameSink {
  receiveFrame(compressed: boolean, payload: Buffer): void;
}

/** The decoding state of one request stream. */
export class MessageDecoder {
  /** The prefix, while it is split across chunks. */
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  private compressed = false;

  constructor(private readonly maxLength: number) {}

  /** True while a message has started but not ended (it would be truncated if the stream ended here). */
  get midMessage(): boolean {
    return this.prefixFill > 0 || this.body !== undefined;
  }

  /**
   * Feed one chunk; every message it completes goes to `sink`, in order. Returns a status when the call must end
   * (a declared length over the limit, a flag other than 0 or 1); the rest of the chunk is then dropped. The sink
   * may end the call meanwhile: the caller checks that before feeding more.
   */
  push(chunk: Buffer, sink: FrameSink): CallStatus | undefined {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.body === undefined) {
        let flag: number;
        let length: number;
        if (this.prefixFill === 0 && end - at >= PREFIX_BYTES) {
          flag = chunk[at];
          length = chunk.readUInt32BE(at + 1);
          at += PREFIX_BYTES;
        } else {
          const prefix = (this.prefix ??= Buffer.allocUnsafe(PREFIX_BYTES));
          const n = Math.min(PREFIX_BYTES - this.prefixFill, end - at);
          chunk.copy(prefix, this.prefixFill, at, at + n);
          this.prefixFill += n;
          at += n;
          if (this.prefixFill < PREFIX_BYTES) return undefined;
          this.prefixFill = 0;
          flag = prefix[0];
          length = prefix.readUInt32BE(1);
        }
        if (flag > 1) {
          return { code: status.INTERNAL, details: `grpc: invalid compressed flag ${flag} on a message` };
        }
        if (length > this.maxLength) {
          return {
            code: status.RESOURCE_EXHAUSTED,
            details: `grpc: received message larger than max (${length} vs. ${this.maxLength})`,
          };
        }
        this.compressed = flag === 1;
        if (length === 0) {
          sink.receiveFrame(this.compressed, Buffer.alloc(0));
          continue;
        }
        this.body = Buffer.allocUnsafe(length);
        this.bodyFill = 0;
      }
      const body = this.body;
      const n = Math.min(body.length - this.bodyFill, end - at);
      chunk.copy(body, this.bodyFill, at, at + n);
      this.bodyFill += n;
      at += n;
      if (this.bodyFill === body.length) {
        this.body = undefined;
        sink.receiveFrame(this.compressed, body);
      }
    }
    return undefined;
  }
}
