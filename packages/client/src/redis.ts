export { type RedisTokenStoreOptions, redisTokenStore } from './redis-token-store.js'
