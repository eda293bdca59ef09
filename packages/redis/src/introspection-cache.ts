import { randomUUID } from 'node:crypto'
import {
  type CacheStats,
  type IntrospectionAnswer,
  type IntrospectionCache,
  LruCache,
} from '@portcullis/core'
import { parseOptions } from '@portcullis/core/adapter'
import { z } from 'zod'
import type { RedisConnection } from './redis-connection.js'

const optionsSchema = z.strictObject({
  /** The copy each instance keeps in memory, in front of Redis: hits cost no round trip. */
  local: z
    .strictObject({
      maxEntries: z.number().int().positive().max(10_000_000).default(10_000),
      /** Longest an answer read from Redis is kept locally, in seconds (never past its Redis TTL). */
      maxTtl: z.number().positive().max(86_400).default(60),
    })
    .default({ maxEntries: 10_000, maxTtl: 60 }),
  /**
   * Cross-instance single flight: the first instance to miss takes a short lock (`SET NX PX`) and
   * asks the authorization server; the others wait up to `waitMs` for its answer to land in Redis,
   * then ask themselves. `false`: every instance that misses asks.
   */
  lock: z
    .union([
      z.literal(false),
      z.strictObject({
        /** How long a lock holds if its holder never answers (crash, failed call), in ms. */
        ttlMs: z.number().int().positive().max(60_000).default(5000),
        /** How long another instance waits for the holder's answer, in ms. */
        waitMs: z.number().int().nonnegative().max(30_000).default(1000),
      }),
    ])
    .default({ ttlMs: 5000, waitMs: 1000 }),
  /** Longest stored answer read back, in bytes; longer ones are ignored. */
  maxValueBytes: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
})

export type RedisIntrospectionCacheOptions = z.input<typeof optionsSchema>

/** How full the local copy is, and where answers came from. */
export interface RedisIntrospectionCacheStats extends CacheStats {
  localHits: number
  redisHits: number
  /** Reads that found nothing, locally or in Redis: an introspection call follows (here or elsewhere). */
  misses: number
  /** Misses that waited for another instance's call and got its answer. */
  joined: number
  /** Redis commands that failed (the local copy answered, or the caller asked the server). */
  redisErrors: number
}

/**
 * The cache `redisIntrospectionCache` returns. An interface, not `IntrospectionCache & { stats() }`:
 * calling an intersection of the optional and the required `stats` picks the first signature, which
 * would hide the Redis counters from the caller's types.
 */
export interface RedisIntrospectionCache extends IntrospectionCache {
  /** The answer in this instance's local copy, at once (no round trip): the gate's hit path. */
  peek(key: string): IntrospectionAnswer | undefined
  stats(): RedisIntrospectionCacheStats
}

/** What is stored under a key: the answer and when it expires (ms), for the local copy's TTL. */
interface Stored {
  x: number
  a: IntrospectionAnswer
}

const POLL_FIRST_MS = 10
const POLL_MAX_MS = 100

/**
 * An `IntrospectionCache` on Redis, for `introspectionVerifier({ cache: { store } })`: N instances
 * make one introspection call per token instead of N.
 *
 * - Keys are the token hashes the verifier gives (never tokens), under `<prefix>introspection:`.
 *   Each answer lives in Redis for the TTL the verifier sets (the earlier of the token's `exp` and
 *   `cache.ttl`; `cache.inactiveTtl` for inactive ones), so it is never reused past its token.
 * - Each instance keeps a bounded local copy in front (`local`), so a hit costs no round trip, and
 *   so an instance keeps answering for the tokens it knows while Redis is down.
 * - With `lock` (default), concurrent first sightings on different instances make one call too.
 * - Every Redis failure is a miss, never an error: the verifier then asks the server itself.
 *
 * Revocation is not this cache's business: a revoked token's answer stays cached up to its TTL.
 * Use `redisDenyList` for revocations that must take effect at once.
 *
 * @example
 * const redis = redisConnection({ url: process.env.REDIS_URL })
 * const verifier = introspectionVerifier({
 *   issuer, clientId, clientSecret, audience: resource,
 *   cache: { ttl: 60, store: redisIntrospectionCache(redis) },
 * })
 */
