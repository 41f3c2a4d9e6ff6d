/**
 * What a call's handler side needs from whatever carries the call (an HTTP/2 stream, an in-process invocation):
 * the common state of one call (ended or not, cancelled, deadline, the layers' end listeners) in a base class, and
 * the wire-specific sending and reading left to the subclasses. The call objects handlers get (server-calls.ts) only
 * talk to this, so handlers are written once whatever the transport.
 */
import type { Deadline, Metadata } from '@grpc/grpc-js';
import { status } from '../grpc-core';
import type { LayerCall } from './call-layer';
import type { CallStatus } from './call-status';
import { MAX_TIMER_MS } from './grpc-timeout';
import type { HandlerKind, RegisteredMethod } from './method-registry';

/** How the transport tells the call's dispatcher what arrived. */
export interface CallListener {
  /** One request message (already deserialized). */
  onMessage(value: unknown): void;
  /** The client finished sending. */
  onHalfClose(): void;
  /** The call ended without the handler's status: client cancel, deadline, connection loss or server shutdown. */
  onCancel(): void;
}

/** The status a call whose deadline passed ends with. */
export const DEADLINE_EXCEEDED: CallStatus = { code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' };

function onDeadline(call: CallTransport): void {
  call.expire();
}

/** The state of one call shared by every transport. */
export abstract class CallTransport implements LayerCall {
  /** Set by the dispatcher before any message is delivered. */
  listener: CallListener | undefined;
  /** True once the call ended without the handler's own status (client cancel, deadline, shutdown). */
  cancelled = false;
  /** True once a status was sent or the call was cancelled: nothing more goes out. */
  ended = false;
  private endListeners: ((code: number) => void)[] | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** @param deadlineAt epoch milliseconds, or Infinity for none. */
  constructor(
    readonly method: RegisteredMethod,
    protected readonly deadlineAt: number,
  ) {}

  get path(): string {
    return this.method.path;
  }

  get kind(): HandlerKind {
    return this.method.kind;
  }

  abstract get metadata(): Metadata;
  abstract getPeer(): string;
  abstract getHost(): string;
  /** Send response headers (with `md`) now. */
  abstract sendMetadata(md: Metadata): void;
  /** Send one response message of a streaming call; `done` runs once it is out (or can never go out). */
  abstract sendMessage(value: unknown, done: (err?: Error | null) => void): void;
  /** Send the one response of a unary call and the OK status (with `trailer`). */
  abstract sendUnaryResponse(value: unknown, trailer: Metadata | undefined): void;
  /** Deliver request messages (again). */
  abstract startRead(): void;
  /** Stop delivering request messages until {@link startRead} (backpressure on the client). */
  abstract pauseRead(): void;
  /** Put the final status on the wire. */
  protected abstract writeStatus(s: CallStatus): void;

  getDeadline(): Deadline {
    return this.deadlineAt === Infinity ? Infinity : new Date(this.deadlineAt);
  }

  onEnd(listener: (code: number) => void): void {
    (this.endListeners ??= []).push(listener);
  }

  endWith(s: CallStatus): void {
    if (this.ended) return;
    this.sendStatus(s);
    this.cancelled = true;
    this.listener?.onCancel();
  }

  /** End the call with `s` (ignored once the call has ended). */
  sendStatus(s: CallStatus): void {
    if (this.ended) return;
    this.writeStatus(s);
    this.finish(s.code);
  }

  /** Mark the call ended with `code`: stop the deadline, tell the layers. */
  protected finish(code: number): void {
    this.ended = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const listeners = this.endListeners;
    if (listeners === undefined) return;
    this.endListeners = undefined;
    for (const l of listeners) l(code);
  }

  /** The client went away (reset, connection lost): the handler sees a cancel. */
  protected clientCancelled(): void {
    if (this.ended) return;
    this.cancelled = true;
    this.finish(status.CANCELLED);
    this.listener?.onCancel();
  }

  /** Start the deadline timer; returns false when the deadline has already passed (the call is then ended). */
  protected armDeadline(): boolean {
    if (this.deadlineAt === Infinity) return true;
    const delay = this.deadlineAt - Date.now();
    if (delay <= 0) {
      this.sendStatus(DEADLINE_EXCEEDED);
      return false;
    }
    if (delay <= MAX_TIMER_MS) this.timer = setTimeout(onDeadline, delay, this);
    return true;
  }

  /** The deadline passed: DEADLINE_EXCEEDED to the client, a cancel to the handler. */
  expire(): void {
    if (this.ended) return;
    this.timer = undefined;
    this.sendStatus(DEADLINE_EXCEEDED);
    this.cancelled = true;
    this.listener?.onCancel();
  }
}
