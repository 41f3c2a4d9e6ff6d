/**
 * The call objects handlers receive, shaped as grpc-js's (`ServerUnaryCall`, `ServerReadableStream`,
 * `ServerWritableStream`, `ServerDuplexStream`), and the per-kind logic that feeds them from a transport — so
 * handlers written for grpc-js run unchanged: `call.request`, `call.metadata`, `getPeer()`, `getDeadline()`,
 * `cancelled` and the `'cancelled'` event, `sendMetadata()`, object streams with `write()` returning false under
 * backpressure and `'drain'`, `end(trailer?)`, `emit('error', status)` to fail a stream, and
 * `callback(err, value, trailer?)` for unary and client-streaming calls.
 */
import { EventEmitter } from 'node:events';
import { Duplex, Writable } from 'node:stream';
import type {
  Deadline,
  Metadata,
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
  UntypedHandleCall,
} from '@grpc/grpc-js';
import { status } from '../grpc-core';
import { HANDLER_THREW, toCallStatus, type CallStatus } from './call-status';
import type { CallListener, CallTransport } from './call-transport';

/** grpc-js's auth context for a plaintext call. */
const NO_AUTH = Object.freeze({});

/** A no-op stand-in for grpc-js's per-request ORCA recorder (statecar reports no backend metrics). */
const NO_METRICS = Object.freeze({
  recordRequestCostMetric: () => undefined,
  recordUtilizationMetric: () => undefined,
  recordNamedMetric: () => undefined,
  recordCPUUtilizationMetric: () => undefined,
  recordMemoryUtilizationMetric: () => undefined,
  recordApplicationUtilizationMetric: () => undefined,
  recordQpsMetric: () => undefined,
  recordEpsMetric: () => undefined,
  serialize: () => Buffer.alloc(0),
});

type SurfaceCall = ServerUnaryCall<unknown, unknown>;
type Callback = (err: unknown, value?: unknown, trailer?: Metadata) => void;

/** `ServerUnaryCall`: an EventEmitter with the request. */
export class UnaryCall extends EventEmitter implements ServerUnaryCall<unknown, unknown> {
  cancelled = false;

  constructor(
    private readonly t: CallTransport,
    public request: unknown,
  ) {
    super();
  }

  get metadata(): Metadata {
    return this.t.metadata;
  }

  getPeer(): string {
    return this.t.getPeer();
  }

  sendMetadata(md: Metadata): void {
    this.t.sendMetadata(md);
  }

  getDeadline(): Deadline {
    return this.t.getDeadline();
  }

  getPath(): string {
    return this.t.path;
  }

  getHost(): string {
    return this.t.getHost();
  }

  getAuthContext(): ReturnType<SurfaceCall['getAuthContext']> {
    return NO_AUTH;
  }

  getMetricsRecorder(): ReturnType<SurfaceCall['getMetricsRecorder']> {
    return NO_METRICS as unknown as ReturnType<SurfaceCall['getMetricsRecorder']>;
  }
}

const OK: CallStatus = { code: status.OK, details: 'OK' };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mixin pattern needs a constructor of any args
type WritableClass = new (...args: any[]) => Writable;

/**
 * The writable side shared by server-streaming and bidi call objects, over a Node object-mode stream class: each
 * `write()` becomes one response message, `end(trailer?)` the status (OK unless `emit('error', status)` set one),
 * with the accessors of {@link UnaryCall}.
 */
function writableCall<B extends WritableClass>(Base: B) {
  return class extends Base {
    cancelled = false;
    /** Set by the subclass constructor before any use. */
    t!: CallTransport;
    private pending: CallStatus = OK;
    private trailer: Metadata | undefined;

    /** Call from the subclass constructor. */
    protected attach(t: CallTransport): void {
      this.t = t;
      this.on('error', (err: unknown) => {
        this.pending = toCallStatus(err);
        if (!this.writableEnded) this.end();
        else t.sendStatus(this.pending);
      });
    }

    get metadata(): Metadata {
      return this.t.metadata;
    }

    getPeer = UnaryCall.prototype.getPeer;
    sendMetadata = UnaryCall.prototype.sendMetadata;
    getDeadline = UnaryCall.prototype.getDeadline;
    getPath = UnaryCall.prototype.getPath;
    getHost = UnaryCall.prototype.getHost;
    getAuthContext = UnaryCall.prototype.getAuthContext;
    getMetricsRecorder = UnaryCall.prototype.getMetricsRecorder;

    override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
      this.t.sendMessage(chunk, cb);
    }

    override _final(cb: (err?: Error | null) => void): void {
      cb(null);
      const p = this.pending;
      this.t.sendStatus({ ...p, metadata: p.metadata ?? this.trailer ?? null });
    }

    override end(metadata?: unknown): this {
      if (metadata) this.trailer = metadata as Metadata;
      return super.end();
    }
  };
}

