/**
 * The Redis backend: the whole engine contract on Redis (ioredis), shared by any number of sidecars.
 */
import type { Engine } from '../contract';
import type { RedisEngineOptionsInput } from './redis-options';

/**
 * Create a Redis engine (see redis-engine.ts). The engine and ioredis are loaded on the first call: a sidecar
 * whose components name no Redis store never loads them (~10–18 MB of RSS in a process at rest).
 */
export async function createRedisEngine(input: RedisEngineOptionsInput = {}): Promise<Engine> {
  const { createRedisEngine: create } = await import('./redis-engine');
  return create(input);
}
export {
  redisEngineOptionsSchema,
  storePrefixOf,
  type RedisEngineOptions,
  type RedisEngineOptionsInput,
} from './redis-options';
export { defaultStorePrefix } from './key-layout';
