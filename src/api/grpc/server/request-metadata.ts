/**
 * Request headers → the `Metadata` handlers see, as grpc-js builds it: pseudo-headers and the transport's own
 * headers left out, `-bin` values base64-decoded (padded or not; a comma-joined value split first), entries with
 * an illegal key or value dropped rather than failing the call. Built from the raw header list, where every field
 * stands alone (Node's header object joins repeated fields with ", ").
 */
import { Metadata } from '../grpc-core';

/** Headers that belong to the transport, not to the application (grpc-js removes the same ones). */
const TRANSPORT_HEADERS = new Set([
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
  'te',
  'content-type',
]);

/** The metadata of a request, from its raw `[name, value, name, value, ...]` header list. */
export function requestMetadata(rawHeaders: readonly string[]): Metadata {
  const md = new Metadata();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = rawHeaders[i];
    if (key.charCodeAt(0) === 58 /* : */ || TRANSPORT_HEADERS.has(key)) continue;
    const value = rawHeaders[i + 1];
    try {
      if (key.endsWith('-bin')) {
        for (const part of value.split(',')) md.add(key, Buffer.from(part.trim(), 'base64'));
      } else {
        md.add(key, value);
      }
    } catch {
      // An illegal key or value: dropped, as grpc-js does; the call goes on.
    }
  }
  return md;
}