/** `ServerWritableStream`: an object-mode Writable whose writes become response messages. */
export class WritableCall extends writableCall(Writable) implements ServerWritableStream<unknown, unknown> {
  constructor(
    t: CallTransport,
    public request: unknown,
  ) {
    super({ objectMode: true });
    this.attach(t);
  }
}

/**
 * `ServerDuplexStream` (and, as in grpc-js, the call object of client-streaming methods): request messages in,
 * response messages out.
 */
export class DuplexCall extends writableCall(Duplex) implements ServerDuplexStream<unknown, unknown> {
  constructor(t: CallTransport) {
    super({ objectMode: true });
    this.attach(t);
  }

  override _read(): void {
    this.t.startRead();
  }
}

/** Mark a call object cancelled the way grpc-js does: flag, `'cancelled'` event, and streams destroyed. */
function cancelObject(call: { cancelled: boolean } & EventEmitter, destroy: boolean): void {
  call.cancelled = true;
  call.emit('cancelled', 'cancelled');
  if (destroy) (call as unknown as { destroy(): void }).destroy();
}

/** Run `func(call, cb?)`, answering UNKNOWN if it throws synchronously (no closure: this runs on every call). */
function run(t: CallTransport, func: UntypedHandleCall, call: unknown, cb?: Callback): void {
  try {
    (func as (c: unknown, cb?: Callback) => void)(call, cb);
  } catch {
    t.sendStatus(HANDLER_THREW);
  }
}

/** The unary/client-streaming response callback. */
function responder(t: CallTransport): Callback {
  return (err, value, trailer) => {
    if (err) t.sendStatus(toCallStatus(err, trailer));
    else t.sendUnaryResponse(value, trailer);
  };
}

const NONE = Symbol('no request yet');

/** Unary and server-streaming calls: exactly one request message, then the handler. */
class SingleRequestDispatch implements CallListener {
  private request: unknown = NONE;
  private call: (UnaryCall | WritableCall) | undefined;

  constructor(
    private readonly t: CallTransport,
    private readonly func: UntypedHandleCall,
  ) {}

  onMessage(value: unknown): void {
    if (this.request !== NONE) {
      this.t.sendStatus({
        code: status.UNIMPLEMENTED,
        details: 'cardinality violation: received multiple request messages for non-client-streaming RPC',
      });
      return;
    }
    this.request = value;
  }

  onHalfClose(): void {
    if (this.t.ended) return;
    if (this.request === NONE) {
      this.t.sendStatus({
        code: status.UNIMPLEMENTED,
        details: 'cardinality violation: received no request message from non-client-streaming RPC',
      });
      return;
    }
    const t = this.t;
    if (t.kind === 'unary') {
      const call = new UnaryCall(t, this.request);
      this.call = call;
      run(t, this.func, call, responder(t));
    } else {
      const call = new WritableCall(t, this.request);
      this.call = call;
      run(t, this.func, call);
    }
  }

  onCancel(): void {
    if (this.call) cancelObject(this.call, this.call instanceof WritableCall);
  }
}

/** Client-streaming and bidi calls: the handler runs at once and reads the messages as a stream. */
class StreamingRequestDispatch implements CallListener {
  private readonly call: DuplexCall;

  constructor(
    private readonly t: CallTransport,
    func: UntypedHandleCall,
  ) {
    const call = new DuplexCall(t);
    this.call = call;
    run(t, func, call, t.kind === 'clientStream' ? responder(t) : undefined);
  }

  onMessage(value: unknown): void {
    if (!this.call.push(value)) this.t.pauseRead();
  }

  onHalfClose(): void {
    this.call.push(null);
  }

  onCancel(): void {
    cancelObject(this.call, true);
  }
}

/**
 * Attach the handler side to a transport whose layers have admitted it: the transport then delivers request
 * messages to the returned listener (also stored as `t.listener`).
 */
export function dispatch(t: CallTransport): CallListener {
  const func = t.method.func!;
  const listener: CallListener =
    t.kind === 'unary' || t.kind === 'serverStream'
      ? new SingleRequestDispatch(t, func)
      : new StreamingRequestDispatch(t, func);
  t.listener = listener;
  return listener;
}
