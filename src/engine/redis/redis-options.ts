import { z } from 'zod';
import { parseGoDuration } from '../go-duration';
import { commonEngineOptionsSchema } from '../options';
import { defaultStorePrefix } from './key-layout';

/**
 * Options of the Redis backend. Connection options carry Dapr's `state.redis` / `lock.redis` metadata names so a
 * component file's metadata can be passed through as is: Dapr metadata values are strings, so every field also
 * accepts its string form ("true", "3", "5s").
 */

/** A duration in ms: a number (ms), or a Go duration string ("500ms", "5s", "1m30s"); "0" = none. */
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const ms = parseGoDuration(s);
  if (ms === undefined || ms < 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${v}` });
    return z.NEVER;
  }
  return Math.round(ms);
});

/** A boolean or its string form. */
const flag = z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False', '1', '0'])]).transform((v) => {
  if (typeof v === 'boolean') return v;
  return v === 'true' || v === 'True' || v === '1';
});

/** A non-negative integer or its string form. */
const count = z.union([z.number().int().min(0), z.string().regex(/^\d+$/).transform(Number)]);

/** Redis backend options (common engine options plus connection and layout). */
export const redisEngineOptionsSchema = commonEngineOptionsSchema
  .extend({
    /**
     * `host:port` of Redis. Default `localhost:6379`. With `failover`, a comma-separated list of Sentinel
     * `host:port` addresses.
     */
    redisHost: z.string().min(1).default('localhost:6379'),
    /** ACL user name (Redis 6+). Default none. */
    redisUsername: z.string().optional(),
    /** Password (AUTH). Default none. */
    redisPassword: z.string().optional(),
    /** Logical database number. Default 0. */
    redisDB: count.default(0),
    /** Connect with TLS. Default false. */
    enableTLS: flag.default(false),
    /** Skip TLS certificate verification (test setups only). Default false. */
    insecureSkipVerify: flag.default(false),
    /** Use Redis Sentinel: `redisHost` lists the sentinels, `sentinelMasterName` names the master. Default false. */
    failover: flag.default(false),
    /** Master name for Sentinel. Required with `failover`. */
    sentinelMasterName: z.string().optional(),
    /** Sentinel ACL user. Default none. */
    sentinelUsername: z.string().optional(),
    /** Sentinel password. Default none. */
    sentinelPassword: z.string().optional(),
    /** `node` only: the store lives in one hash slot, but cluster client routing is not implemented. Default node. */
    redisType: z.enum(['node']).default('node'),
    /** Connect timeout (ioredis `connectTimeout`). Default 5 s, as Dapr. */
    dialTimeout: duration.default(5000),
    /** Reply timeout of a command (ioredis `commandTimeout`, the larger of read/write). Default 3 s, as Dapr. */
    readTimeout: duration.default(3000),
    /** Write timeout; ioredis has one command timeout, so the larger of the two is used. Default = readTimeout. */
    writeTimeout: duration.optional(),
    /** Upper bound of the reconnect backoff (grows from 50 ms). Default 2 s, as Dapr's `maxRetryBackoff`. */
    maxRetryBackoff: duration.default(2000),
    /**
     * Store name: sidecars sharing a store name (and Redis) share one revision space. Default `default`.
     * Only used to build the default `storePrefix`.
     */
    storeName: z.string().min(1).default('default'),
    /**
     * Prefix of every Redis key of the store. Default `statecar:{<storeName>}:`. Must contain a `{...}` hash tag so a
     * cluster keeps the whole store in one slot.
     */
    storePrefix: z
      .string()
      .regex(/\{[^}]+\}/, 'storePrefix must contain a {hash tag}')
      .optional(),
    /** Watch safety net: poll the revision log this often even without pub/sub wake-ups (ms). Default 1000. */
    watchPollIntervalMs: z.number().int().min(10).default(1000),
    /** How long a write waits for local watchers to be notified before it answers (ms). Default 2000. */
    watchNotifyWaitMs: z.number().int().min(0).default(2000),
  })
  .refine((o) => !o.failover || Boolean(o.sentinelMasterName), {
    message: 'failover requires sentinelMasterName',
    path: ['sentinelMasterName'],
  });

/** Validated Redis engine options (every default applied). */
export type RedisEngineOptions = z.infer<typeof redisEngineOptionsSchema>;
/** Redis engine options as given (Dapr metadata strings accepted); see the schema for each default. */
export type RedisEngineOptionsInput = z.input<typeof redisEngineOptionsSchema>;

/** The effective store prefix. */
export function storePrefixOf(o: RedisEngineOptions): string {
  return o.storePrefix ?? defaultStorePrefix(o.storeName);
}

/** Split `host:port` (IPv6 in brackets allowed); port defaults to 6379 (26379 for sentinels). */
export function parseHostPort(s: string, defaultPort = 6379): { host: string; port: number } {
  const t = s.trim();
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t) ?? /^([^:]+)(?::(\d+))?$/.exec(t);
  if (!m) return { host: t, port: defaultPort };
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}
