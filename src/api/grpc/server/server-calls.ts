/**
 * The call objects handlers receive, shaped as grpc-js's (`ServerUnaryCall`, `ServerReadableStream`,
 * `ServerWritableStream`, `ServerDuplexStream`), and the per-kind logic that feeds them from a transport — so
 * handlers written for grpc-js run unchanged: `call.request`, `call.metadata`, `getPeer()`, `getDeadline()`,
 * `cancelled` and the `'cancelled'` event, `sendMetadata()`, object streams with `write()` returning false under
 * backpressure and `'drain'`, `end(trailer?)`, `emit('error', status)` to fail a stream, and
 * `callback(err, value, trailer?)` for unary and client-streaming calls.
 */
import { EventEmitter } from 'node:events';
import { Duplex, Readable, Writable } from 'node:stream';
import {
  status,
  type Deadline,
  type Metadata,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedHandleCall,
} from '@grpc/grpc-js';
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

/** The accessors every call object has, over its transport. */
function surface(
  t: CallTransport,
): Pick<
  SurfaceCall,
  'getPeer' | 'sendMetadata' | 'getDeadline' | 'getPath' | 'getHost' | 'getAuthContext' | 'getMetricsRecorder'
> {
  return {
    getPeer: () => t.getPeer(),
    sendMetadata: (md: Metadata) => t.sendMetadata(md),
    getDeadline: (): Deadline => t.getDeadline(),
    getPath: () => t.path,
    getHost: () => t.getHost(),
    getAuthContext: () => NO_AUTH,
    getMetricsRecorder: () => NO_METRICS as unknown as ReturnType<SurfaceCall['getMetricsRecorder']>,
  };
}

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

/** What a writable call object keeps: the status it will end with and the trailer given to `end()`. */
interface Ending {
  pending: CallStatus;
  trailer: Metadata | undefined;
}

const OK: CallStatus = { code: status.OK, details: 'OK' };

/** Shared wiring of the writable side: `emit('error', status)` sets the status and ends the stream. */
function writableSide(stream: Writable, t: CallTransport, ending: Ending): void {
  stream.on('error', (err: unknown) => {
    ending.pending = toCallStatus(err);
    if (!stream.writableEnded) stream.end();
    else t.sendStatus(ending.pending);
  });
}

function finalStatus(ending: Ending): CallStatus {
  return { ...ending.pending, metadata: ending.pending.metadata ?? ending.trailer ?? null };
}

/** `ServerWritableStream`: an object-mode Writable whose writes become response messages. */
export class WritableCall extends Writable implements ServerWritableStream<unknown, unknown> {
  cancelled = false;
  private readonly ending: Ending = { pending: OK, trailer: undefined };
  readonly getPeer;
  readonly sendMetadata;
  readonly getDeadline;
  readonly getPath;
  readonly getHost;
  readonly getAuthContext;
  readonly getMetricsRecorder;

  constructor(
    private readonly t: CallTransport,
    public request: unknown,
  ) {
    super({ objectMode: true });
    ({
      getPeer: this.getPeer,
      sendMetadata: this.sendMetadata,
      getDeadline: this.getDeadline,
      getPath: this.getPath,
      getHost: this.getHost,
      getAuthContext: this.getAuthContext,
      getMetricsRecorder: this.getMetricsRecorder,
    } = surface(t));
    writableSide(this, t, this.ending);
  }

  get metadata(): Metadata {
    return this.t.metadata;
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.t.sendMessage(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb(null);
    this.t.sendStatus(finalStatus(this.ending));
  }

  override end(metadata?: unknown): this {
    if (metadata) this.ending.trailer = metadata as Metadata;
    return super.end();
  }
}

/** `ServerReadableStream`: an object-mode Readable of request messages. */
export class ReadableCall extends Readable implements ServerReadableStream<unknown, unknown> {
  cancelled = false;
  readonly getPeer;
  readonly sendMetadata;
  readonly getDeadline;
  readonly getPath;
  readonly getHost;
  readonly getAuthContext;
  readonly getMetricsRecorder;

  constructor(private readonly t: CallTransport) {
    super({ objectMode: true });
    ({
      getPeer: this.getPeer,
      sendMetadata: this.sendMetadata,
      getDeadline: this.getDeadline,
      getPath: this.getPath,
      getHost: this.getHost,
      getAuthContext: this.getAuthContext,
      getMetricsRecorder: this.getMetricsRecorder,
    } = surface(t));
  }

  get metadata(): Metadata {
    return this.t.metadata;
  }

  override _read(): void {
    this.t.startRead();
  }
}

/** `ServerDuplexStream`: request messages in, response messages out. */
export class DuplexCall extends Duplex implements ServerDuplexStream<unknown, unknown> {
  cancelled = false;
  private readonly ending: Ending = { pending: OK, trailer: undefined };
  readonly getPeer;
  readonly sendMetadata;
  readonly getDeadline;
  readonly getPath;
  readonly getHost;
  readonly getAuthContext;
  readonly getMetricsRecorder;

  constructor(private readonly t: CallTransport) {
    super({ objectMode: true });
    ({
      getPeer: this.getPeer,
      sendMetadata: this.sendMetadata,
      getDeadline: this.getDeadline,
      getPath: this.getPath,
      getHost: this.getHost,
      getAuthContext: this.getAuthContext,
      getMetricsRecorder: this.getMetricsRecorder,
    } = surface(t));
    writableSide(this, t, this.ending);
  }

  get metadata(): Metadata {
    return this.t.metadata;
  }

  override _read(): void {
    this.t.startRead();
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.t.sendMessage(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb(null);
    this.t.sendStatus(finalStatus(this.ending));
  }

  override end(metadata?: unknown): this {
    if (metadata) this.ending.trailer = metadata as Metadata;
    return super.end();
  }
}

/** Mark a call object cancelled the way grpc-js does: flag, `'cancelled'` event, and streams destroyed. */
function cancelObject(call: { cancelled: boolean } & EventEmitter, destroy: boolean): void {
  call.cancelled = true;
  call.emit('cancelled', 'cancelled');
  if (destroy) (call as unknown as { destroy(): void }).destroy();
}

/** Run the handler, answering UNKNOWN if it throws synchronously. */
function run(t: CallTransport, body: () => void): void {
  try {
    body();
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
      const func = this.func as (c: UnaryCall, cb: Callback) => void;
      run(t, () => func(call, responder(t)));
    } else {
      const call = new WritableCall(t, this.request);
      this.call = call;
      const func = this.func as (c: WritableCall) => void;
      run(t, () => func(call));
    }
  }

  onCancel(): void {
    if (this.call) cancelObject(this.call, this.call instanceof WritableCall);
  }
}

/** Client-streaming and bidi calls: the handler runs at once and reads the messages as a stream. */
class StreamingRequestDispatch implements CallListener {
  private readonly call: ReadableCall | DuplexCall;

  constructor(
    private readonly t: CallTransport,
    func: UntypedHandleCall,
  ) {
    if (t.kind === 'clientStream') {
      const call = new ReadableCall(t);
      this.call = call;
      const f = func as (c: ReadableCall, cb: Callback) => void;
      run(t, () => f(call, responder(t)));
    } else {
      const call = new DuplexCall(t);
      this.call = call;
      const f = func as (c: DuplexCall) => void;
      run(t, () => f(call));
    }
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
