/**
 * The Redis backend: the whole engine contract on Redis (ioredis), shared by any number of sidecars.
 */
export { createRedisEngine } from './redis-engine';
export {
  redisEngineOptionsSchema,
  storePrefixOf,
  type RedisEngineOptions,
  type RedisEngineOptionsInput,
} from './redis-options';
export { defaultStorePrefix } from './key-layout';
