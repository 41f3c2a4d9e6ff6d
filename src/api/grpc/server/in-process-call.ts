/**
 * A call run without HTTP/2: the caller hands request objects in and gets response objects and the status back,
 * through the same layers, dispatch and call objects as a call on the wire. For front ends that speak something
 * else to the client (etcd's JSON gateway turns JSON into the request objects the handlers take).
 */
import { Metadata, status } from '../grpc-core';
import type { CallStatus } from './call-status';
import { CallTransport } from './call-transport';
import type { RegisteredMethod } from './method-registry';

/** How an in-process call presents itself to the handler. */
export interface InProcessOptions {
  /** Request metadata (default empty). */
  metadata?: Metadata;
  /** Deadline from now, ms (default none). */
  timeoutMs?: number;
  /** What `call.getPeer()` answers (default "in-process"). */
  peer?: string;
  /** What `call.getHost()` answers (default ""). */
  host?: string;
}

/** Where an in-process call's responses go. */
export interface InProcessSink {
  /** Response headers the handler sent (`sendMetadata`), before any message. */
  onMetadata?(md: Metadata): void;
  /**
   * One response message. Returning false holds the handler's next writes (its `write()` starts answering false)
   * until {@link InProcessCallHandle.resume}: the caller's client is slow.
   */
  onMessage(value: unknown): boolean | void;
  /** The final status (exactly once, unless the caller cancelled). */
  onStatus(s: CallStatus): void;
  /** The handler took every queued request after `write` answered false: the caller may write again. */
  onWritable?(): void;
}

/** The caller's side of an in-process call. */
export interface InProcessCallHandle {
  /**
   * Send one request message (ignored once the call ended). False: the handler is not reading now and the message
   * was queued; the caller should stop reading its client until the sink's `onWritable`, or the queue grows with
   * whatever the client sends (a client that sends keep-alives and never reads their answers).
   */
  write(request: unknown): boolean;
  /** No more request messages. */
  end(): void;
  /** The caller went away: the handler sees a cancel. */
  cancel(): void;
  /** The caller can take messages again after `onMessage` returned false. */
  resume(): void;
}

/** An in-process call. */
export class InProcessCall extends CallTransport {
  private md: Metadata | undefined;
  private headersSent = false;
  private held: (() => void) | undefined;
  private readPaused = false;
  private readonly queue: unknown[] = [];
  /** `write` answered false: the caller waits for the sink's `onWritable`. */
  private writerWaits = false;
  private halfClosed = false;

  constructor(
    method: RegisteredMethod,
    deadlineAt: number,
    private readonly options: InProcessOptions,
    private readonly sink: InProcessSink,
  ) {
    super(method, deadlineAt);
  }

  /** Start the deadline once the call is admitted. */
  start(): void {
    this.armDeadline();
  }

  get metadata(): Metadata {
    return (this.md ??= this.options.metadata?.clone() ?? new Metadata());
  }

  getPeer(): string {
    return this.options.peer ?? 'in-process';
  }

  getHost(): string {
    return this.options.host ?? '';
  }

  sendMetadata(md: Metadata): void {
    if (this.ended || this.headersSent) return;
    this.headersSent = true;
    this.sink.onMetadata?.(md);
  }

  sendMessage(value: unknown, done: (err?: Error | null) => void): void {
    if (this.ended) {
      done();
      return;
    }
    this.headersSent = true;
    if (this.sink.onMessage(value) === false) this.held = done;
    else done();
  }

  sendUnaryResponse(value: unknown, trailer: Metadata | undefined): void {
    if (this.ended) return;
    this.headersSent = true;
    this.sink.onMessage(value);
    this.sendStatus({ code: status.OK, details: '', metadata: trailer ?? null });
  }

  startRead(): void {
    this.readPaused = false;
    while (!this.readPaused && this.queue.length > 0 && !this.ended)
      this.listener!.onMessage(this.queue.shift());
    if (this.readPaused || this.queue.length > 0 || this.ended) return;
    if (this.halfClosed) this.listener!.onHalfClose();
    else if (this.writerWaits) {
      this.writerWaits = false;
      this.sink.onWritable?.();
    }
  }

  pauseRead(): void {
    this.readPaused = true;
  }

  protected writeStatus(s: CallStatus): void {
    const held = this.held;
    this.held = undefined;
    this.sink.onStatus(s);
    held?.();
  }

  /** The caller's handle. */
  handle(): InProcessCallHandle {
    return {
      write: (request) => {
        if (this.ended || this.halfClosed) return true;
        if (this.readPaused || this.queue.length > 0) this.queue.push(request);
        else this.listener?.onMessage(request);
        if (!this.readPaused) return true;
        this.writerWaits = true;
        return false;
      },
      end: () => {
        if (this.ended || this.halfClosed) return;
        this.halfClosed = true;
        if (!this.readPaused && this.queue.length === 0) this.listener?.onHalfClose();
      },
      cancel: () => {
        const held = this.held;
        this.held = undefined;
        this.clientCancelled();
        held?.();
      },
      resume: () => {
        const held = this.held;
        this.held = undefined;
        held?.();
      },
    };
  }
}
