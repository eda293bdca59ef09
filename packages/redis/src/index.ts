export {
  type RedisAttemptLimiter,
  type RedisAttemptLimiterOptions,
  type RedisAttemptLimiterStats,
  redisAttemptLimiter,
} from './attempt-limiter.js'
export {
  type RedisDenyList,
  type RedisDenyListOptions,
  type RedisDenyListStats,
  redisDenyList,
} from './deny-list.js'
export { type RedisDpopReplayCacheOptions, redisDpopReplayCache } from './dpop-replay-cache.js'
export {
  type RedisIntrospectionCache,
  type RedisIntrospectionCacheOptions,
  type RedisIntrospectionCacheStats,
  redisIntrospectionCache,
} from './introspection-cache.js'
export { type OidcAdapter, type OidcPayload, redisAdapter } from './oidc-adapter.js'
export {
  RedisConnection,
  type RedisConnectionEvents,
  type RedisConnectionOptions,
  type RedisLogger,
  type RedisStatus,
  redisConnection,
} from './redis-connection.js'
