/**
 * A call's final status and the conversion of what handlers hand back (grpc-js's conventions) into one.
 */
import type { Metadata } from '@grpc/grpc-js';
import { status } from '../grpc-core';

/** What ends a call: a code, its message and optional trailing metadata. */
export interface CallStatus {
  code: number;
  details: string;
  metadata?: Metadata | null;
}

/** The status sent when a handler throws something that carries no status of its own (grpc-js's wording). */
export const HANDLER_THREW: CallStatus = { code: status.UNKNOWN, details: 'Unknown error' };

/**
 * grpc-js's reading of an error a handler passes back (callback, `emit('error')`): an integer `code` is the status
 * (with `details`, else the error's message), anything else is UNKNOWN with the message. `trailer` wins over the
 * error's own `metadata`.
 */
export function toCallStatus(err: unknown, trailer?: Metadata | null): CallStatus {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    code?: unknown;
    details?: unknown;
    message?: unknown;
    metadata?: Metadata | null;
  };
  const message = typeof e.message === 'string' ? e.message : 'Unknown Error';
  const metadata = trailer ?? e.metadata ?? null;
  if (typeof e.code === 'number' && Number.isInteger(e.code)) {
    return { code: e.code, details: typeof e.details === 'string' ? e.details : message, metadata };
  }
  return { code: status.UNKNOWN, details: message, metadata };
}
