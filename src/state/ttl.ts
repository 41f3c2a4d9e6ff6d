/**
 * Dapr's `ttlInSeconds` request metadata (components-contrib `ParseTTL`): a decimal integer from -1 to 2^31-1.
 * -1 (or any negative, as the in-memory store treats it) and 0 mean "no expiry", and since every save replaces the
 * whole record, a save without TTL removes an earlier one.
 */
import { StateError } from './state-errors';

/** The metadata key carrying the TTL. */
export const TTL_METADATA_KEY = 'ttlInSeconds';
/** The response metadata key carrying the expiry time. */
export const TTL_EXPIRE_TIME_KEY = 'ttlExpireTime';

const MAX_TTL = 2 ** 31 - 1;

/** Seconds to live (> 0), or 0 for "no expiry". Throws a STORE StateError on a bad value (HTTP 500 as in Dapr). */
export function parseTtl(metadata: Record<string, string> | undefined): number {
  const raw = metadata?.[TTL_METADATA_KEY];
  if (raw === undefined || raw === '') return 0;
  if (!/^[+-]?\d+$/.test(raw.trim())) {
    throw new StateError(
      'STORE',
      `incorrect value for metadata '${TTL_METADATA_KEY}': ${JSON.stringify(raw)}`,
    );
  }
  const n = Number(raw.trim());
  if (n < -1 || n > MAX_TTL) {
    throw new StateError(
      'STORE',
      `incorrect value for metadata '${TTL_METADATA_KEY}': must be between -1 and ${MAX_TTL}, got ${raw}`,
    );
  }
  return n > 0 ? n : 0;
}

/** RFC3339 in UTC with seconds precision, as Go formats `ttlExpireTime`. */
export function formatExpireTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
