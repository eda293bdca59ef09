import { createHash } from 'node:crypto'
import { type AttemptLimiter, AttemptWindows } from '@portcullis/core'
import { parseOptions } from '@portcullis/core/adapter'
import { z } from 'zod'
import type { RedisConnection } from './redis-connection.js'

const optionsSchema = z.strictObject({
  /** Refused tokens one address may present per window, across all instances. */
  maxAttempts: z.number().int().positive().max(1_000_000),
  /** Window length, in seconds. */
  window: z.number().int().positive().max(86_400),
  /**
   * Most addresses counted per window, in Redis (one hash per window) and in each instance's local
   * table. Past it, new addresses are counted by each instance alone: an attacker rotating
   * addresses cannot grow Redis without bound (and so cannot push other keys out of it).
   */
  maxAddresses: z.number().int().positive().max(10_000_000).default(100_000),
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
})

export type RedisAttemptLimiterOptions = z.input<typeof optionsSchema>

export interface RedisAttemptLimiterStats {
  /** Addresses this instance tracks now (bounded by `maxAddresses`). */
  addresses: number
  maxAddresses: number
  /** Failures counted here only because Redis did not answer. */
  countedLocally: number
}

// One round trip: count the address in this window's hash unless the hash is full (then -1), make
// the hash lapse when the window closes, and announce the address that reaches the limit (pcall:
// an ACL user without the channel still counts).
const COUNT_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[3]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  return {-1, 0}
end
local count = redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
if count == tonumber(ARGV[2]) then redis.pcall('PUBLISH', ARGV[4], cjson.encode({ARGV[3], count, ttl})) end
return {count, ttl}
`

const MAX_MESSAGE_BYTES = 1024

/**
 * An `AttemptLimiter` shared through Redis: refused tokens are counted per client address in
 * fixed windows aligned on the clock (one hash per window, `<prefix>attempts:<resource hash>:<window
 * number>` for each gate's resource, so deployments sharing a Redis and a prefix count apart; each
 * hash holding at most `maxAddresses` addresses and lapsing with the window; one script call per
 * refusal, nothing on accepted requests).
 *
 * The address that reaches the limit is announced by pub/sub, so every instance answers it 429
 * from then on without asking Redis: the check on each request stays a local map read. An instance
 * that missed the announcement learns at that address's next refusal there.
 *
 * Redis down: each instance counts on its own (so an address may get up to `maxAttempts` per
 * instance) and says so through the connection's status; the limiter never refuses a request
 * because Redis is unreachable.
 *
 * @example
 * const attemptLimiter = redisAttemptLimiter(redis, { maxAttempts: 20, window: 60 })
 * await app.register(portcullis, { resource, authorizationServers, verifier, attemptLimiter })
 */
export function redisAttemptLimiter(
  connection: RedisConnection,
  options: RedisAttemptLimiterOptions,
): RedisAttemptLimiter {
  const o = parseOptions(optionsSchema, options, '@portcullis/redis redisAttemptLimiter')
  const windowMs = o.window * 1000
  const stats = { countedLocally: 0 }
  const scopes = new Map<string, Scope>()

  const scope = (name: string): Scope => {
    let counted = scopes.get(name)
    if (counted === undefined) {
      counted = countIn(connection, o, windowMs, name, stats)
      scopes.set(name, counted)
    }
    return counted
  }

  // A scope (its hash and its channel subscription) is made when first used (the gate asks
  // `forResource` when it is created): a limiter only ever used per resource never subscribes to
  // the resource-less channel.
  const limiterOf = (name: string): RedisAttemptLimiter => ({
    retryAfter: (address: string) => scope(name).windows.retryAfter(address),
    recordFailure: (address: string) => scope(name).recordFailure(address),
    // Two deployments on one Redis (the same keyPrefix) count apart: each gate's resource names its
    // own hash and channel, so one deployment's refusals never answer 429 on the other.
    forResource(resource: string): RedisAttemptLimiter {
      if (scopes.size >= MAX_RESOURCES && !scopes.has(resourceScope(resource)))
        throw new Error(
          `@portcullis/redis redisAttemptLimiter: one limiter serves at most ${MAX_RESOURCES} resources; create one per group of gates`,
        )
      const name = resourceScope(resource)
      scope(name)
      return limiterOf(name)
    },
    stats: () => ({
      addresses: [...scopes.values()].reduce((sum, counted) => sum + counted.windows.size, 0),
      maxAddresses: o.maxAddresses,
      countedLocally: stats.countedLocally,
    }),
  })

  return limiterOf('')
}

/** A shared `AttemptLimiter`; the one `forResource` returns counts that resource's refusals alone. */
export interface RedisAttemptLimiter extends AttemptLimiter {
  forResource(resource: string): RedisAttemptLimiter
  stats(): RedisAttemptLimiterStats
}

/** Gates served by one process; each is one hash and one channel per window. */
const MAX_RESOURCES = 1000

interface Scope {
  windows: AttemptWindows
  recordFailure(address: string): Promise<void>
}

/** The key part a gate's resource is counted under: `attempts:<this><window>`. */
function resourceScope(resource: string): string {
  return `${createHash('sha256').update(resource).digest('base64url').slice(0, 22)}:`
}

function countIn(
  connection: RedisConnection,
  o: z.output<typeof optionsSchema>,
  windowMs: number,
  name: string,
  stats: { countedLocally: number },
): Scope {
  const windows = new AttemptWindows({
    maxAttempts: o.maxAttempts,
    window: o.window,
    maxAddresses: o.maxAddresses,
    ...(o.now === undefined ? {} : { now: o.now }),
  })
  const channel = connection.key(`attempts${name === '' ? '' : `:${name.slice(0, -1)}`}`)

  connection.subscribe(
    channel,
    (message) => {
      const blocked = parseMessage(message)
      if (blocked !== undefined) windows.observe(blocked.address, blocked.count, blocked.resetInMs)
    },
    () => {},
  )

  return {
    windows,
    async recordFailure(address: string): Promise<void> {
      const nowMs = (o.now ?? Date.now)()
      const window = Math.floor(nowMs / windowMs)
      try {
        const [count, resetInMs] = (await connection.client.eval(
          COUNT_SCRIPT,
          1,
          connection.key(`attempts:${name}${window}`),
          (window + 1) * windowMs - nowMs,
          o.maxAttempts,
          address,
          channel,
          o.maxAddresses,
        )) as [number, number]
        connection.succeeded()
        if (count < 0) {
          // This window's hash is full: count here alone rather than grow Redis.
          stats.countedLocally++
          windows.recordFailure(address)
          return
        }
        windows.observe(address, count, resetInMs)
      } catch (error) {
        connection.failed(error)
        stats.countedLocally++
        windows.recordFailure(address)
      }
    },
  }
}

function parseMessage(message: string): { address: string; count: number; resetInMs: number } | undefined {
  if (message.length > MAX_MESSAGE_BYTES) return undefined
  try {
    const [address, count, resetInMs] = JSON.parse(message) as unknown[]
    if (typeof address !== 'string' || typeof count !== 'number' || typeof resetInMs !== 'number')
      return undefined
    return { address, count, resetInMs }
  } catch {
    return undefined
  }
}
