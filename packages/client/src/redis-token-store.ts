import { createHash, randomBytes } from 'node:crypto'
import { parseOptions } from '@portcullis/core/adapter'
import type { RedisConnection } from '@portcullis/redis'
import { z } from 'zod'
import { TokenRequestError } from './errors.js'
import type { StoredGrant, TokenStore } from './token-store.js'

export interface RedisTokenStoreOptions {
  /** Longest wait for a lock another instance holds, in ms. Default 30,000. */
  lockTimeoutMs?: number
  /** Lifetime of a lock, in ms: a holder that dies frees it after this. Default 60,000. */
  lockTtlMs?: number
}

const schema = z.strictObject({
  lockTimeoutMs: z.number().int().positive().max(600_000).default(30_000),
  lockTtlMs: z.number().int().positive().max(600_000).default(60_000),
})

// Deletes the lock only if it is still ours: a lock that expired and was taken by another holder
// must not be freed by the first one.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

/**
 * Grants in Redis, shared by a fleet of instances of one client, on the connection of
 * `@portcullis/redis` (its key prefix, bounded commands). Keys hold a hash of the grant key, never
 * a token; values are the grant as JSON. `lock` is a Redis lock (`SET NX PX`, released only by its
 * holder), so one instance at a time refreshes and a rotated refresh token is used once fleet-wide.
 * Unlike the resource-server parts, this store fails closed: without Redis there is no grant.
 *
 * @example
 * const store = redisTokenStore(redisConnection({ url: process.env.REDIS_URL }))
 */
export function redisTokenStore(
  connection: RedisConnection,
  options: RedisTokenStoreOptions = {},
): TokenStore {
  const o = parseOptions(schema, options, 'redisTokenStore')
  const name = (key: string, kind: 'grant' | 'lock') =>
    connection.key(`client:${kind}:${createHash('sha256').update(key).digest('base64url')}`)

  const command = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      const result = await run()
      connection.succeeded()
      return result
    } catch (error) {
      connection.failed(error)
      throw new TokenRequestError('store', `redisTokenStore: ${what} failed: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }

  return {
    async get(key) {
      const text = await command('read', () => connection.client.get(name(key, 'grant')))
      if (text === null) return undefined
      try {
        return JSON.parse(text) as StoredGrant
      } catch (error) {
        throw new TokenRequestError('store', 'redisTokenStore: a stored grant is not JSON', { cause: error })
      }
    },
    async set(key, grant) {
      await command('write', () => connection.client.set(name(key, 'grant'), JSON.stringify(grant)))
    },
    async delete(key) {
      await command('delete', () => connection.client.del(name(key, 'grant')))
    },
    async lock(key, fn) {
      const lockName = name(key, 'lock')
      const owner = randomBytes(16).toString('base64url')
      const deadline = Date.now() + o.lockTimeoutMs
      for (let attempt = 0; ; attempt++) {
        let taken = false
        try {
          taken =
            (await command('lock', () => connection.client.set(lockName, owner, 'PX', o.lockTtlMs, 'NX'))) ===
            'OK'
        } catch (error) {
          // A slow Redis: keep trying until the deadline. A SET that timed out may still have
          // landed, so the next round also checks whether the lock is ours already.
          if (Date.now() >= deadline) throw error
        }
        if (!taken && attempt > 0) {
          taken = (await command('lock', () => connection.client.get(lockName)).catch(() => null)) === owner
        }
        if (taken) break
        if (Date.now() >= deadline) {
          throw new TokenRequestError(
            'store',
            `redisTokenStore: the grant stayed locked for more than ${o.lockTimeoutMs} ms`,
          )
        }
        await new Promise((r) => setTimeout(r, Math.min(10 * 2 ** Math.min(attempt, 4), 150)))
      }
      try {
        return await fn()
      } finally {
        await command('unlock', () => connection.client.eval(RELEASE, 1, lockName, owner)).catch(() => {})
      }
    },
  }
}
