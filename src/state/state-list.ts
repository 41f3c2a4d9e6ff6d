/**
 * List keys (alpha; Dapr's List API proposal): the app's keys of a store by prefix, in key order, paged by a token
 * that carries the revision of the first page, so all pages list one snapshot. Keys only, as the proposal says:
 * values are one bulk get away. See docs/state-views.md.
 */
import type { Engine } from '../engine/contract';
import { KEY_SEPARATOR } from './key-prefix';
import type { KeySpace } from './key-space';
import { decodePageToken, encodePageToken, tokenCheck, tokenReadError } from './page-token';
import { StateError, toStateError } from './state-errors';

/** Page size when none is asked for (the proposal's default). */
export const DEFAULT_LIST_LIMIT = 50;
/** Largest page. */
export const MAX_LIST_LIMIT = 10_000;

export interface ListRequest {
  /** Only keys starting with this ('' = all). */
  prefix?: string;
  /** Keys per page: 1 to {@link MAX_LIST_LIMIT}; 0 or absent = {@link DEFAULT_LIST_LIMIT}. */
  limit?: number;
  /** The `token` of the previous page. */
  token?: string;
}

export interface ListResult {
  keys: string[];
  /** Absent on the last page. */
  token?: string;
  /** The revision every page of this listing reads. */
  revision: number;
}

/** What a listing needs of a store. */
export interface ListSource {
  name: string;
  engine: Engine;
  keys: KeySpace;
}

/** One page of keys. Rejects with a StateError (INVALID_REQUEST for bad input, COMPACTED for an old token). */
export async function listKeys(source: ListSource, req: ListRequest): Promise<ListResult> {
  const prefix = req.prefix ?? '';
  const limit = req.limit ?? 0;
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_LIST_LIMIT) {
    throw new StateError('INVALID_REQUEST', `page limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const size = limit === 0 ? DEFAULT_LIST_LIMIT : limit;
  // No app key holds the separator, so such a prefix is a mistake, refused as on every state route.
  if (prefix.includes(KEY_SEPARATOR)) {
    throw new StateError(
      'INVALID_REQUEST',
      `input key/keyPrefix '${prefix}' can't contain '${KEY_SEPARATOR}'`,
    );
  }
  const check = tokenCheck(source.name, `list\0${prefix}`);
  const start = req.token ? decodePageToken(req.token, check) : { revision: 0 };
  const range = source.keys.range(prefix);
  let from =
    start.after === undefined
      ? range.key
      : Buffer.concat([source.keys.encode(start.after), Buffer.from([0])]);
  let revision = start.revision;
  const keys: string[] = [];
  try {
    // One key more than the page tells whether another page follows; foreign keys in the range are skipped.
    while (keys.length <= size) {
      const res = await source.engine.range({
        key: from,
        rangeEnd: range.rangeEnd,
        limit: size + 1 - keys.length,
        revision,
        keysOnly: true,
      });
      if (revision === 0) revision = res.header.revision;
      for (const kv of res.kvs) {
        const key = source.keys.decode(kv.key);
        if (key !== undefined) keys.push(key);
      }
      if (!res.more || res.kvs.length === 0) break;
      from = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
    }
  } catch (err) {
    throw toStateError(start.revision > 0 ? tokenReadError(err, start.revision) : err);
  }
  if (keys.length <= size) return { keys, revision };
  const page = keys.slice(0, size);
  return { keys: page, token: encodePageToken({ revision, after: page[page.length - 1] }, check), revision };
}
