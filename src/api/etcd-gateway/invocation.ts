/**
 * Calling a grpc-js-style handler without gRPC: the call objects the handlers of the etcd services expect
 * (`ServerUnaryCall`, `ServerWritableStream`, `ServerDuplexStream`: `request`, `metadata`, `write`/`end`, the
 * `data`/`end`/`cancelled`/`close`/`drain` events, `emit('error', status)` to fail), built over an object-mode
 * Duplex so the handler sees the same flow control a gRPC stream gives it: `write` answers false once 16 answers
 * wait for the consumer, and `drain` follows when it has caught up. Only the transport differs, so the gateway runs
 * exactly the code gRPC runs.
 */
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { RegisteredMethod } from './method-registry';

/** A call's final status. */
export interface CallStatus {
  code: grpc.status;
  details: string;
}

/** Where a call's answers go. */
export interface CallOutput {
  /** One answer (the handler's object). Call `ready` when the next one may come. */
  message(value: object, ready: () => void): void;
  /** The call is over: status OK after the last answer, or the failure. Called once, never after a cancel. */
  end(status: CallStatus): void;
}

/** What the transport knows of the caller. */
export interface CallInfo {
  metadata: grpc.Metadata;
  /** The authority the client dialled (`getHost()`). */
  host: string;
  /** `address:port` of the client (`getPeer()`). */
  peer: string;
}

/** The status a handler failed with (a StatusObject, a ServiceError, or anything thrown). */
export function statusOf(err: unknown): CallStatus {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    const code = typeof e.code === 'number' ? (e.code as grpc.status) : grpc.status.UNKNOWN;
    const details =
      typeof e.details === 'string' ? e.details : typeof e.message === 'string' ? e.message : '';
    return { code, details };
  }
  return { code: grpc.status.UNKNOWN, details: String(err) };
}

/** One call in progress; the handler sees it as its grpc-js call object. */
export class GatewayCall extends Duplex {
  /** The request of a unary or server-streaming call. */
  request: object = {};
  /** True once the client went away. */
  cancelled = false;
  readonly metadata: grpc.Metadata;
  private over = false;
  /** Called when the handler is ready for more requests (the transport resumes reading its body). */
  onWantRequests?: () => void;

  constructor(
    private readonly method: RegisteredMethod,
    private readonly info: CallInfo,
    private readonly output: CallOutput,
  ) {
    super({ objectMode: true });
    this.metadata = info.metadata;
    // A handler fails its call with `call.emit('error', status)`, as on grpc-js.
    this.on('error', (err: unknown) => this.finish(statusOf(err)));
  }

  getPeer(): string {
    return this.info.peer;
  }

  getHost(): string {
    return this.info.host;
  }

  getPath(): string {
    return this.method.path;
  }

  getDeadline(): grpc.Deadline {
    return Infinity;
  }

  sendMetadata(): void {
    // Response headers are the transport's own: gRPC metadata has no place in the HTTP/JSON answer.
  }

  override _read(): void {
    this.onWantRequests?.();
  }

  override _write(value: object, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.over) return done();
    this.output.message(value, () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.finish({ code: grpc.status.OK, details: '' });
    done();
  }

  /** Hand the handler one more request of a client- or bidi-streaming call; false asks the transport to wait. */
  pushRequest(request: object): boolean {
    return !this.over && this.push(request);
  }

  /** The client's half-close: no more requests. */
  endRequests(): void {
    if (!this.over) this.push(null);
  }

  /** End the call with a failure of the transport's own (e.g. a later request that cannot be decoded). */
  fail(status: CallStatus): void {
    this.finish(status);
  }

  /** The client went away: the handler gets `cancelled` and `close`, and nothing more is sent. */
  cancel(): void {
    if (this.over) return;
    this.over = true;
    this.cancelled = true;
    this.emit('cancelled');
    this.destroy();
  }

  private finish(status: CallStatus): void {
    if (this.over) return;
    this.over = true;
    this.output.end(status);
    // Frees what the handler holds for the call (watchers, keep-alive loops): they clean up on `close`.
    this.destroy();
  }

  /** Start the handler. Unary and client-streaming handlers answer through the grpc-js callback. */
  start(): void {
    const callback: grpc.sendUnaryData<object> = (err, value) => {
      if (err) return this.finish(statusOf(err));
      if (this.over) return;
      this.output.message(value ?? {}, () => this.finish({ code: grpc.status.OK, details: '' }));
    };
    try {
      switch (this.method.kind) {
        case 'unary':
          (this.method.handler as grpc.handleUnaryCall<object, object>)(
            this as unknown as grpc.ServerUnaryCall<object, object>,
            callback,
          );
          break;
        case 'clientStream':
          (this.method.handler as grpc.handleClientStreamingCall<object, object>)(
            this as unknown as grpc.ServerReadableStream<object, object>,
            callback,
          );
          break;
        case 'serverStream':
          (this.method.handler as grpc.handleServerStreamingCall<object, object>)(
            this as unknown as grpc.ServerWritableStream<object, object>,
          );
          break;
        case 'bidi':
          (this.method.handler as grpc.handleBidiStreamingCall<object, object>)(
            this as unknown as grpc.ServerDuplexStream<object, object>,
          );
          break;
      }
    } catch (err) {
      this.finish(statusOf(err));
    }
  }
}
