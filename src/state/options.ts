/**
 * Dapr state request options and etags, turned into engine txn compares.
 *
 * Etag = the key's mod revision (decimal). Strict optimistic concurrency (docs/dapr-api.md#etags-and-concurrency): an etag must match the
 * key's current mod revision and the key must exist; first-write without an etag requires the key to be absent;
 * otherwise the write is unconditional.
 */
import type { Compare } from '../engine/contract';
import { StateError } from './state-errors';

export type Concurrency = 'first-write' | 'last-write' | '';
export type Consistency = 'eventual' | 'strong' | '';

/** Request options as strings, as Dapr passes them to components. */
export interface StateOptions {
  concurrency?: string;
  consistency?: string;
}

/** Validate the option strings; unknown values fail like components-contrib (`unrecognized ... model`). */
export function checkOptions(options: StateOptions | undefined): {
  concurrency: Concurrency;
  consistency: Consistency;
} {
  const concurrency = options?.concurrency ?? '';
  const consistency = options?.consistency ?? '';
  if (concurrency !== '' && concurrency !== 'first-write' && concurrency !== 'last-write') {
    throw new StateError('STORE', `unrecognized concurrency model '${concurrency}'`);
  }
  if (consistency !== '' && consistency !== 'eventual' && consistency !== 'strong') {
    throw new StateError('STORE', `unrecognized consistency model '${consistency}'`);
  }
  return { concurrency, consistency };
}

/**
 * An etag parsed against the rules: `undefined` = no etag (absent or empty), else the revision it names.
 * Non-numeric text is "invalid" (400); numbers that cannot be a revision are kept and simply never match.
 */
export function parseEtag(etag: string | undefined): number | undefined {
  if (etag === undefined || etag === '') return undefined;
  if (!/^\d+$/.test(etag)) {
    throw new StateError('ETAG_INVALID', `strconv.ParseInt: parsing ${JSON.stringify(etag)}: invalid syntax`);
  }
  const n = Number(etag);
  return Number.isSafeInteger(n) ? n : -1;
}

/** The mismatch error for a key. */
export function etagMismatch(key: string, why: string): StateError {
  return new StateError('ETAG_MISMATCH', `${why} for key=${key}`);
}

/**
 * The compare that makes a write conditional, or none for an unconditional write. Throws the mismatch directly when
 * the etag can never match (revision 0 or out of range: a missing key has mod revision 0, but strict concurrency
 * says an etag on a missing key is a mismatch).
 */
export function writeCondition(
  storedKey: Buffer,
  apiKey: string,
  etag: number | undefined,
  concurrency: Concurrency,
): Compare | undefined {
  if (etag !== undefined) {
    if (etag <= 0) throw etagMismatch(apiKey, 'etag mismatch');
    return { key: storedKey, target: 'MOD', result: 'EQUAL', modRevision: etag };
  }
  if (concurrency === 'first-write')
    return { key: storedKey, target: 'VERSION', result: 'EQUAL', version: 0 };
  return undefined;
}
