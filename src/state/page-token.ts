/**
 * Page tokens of queries and key lists. A token carries the revision the first page read, so every later page
 * reads the same revision and a store being written never makes paging skip or repeat a key; it also carries a
 * check of what it belongs to (store and query, or store and prefix), so a token handed to another query is
 * refused instead of silently paging through the wrong results. Tokens are opaque to clients (base64url text).
 */
import { createHash } from 'node:crypto';
import { isEngineError } from '../engine/errors';
import { StateError } from './state-errors';

/** Where the next page starts: an offset into the ordered results (queries) or after a key (lists). */
export interface PagePosition {
  revision: number;
  offset?: number;
  after?: string;
}

interface TokenBody {
  /** Format version. */
  v: 1;
  r: number;
  o?: number;
  k?: string;
  /** Check of the owner. */
  c: string;
}

/** The check of a token's owner: store name plus what shapes the results (the query, or the list prefix). */
export function tokenCheck(store: string, shape: string): string {
  return createHash('sha256').update(store).update('\0').update(shape).digest('base64url').slice(0, 12);
}

/** Encode a position for the owner `check`. */
export function encodePageToken(pos: PagePosition, check: string): string {
  const body: TokenBody = { v: 1, r: pos.revision, c: check };
  if (pos.offset !== undefined) body.o = pos.offset;
  if (pos.after !== undefined) body.k = pos.after;
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

/** Decode a token of the owner `check`; a malformed or foreign token is an INVALID_REQUEST StateError. */
export function decodePageToken(token: string, check: string): PagePosition {
  let body: Partial<TokenBody> | undefined;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<TokenBody>;
  } catch {
    body = undefined;
  }
  const valid =
    typeof body === 'object' &&
    body !== null &&
    body.v === 1 &&
    Number.isSafeInteger(body.r) &&
    (body.r ?? 0) > 0 &&
    (body.o === undefined || (Number.isSafeInteger(body.o) && body.o >= 0)) &&
    (body.k === undefined || typeof body.k === 'string') &&
    typeof body.c === 'string';
  if (!valid) throw new StateError('INVALID_REQUEST', `invalid page token ${JSON.stringify(token)}`);
  if (body!.c !== check) {
    throw new StateError(
      'INVALID_REQUEST',
      'the page token belongs to another store or another query: send the token with the request that returned it',
    );
  }
  return { revision: body!.r!, offset: body!.o, after: body!.k };
}

/**
 * The StateError for an engine failure of a read at a token's revision: COMPACTED when the history of that
 * revision is gone (start over without a token), INVALID_REQUEST when the store never had it (a forged token).
 */
export function tokenReadError(err: unknown, revision: number): unknown {
  if (!isEngineError(err)) return err;
  if (err.code === 'COMPACTED') {
    return new StateError(
      'COMPACTED',
      `the page token reads revision ${revision}, which has been compacted: start again without a token`,
      { cause: err },
    );
  }
  if (err.code === 'FUTURE_REV') {
    return new StateError(
      'INVALID_REQUEST',
      `the page token reads revision ${revision}, which this store has not reached: it is not from this store`,
      { cause: err },
    );
  }
  return err;
}
