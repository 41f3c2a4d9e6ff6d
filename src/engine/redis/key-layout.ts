/**
 * Where a store lives in Redis. Every key of one store shares a prefix that contains a Redis Cluster hash tag
 * (`{...}`), so a cluster keeps the whole store in one slot and the Lua scripts may touch any of its keys.
 *
 * Under the prefix `P` (the same names are spelled out again in `lua-scripts.ts`, which builds them from `P`):
 *
 * | key              | type   | content                                                                       |
 * |------------------|--------|-------------------------------------------------------------------------------|
 * | `P rev`          | string | current store revision (absent = 1, as a fresh etcd store)                    |
 * | `P compact`      | string | compaction revision (absent = never compacted)                                 |
 * | `P kv`           | hash   | live key → latest record                                                       |
 * | `P live`         | zset   | live keys, all scores 0: ZRANGEBYLEX gives byte order                          |
 * | `P all`          | zset   | keys that still have history (live or not), for historical Range               |
 * | `P h:<key>`      | zset   | that key's records (and tombstones) scored by mod revision                      |
 * | `P log`          | zset   | one member per revision: the keys changed at it, in execution order            |
 * | `P leases`       | zset   | lease ID (decimal) scored by expiry time (ms, Redis clock)                      |
 * | `P l:<id>`       | hash   | lease `ttl` (granted seconds) and `exp` (ms)                                    |
 * | `P lk:<id>`      | zset   | keys attached to the lease, all scores 0 (byte order for revoke)                |
 * | `P events`       | pubsub | channel carrying each new revision number (a wake-up only)                      |
 *
 * A record is `create,mod,version,lease|value` (numbers in decimal, the value raw bytes after the first `|`);
 * a tombstone is `D,mod|`.
 */

/** The default key prefix of a store: `statecar:{<store>}:`. */
export function defaultStorePrefix(storeName: string): string {
  return `statecar:{${storeName}}:`;
}

/** Names of the fixed keys of a store under `prefix`. */
export interface StoreKeys {
  readonly prefix: string;
  /** The revision counter; passed as KEYS[1] so a cluster client routes each script to the store's slot. */
  readonly rev: string;
  /** The pub/sub channel that announces new revisions. */
  readonly channel: string;
}

/** Key names of the store rooted at `prefix`. */
export function storeKeys(prefix: string): StoreKeys {
  return { prefix, rev: `${prefix}rev`, channel: `${prefix}events` };
}
