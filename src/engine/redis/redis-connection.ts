import type Redis from 'ioredis';
import { type RedisOptions } from 'ioredis';
import { EngineError, isEngineError } from '../errors';
import { decodeAnswer, type ScriptAnswer } from './codec';
import type { StoreKeys } from './key-layout';
import { SCRIPTS, type ScriptName } from './lua-scripts';
import { parseHostPort, type RedisEngineOptions } from './redis-options';

/**
 * The connection to Redis and how calls fail. Requests must fail fast while Redis is away and must never be
 * replayed behind the caller's back (a replayed write script would apply twice), hence: no offline queue, no
 * per-request retries, no automatic resend of unanswered commands, a command timeout. ioredis keeps reconnecting
 * in the background with a capped backoff, so recovery is automatic.
 */

/** ioredis options from engine options. */
export function ioredisOptions(o: RedisEngineOptions, purpose: 'main' | 'subscriber'): RedisOptions {
  const base: RedisOptions = {
    username: o.redisUsername,
    password: o.redisPassword,
    db: o.redisDB,
    connectTimeout: o.dialTimeout,
    commandTimeout: Math.max(o.readTimeout, o.writeTimeout ?? o.readTimeout) || undefined,
    // A subscriber only runs SUBSCRIBE, which ioredis re-issues itself after reconnecting.
    enableOfflineQueue: purpose === 'subscriber',
    maxRetriesPerRequest: purpose === 'subscriber' ? null : 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: true,
    enableReadyCheck: true,
    lazyConnect: true,
    connectionName: `statecar-${purpose}`,
    // A socket that will not close in time is destroyed; ioredis's default 2 s timer would hold the process open.
    disconnectTimeout: 200,
    retryStrategy: (times: number) =>
      Math.min(50 * 2 ** Math.min(times, 10), Math.max(o.maxRetryBackoff, 50)),
    tls: o.enableTLS ? { rejectUnauthorized: !o.insecureSkipVerify } : undefined,
  };
  if (o.failover) {
    return {
      ...base,
      sentinels: o.redisHost.split(',').map((h) => parseHostPort(h, 26379)),
      name: o.sentinelMasterName,
      sentinelUsername: o.sentinelUsername,
      sentinelPassword: o.sentinelPassword,
      enableTLSForSentinelMode: o.enableTLS,
    };
  }
  const { host, port } = parseHostPort(o.redisHost.split(',')[0]!);
  return { ...base, host, port };
}

/** Map any failure of a Redis call to an EngineError: connection trouble → UNAVAILABLE, script bugs → INTERNAL. */
export function toEngineError(err: unknown, where: string): EngineError {
  if (isEngineError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : '';
  if (name === 'ReplyError') {
    if (/^OOM /.test(msg)) return new EngineError('NO_SPACE', undefined, { cause: err });
    if (/^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)/.test(msg)) {
      return new EngineError('UNAVAILABLE', `redis unavailable (${where}): ${msg}`, { cause: err });
    }
    return new EngineError('INTERNAL', `redis backend error (${where}): ${msg}`, { cause: err });
  }
  return new EngineError('UNAVAILABLE', `redis unavailable (${where}): ${msg}`, { cause: err });
}

/** The Buffer-reply variants of EVAL/EVALSHA, which ioredis defines at runtime but does not declare. */
interface BufferEval {
  evalshaBuffer(sha: string, numKeys: number, ...args: (string | Buffer)[]): Promise<unknown>;
  evalBuffer(source: string, numKeys: number, ...args: (string | Buffer)[]): Promise<unknown>;
}

/** Runs the backend's scripts on one connection. */
export class ScriptRunner {
  private readonly buffers: BufferEval;

  constructor(
    readonly client: Redis,
    readonly keys: StoreKeys,
    private readonly where: string,
  ) {
    this.buffers = client as unknown as BufferEval;
  }

  /** EVALSHA the script with a JSON program and blobs; loads it on NOSCRIPT (a restarted Redis forgets scripts). */
  async run(name: ScriptName, program: unknown, blobs: Buffer[] = []): Promise<ScriptAnswer> {
    const s = SCRIPTS[name];
    const args: (string | Buffer)[] = [this.keys.rev, this.keys.prefix, JSON.stringify(program), ...blobs];
    let reply: unknown;
    try {
      try {
        reply = await this.buffers.evalshaBuffer(s.sha, 1, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !/NOSCRIPT/.test(err.message)) throw err;
        // NOSCRIPT means the script did not run, so sending its source is safe.
        reply = await this.buffers.evalBuffer(s.source, 1, ...args);
      }
    } catch (err) {
      throw toEngineError(err, this.where);
    }
    return decodeAnswer(reply);
  }
}
