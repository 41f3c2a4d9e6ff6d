/**
 * Compressed request messages (flag 1): gzip and deflate, as grpc-js's and grpc-go's clients may send them
 * (`grpc-encoding`). Responses are never compressed. The inflated size is capped at the receive limit, so a small
 * message cannot expand into unbounded memory.
 */
import zlib from 'node:zlib';
import { status } from '../grpc-core';
import type { CallStatus } from './call-status';

/** The encodings statecar decodes, as sent in `grpc-accept-encoding`. */
export const ACCEPT_ENCODING = 'identity,deflate,gzip';

/** True for a `grpc-encoding` value the server can decode (absent counts as identity). */
export function isSupportedEncoding(encoding: string | undefined): boolean {
  return encoding === undefined || encoding === 'identity' || encoding === 'gzip' || encoding === 'deflate';
}

/**
 * The decompressed message, or the status that ends the call: INTERNAL for a flag-1 message on an identity
 * stream or a corrupt payload, RESOURCE_EXHAUSTED when it inflates beyond `maxLength` (grpc-go's wording).
 */
export function decompress(
  encoding: string | undefined,
  payload: Buffer,
  maxLength: number,
): Buffer | CallStatus {
  if (encoding === undefined || encoding === 'identity') {
    return { code: status.INTERNAL, details: 'grpc: compressed flag set with identity or empty encoding' };
  }
  try {
    // maxOutputLength makes zlib stop (RangeError) instead of inflating a bomb.
    const opts = { maxOutputLength: Math.max(1, maxLength) };
    return encoding === 'gzip' ? zlib.gunzipSync(payload, opts) : zlib.inflateSync(payload, opts);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      return {
        code: status.RESOURCE_EXHAUSTED,
        details: `grpc: received message after decompression larger than max ${maxLength}`,
      };
    }
    return {
      code: status.INTERNAL,
      details: `grpc: failed to decompress the received message: ${(err as Error).message}`,
    };
  }
}
