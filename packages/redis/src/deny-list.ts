import {
  type AuthInfo,
  type DenyList,
  MemoryDenyList,
  parseOptions,
  type Revocation,
  type RevocationInput,
  revocationFromKey,
  revocationKey,
  revocationOf,
  temporarilyUnavailable,
} from '@portcullis/core'
import { z } from 'zod'
import type { RedisConnection } from './redis-connection.js'

const optionsSchema = z.strictObject({
  /** Most revocations held (in Redis and in each instance). Default 100,000. */
  maxEntries: z.number().int().positive().max(10_000_000).default(100_000),
  /** Lifetime of a revocation given without `expiresAt`, in seconds. Default one day. */
  defaultTtl: z.number().int().positive().max(31_536_000).default(86_400),
  /**
   * Seconds between checks that the local copy is complete (a version read; the full list only
   * when it changed). The bound on how late an instance learns of a revocation whose pub/sub
   * message it missed. Default 2.
   */
  resyncInterval: z.number().positive().max(3600).default(2),
  /**
   * Seconds without a successful check after which every token is refused (503,
   * `revocation_unavailable`). Default `false`: keep enforcing the last known list for as long as
   * Redis is away (see the README for the trade-off).
   */
  failClosedAfter: z.union([z.literal(false), z.number().positive().max(86_400)]).default(false),
  /** Retry-After of those 503s, in seconds. */
  retryAfter: z.number().int().positive().max(3600).default(5),
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
})

export type RedisDenyListOptions = z.input<typeof optionsSchema>

export interface RedisDenyListStats {
  entries: number
  maxEntries: number
  /** When the local copy was last confirmed complete (ms since the epoch), `undefined` before the first time. */
  lastSyncAt: number | undefined
  /** Revocations that did not fit (`maxEntries`): more are stored in Redis than this instance holds. */
  dropped: number
}

/** A deny list shared through Redis. */
export interface RedisDenyList extends DenyList {
  /**
   * Revokes a token on every instance: at once on this one, within `resyncInterval` on the others
   * (usually milliseconds, by pub/sub). `shared` is false when Redis could not be written: the
   * revocation holds on this instance and is written when Redis answers again.
   */
  revoke(input: RevocationInput): Promise<{ revocation: Revocation; shared: boolean }>
  /** Checks the local copy against Redis now (the periodic check does this on its own). */
  sync(): Promise<boolean>
  stats(): RedisDenyListStats
  /** Stops the periodic check and the subscription's effect. */
  close(): void
}

const MAX_MESSAGE_BYTES = 8 * 1024
const MAX_PUBLISHED = 100

/**
 * A deny list of revoked tokens that every instance honours: each instance holds the whole list
 * in memory (a `MemoryDenyList`, so the check on each request is two map reads, cache hits
 * included) and keeps it in step with Redis.
 *
 * - `revoke` writes the revocation (a sorted set scored by expiry, so expired ones are trimmed),
 *   bumps a version counter and publishes it; every instance adds it when the message arrives.
 * - Every `resyncInterval` (2 s) each instance reads the version; when it moved, or after the
 *   subscriber reconnects, it reads the whole list. A missed message is caught within that bound.
 * - Revocations are only ever added (they lapse at `expiresAt`), so a check merges both ways:
 *   what this instance holds and Redis lacks (Redis restarted empty, or a revoke made during an
 *   outage) is written back.
 * - Redis down: the last known list stays in force and revocations made on this instance apply
 *   here at once. With `failClosedAfter`, tokens are refused once the list is that stale.
 *
 * @example
 * const denyList = redisDenyList(redis)
 * await app.register(portcullis, { resource, authorizationServers, verifier, denyList })
 * await denyList.revoke({ fingerprint: 'q3M1b2xY4n8AaC0d' }) // from a log line
 * await denyList.revoke({ jti: claims.jti, issuer: claims.iss, expiresAt: claims.exp })
 */
