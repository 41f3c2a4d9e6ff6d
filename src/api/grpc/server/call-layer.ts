/**
 * The layer in front of every handler: code that runs once per call, whatever the method and whatever carried the
 * call (HTTP/2 or an in-process invocation), before the handler sees it. statecar's token check and call accounting
 * are layers. A layer may refuse the call (its status is sent and the handler never runs) and may ask to hear how
 * the call ended.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { CallStatus } from './call-status';
import type { HandlerKind } from './method-registry';

/** What a layer sees of a call. */
export interface LayerCall {
  /** `/package.Service/Method`. */
  readonly path: string;
  readonly kind: HandlerKind;
  /** The request metadata the handler will get; a layer may remove entries (e.g. a token). */
  readonly metadata: Metadata;
  /** Run `listener` once when the call ends, with its status code (CANCELLED when the client went away). */
  onEnd(listener: (code: number) => void): void;
  /** End the call from the server side (e.g. streams at shutdown); the handler sees a cancel. */
  endWith(status: CallStatus): void;
}

/** Runs before the handler; returning a status refuses the call with it. */
export type CallLayer = (call: LayerCall) => CallStatus | undefined;