export function redisIntrospectionCache(
  connection: RedisConnection,
  options: RedisIntrospectionCacheOptions = {},
): RedisIntrospectionCache {
  const o = parseOptions(optionsSchema, options, '@portcullis/redis redisIntrospectionCache')
  const now = o.now ?? Date.now
  const client = connection.client
  const local = new LruCache<IntrospectionAnswer>({ maxEntries: o.local.maxEntries, now })
  const localMaxTtlMs = o.local.maxTtl * 1000
  // Locks this instance holds: the verifier's own single flight covers its local callers.
  const held = new LruCache<true>({ maxEntries: o.local.maxEntries, now })
  const reads = new Map<string, Promise<IntrospectionAnswer | undefined>>()
  const owner = randomUUID()
  const counters = { localHits: 0, redisHits: 0, misses: 0, joined: 0, redisErrors: 0 }
  const valueKey = (key: string) => connection.key(`introspection:${key}`)
  const lockKey = (key: string) => connection.key(`introspection-lock:${key}`)

  const failed = (error: unknown) => {
    counters.redisErrors++
    connection.failed(error)
  }

  /** The answer in a stored value, kept locally for what is left of its TTL; undefined if unusable. */
  function adopt(key: string, raw: string | null): IntrospectionAnswer | undefined {
    if (raw === null || raw.length > o.maxValueBytes) return undefined
    let stored: Stored
    try {
      stored = JSON.parse(raw) as Stored
    } catch {
      return undefined
    }
    if (typeof stored !== 'object' || stored === null || typeof stored.x !== 'number') return undefined
    const answer = stored.a
    if (typeof answer !== 'object' || answer === null || typeof answer.active !== 'boolean') return undefined
    const left = stored.x - now()
    if (!(left > 0)) return undefined
    local.set(key, answer, Math.min(left, localMaxTtlMs))
    return answer
  }

  async function read(key: string): Promise<IntrospectionAnswer | undefined> {
    try {
      const found = adopt(key, await client.get(valueKey(key)))
      connection.succeeded()
      if (found !== undefined) {
        counters.redisHits++
        return found
      }
      if (o.lock === false) {
        counters.misses++
        return undefined
      }
      const taken = await client.set(lockKey(key), owner, 'PX', o.lock.ttlMs, 'NX')
      if (taken === 'OK') {
        held.set(key, true, o.lock.ttlMs)
        counters.misses++
        return undefined
      }
      // Another instance is asking the authorization server: wait for its answer.
      const deadline = now() + o.lock.waitMs
      let pause = POLL_FIRST_MS
      while (now() < deadline) {
        await sleep(Math.min(pause, Math.max(1, deadline - now())))
        pause = Math.min(pause * 2, POLL_MAX_MS)
        const answer = local.get(key) ?? adopt(key, await client.get(valueKey(key)))
        if (answer !== undefined) {
          counters.joined++
          return answer
        }
      }
      counters.misses++
      return undefined
    } catch (error) {
      failed(error)
      counters.misses++
      return undefined
    }
  }

  return {
    get(key: string): IntrospectionAnswer | undefined | Promise<IntrospectionAnswer | undefined> {
      const hit = local.get(key)
      if (hit !== undefined) {
        counters.localHits++
        return hit
      }
      if (held.get(key) !== undefined) return undefined // this instance is asking already
      const pending = reads.get(key)
      if (pending !== undefined) return pending
      const promise = read(key).finally(() => reads.delete(key))
      reads.set(key, promise)
      return promise
    },

    // The local copy alone: a remembered token is answered without a promise (the gate's hit path).
    peek(key: string): IntrospectionAnswer | undefined {
      const hit = local.get(key)
      if (hit !== undefined) counters.localHits++
      return hit
    },

    async set(key: string, value: IntrospectionAnswer, ttlMs: number): Promise<void> {
      if (!(ttlMs > 0)) return
      local.set(key, value, Math.min(ttlMs, localMaxTtlMs))
      const owned = held.get(key) !== undefined
      held.delete(key)
      const stored: Stored = { x: now() + ttlMs, a: value }
      try {
        // The answer first, so whoever waits finds it; then our lock, and only ours (another
        // instance may hold it since ours lapsed).
        const pipeline = client.pipeline().set(valueKey(key), JSON.stringify(stored), 'PX', Math.ceil(ttlMs))
        if (owned) pipeline.eval(RELEASE_SCRIPT, 1, lockKey(key), owner)
        const failure = ((await pipeline.exec()) ?? []).find(([error]) => error !== null)?.[0]
        if (failure) throw failure
        connection.succeeded()
      } catch (error) {
        failed(error)
      }
    },

    async delete(key: string): Promise<void> {
      local.delete(key)
      try {
        await client.del(valueKey(key))
        connection.succeeded()
      } catch (error) {
        failed(error)
      }
    },

    stats(): RedisIntrospectionCacheStats {
      return { entries: local.size, maxEntries: local.maxEntries, ...counters }
    },
  }
}

const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