export function redisDenyList(
  connection: RedisConnection,
  options: RedisDenyListOptions = {},
): RedisDenyList {
  const o = parseOptions(optionsSchema, options, '@portcullis/redis redisDenyList')
  const now = o.now ?? Date.now
  const client = connection.client
  const local = new MemoryDenyList({ maxEntries: o.maxEntries, now })
  const setKey = connection.key('deny')
  const versionKey = connection.key('deny:version')
  const channel = connection.key('deny')
  const failClosedAfterMs = o.failClosedAfter === false ? undefined : o.failClosedAfter * 1000
  const createdAt = now()

  let lastSyncAt: number | undefined
  /** The version the local copy matches; undefined: read the whole list at the next check. */
  let knownVersion: number | undefined
  /** Revocations this instance holds that Redis may lack. */
  let unwritten = false
  let dropped = 0
  let syncing: Promise<boolean> | undefined
  let closed = false

  // Only ever adds: a message that arrives while the whole list is read is never lost to it.
  const remember = (revocation: Revocation) => {
    try {
      local.add(revocation)
    } catch {
      dropped++
    }
  }

  connection.subscribe(
    channel,
    (message) => {
      const revocation = parseMessage(message)
      if (revocation !== undefined) remember(revocation)
    },
    () => {
      // Messages sent while unsubscribed are lost: read the whole list.
      knownVersion = undefined
      void sync()
    },
  )

  const timer = setInterval(() => void sync(), o.resyncInterval * 1000)
  timer.unref()

  async function write(revocations: readonly Revocation[]): Promise<void> {
    const nowS = Math.floor(now() / 1000)
    const batch = client.multi()
    // GT: a repeated revocation keeps the later expiry (Redis >= 6.2).
    for (const r of revocations) batch.zadd(setKey, 'GT', r.expiresAt, revocationKey(r))
    batch.zremrangebyscore(setKey, '-inf', nowS).incr(versionKey)
    // A large write-back is announced by the version alone: each instance then reads the list once.
    if (revocations.length <= MAX_PUBLISHED) {
      for (const r of revocations) batch.publish(channel, JSON.stringify([revocationKey(r), r.expiresAt]))
    }
    const results = await batch.exec()
    const failure = results?.find(([error]) => error !== null)?.[0]
    if (results === null || failure) throw failure ?? new Error('transaction discarded')
  }

  async function fullSync(): Promise<void> {
    const droppedBefore = dropped
    dropped = 0
    const nowS = Math.floor(now() / 1000)
    const results = await client
      .multi()
      .zrevrangebyscore(setKey, '+inf', `(${nowS}`, 'WITHSCORES', 'LIMIT', 0, o.maxEntries)
      .get(versionKey)
      .exec()
    const [members, version] = (results ?? []).map(([error, value]) => {
      if (error) throw error
      return value
    }) as [string[], string | null]
    const remote = new Set<string>()
    for (let i = 0; i + 1 < members.length; i += 2) {
      const revocation = revocationFromKey(members[i]!, Number(members[i + 1]))
      if (revocation === undefined) continue
      remote.add(members[i]!)
      remember(revocation)
    }
    if (dropped > 0 && droppedBefore === 0) {
      connection.log?.error(
        { dropped, maxEntries: o.maxEntries },
        'portcullis: Redis holds more revocations than the deny list keeps (maxEntries); the latest-expiring are kept',
      )
    }
    const missing = local.entries().filter((r) => !remote.has(revocationKey(r)))
    if (missing.length > 0) {
      await write(missing)
      connection.log?.info(
        { revocations: missing.length },
        'portcullis: wrote back revocations that Redis did not hold (made during an outage, or Redis restarted empty)',
      )
      knownVersion = undefined // our own write moved the version: confirm at the next check
    } else {
      knownVersion = Number(version ?? 0)
    }
    unwritten = false
  }

  function sync(): Promise<boolean> {
    if (closed) return Promise.resolve(false)
    syncing ??= (async () => {
      try {
        const version = Number((await client.get(versionKey)) ?? 0)
        if (unwritten || knownVersion === undefined || version !== knownVersion) await fullSync()
        lastSyncAt = now()
        connection.succeeded()
        return true
      } catch (error) {
        connection.failed(error)
        return false
      } finally {
        syncing = undefined
      }
    })()
    return syncing
  }

  void sync()

  return {
    isDenied(auth: AuthInfo): boolean {
      if (failClosedAfterMs !== undefined && now() - (lastSyncAt ?? createdAt) > failClosedAfterMs) {
        // The list may lack revocations made elsewhere since: refuse rather than guess.
        throw temporarilyUnavailable(
          'revocation_unavailable',
          'The list of revoked tokens cannot be confirmed right now; retry later',
          o.retryAfter,
        )
      }
      return local.isDenied(auth)
    },

    async revoke(input: RevocationInput) {
      const revocation = revocationOf(input, { defaultTtl: o.defaultTtl, now })
      local.add(revocation) // throws when full: a revocation must not be lost silently
      try {
        await write([revocation])
        connection.succeeded()
        return { revocation, shared: true }
      } catch (error) {
        unwritten = true
        connection.failed(error)
        return { revocation, shared: false }
      }
    },

    sync,

    stats(): RedisDenyListStats {
      return { entries: local.size, maxEntries: local.maxEntries, lastSyncAt, dropped }
    },

    close() {
      closed = true
      clearInterval(timer)
    },
  }
}

function parseMessage(message: string): Revocation | undefined {
  if (message.length > MAX_MESSAGE_BYTES) return undefined
  let value: unknown
  try {
    value = JSON.parse(message)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value.length !== 2) return undefined
  const [key, expiresAt] = value as unknown[]
  return typeof key === 'string' && typeof expiresAt === 'number'
    ? revocationFromKey(key, expiresAt)
    : undefined
}
