import { type DpopReplayCache, temporarilyUnavailable } from '@portcullis/core'
import { parseOptions } from '@portcullis/core/adapter'
import { z } from 'zod'
import type { RedisConnection } from './redis-connection.js'

const optionsSchema = z.strictObject({
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
})

export type RedisDpopReplayCacheOptions = z.input<typeof optionsSchema>

/**
 * A DPoP replay cache shared through Redis (RFC 9449 §11.1): every instance of a resource records
 * the proofs it accepts in one place, so a proof accepted by one is refused by all the others.
 * One `SET NX PX` per DPoP request (`<prefix>dpop:<proof id>`), lapsing when the proof leaves the
 * `iat` window; the proof id is a fixed-length hash of key thumbprint and `jti`, so a client cannot
 * grow a key.
 *
 * Redis down or refusing writes: the proof cannot be shown to be new, so the request fails closed
 * (503 with `Retry-After`) rather than risk accepting a replay another instance would have caught.
 * Commands are bounded by the connection's `commandTimeoutMs`.
 *
 * @example
 * const redis = redisConnection({ url: process.env.REDIS_URL })
 * await app.register(portcullis, { ...options, dpop: { mode: 'allowed', replayCache: redisDpopReplayCache(redis) } })
 */
export function redisDpopReplayCache(
  connection: RedisConnection,
  options: RedisDpopReplayCacheOptions = {},
): DpopReplayCache {
  const o = parseOptions(optionsSchema, options, '@portcullis/redis redisDpopReplayCache')
  const now = o.now ?? Date.now
  return {
    async firstUse(id: string, expiresAtMs: number): Promise<boolean> {
      const ttl = Math.max(1, Math.ceil(expiresAtMs - now()))
      let answer: string | null
      try {
        answer = await connection.client.set(connection.key(`dpop:${id}`), '1', 'PX', ttl, 'NX')
      } catch (error) {
        connection.failed(error)
        throw temporarilyUnavailable(
          'internal_error',
          'The DPoP replay cache cannot be reached; retry later',
          5,
          error,
        )
      }
      connection.succeeded()
      return answer === 'OK'
    },
  }
}
