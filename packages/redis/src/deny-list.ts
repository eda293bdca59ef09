import { randomUUID } from 'node:crypto'
import {
  type AuthInfo,
  type DenyList,
  MemoryDenyList,
  type Revocation,
  type RevocationInput,
  revocationFromKey,
  revocationKey,
  revocationOf,
} from '@portcullis/core'
import { parseOptions } from '@portcullis/core/adapter'
import { z } from 'zod'
import { DenyListStore } from './deny-list-store.js'
import type { RedisConnection } from './redis-connection.js'

const optionsSchema = z.strictObject({
  /** Most revocations held (in Redis and in each instance). Default 100,000. */
  maxEntries: z.number().int().positive().max(10_000_000).default(100_000),
  /** Lifetime of a revocation given without `expiresAt`, in seconds. Default one day. */
  defaultTtl: z.number().int().positive().max(31_536_000).default(86_400),
  /**
   * Seconds between checks that the local copy is complete (one pipelined read; the full list
   * only when it changed or was lost). The bound on how late an instance learns of a revocation
   * whose pub/sub message it missed. Default 2.
   */
  resyncInterval: z.number().positive().max(3600).default(2),
  /**
   * Seconds without a successful check after which every token is refused (503,
   * `revocation_unavailable`). Default `false`: keep enforcing the last known list for as long as
   * Redis is away (see the README for the trade-off).
   */
  failClosedAfter: z.union([z.literal(false), z.number().positive().max(86_400)]).default(false),
  /** Retry-After of those 503s, and of those before the list is first loaded, in seconds. */
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
  /** Times the set in Redis was found lost or replaced (evicted, deleted, flushed) and restored. */
  restored: number
}

/** A deny list shared through Redis. */
export interface RedisDenyList extends DenyList {
  /**
   * Revokes a token on every instance: at once on this one, within `resyncInterval` on the others
   * (usually milliseconds, by pub/sub). `shared` is false when Redis could not be written (down,
   * full, refused): the revocation holds here and is written when Redis takes it. `published`
   * says whether the running instances were told by pub/sub (it goes out even when the write
   * fails).
   */
  revoke(input: RevocationInput): Promise<{ revocation: Revocation; shared: boolean; published: boolean }>
  /** Checks the local copy against Redis now (the periodic check does this on its own). */
  sync(): Promise<boolean>
  /**
   * True once the list is known (first loaded from Redis, and confirmed since within
   * `failClosedAfter`): until then every token is answered 503. For readiness checks.
   */
  readonly ready: boolean
  /** Resolves true once `ready`, false if not within `timeoutMs`. */
  whenReady(timeoutMs?: number): Promise<boolean>
  stats(): RedisDenyListStats
  /** Stops the periodic check and the subscription's effect. */
  close(): void
}

const MAX_MESSAGE_BYTES = 8 * 1024

const JTI_NEEDS_ISSUER =
  '@portcullis/redis redisDenyList.revoke: a jti revocation needs its "issuer" (a jti is unique only per issuer, RFC 7519 §4.1.7, and this list is shared by every deployment on the Redis)'

/**
 * A deny list of revoked tokens that every instance honours: each instance holds the whole list
 * in memory (a `MemoryDenyList`, so the check on each request is two map reads, cache hits
 * included) and keeps it in step with Redis (layout: `DenyListStore`).
 *
 * - `revoke` writes the revocation and bumps the version, then publishes it (apart from the
 *   write, so it goes out when Redis refuses writes); every instance adds it when it arrives.
 * - Every `resyncInterval` (2 s) each instance reads the version and checks that the set still
 *   holds the epoch it knows; when either moved, or after the subscriber reconnects, it reads the
 *   whole list in pages. A missed message, or a set evicted, deleted or flushed, is caught within
 *   that bound.
 * - Revocations are only ever added (they lapse past `exp` plus the clock tolerance), so a full
 *   read merges both ways: what this instance holds and Redis lacks is written back.
 * - Until the first full read (and, when Redis held no list, one more interval for the other
 *   instances to write theirs back), the list vouches for no token: the gate answers 503.
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
  const local = new MemoryDenyList({ maxEntries: o.maxEntries, now })
  const store = new DenyListStore(connection)
  const resyncMs = o.resyncInterval * 1000
  const failClosedAfterMs = o.failClosedAfter === false ? undefined : o.failClosedAfter * 1000

  let lastSyncAt: number | undefined
  /** Loaded: a full read succeeded, and `settleUntil` has passed. */
  let loaded = false
  /** After finding no list in Redis, a fresh instance waits this long for the others to restore it. */
  let settleUntil = 0
  /** The epoch and version the local copy matches; undefined: read the whole list at the next check. */
  let known: { epoch: string; version: number | undefined } | undefined
  /** Revocations this instance holds that Redis may lack. */
  let unwritten = false
  let dropped = 0
  let restored = 0
  let syncing: Promise<boolean> | undefined
  let closed = false

  // Only ever adds: a message that arrives while the whole list is read is never lost to it.
  const remember = (revocation: Revocation): boolean => {
    try {
      return local.add(revocation)
    } catch {
      dropped++
      return false
    }
  }

  /** Our own write, or a message, moved the version by one from what we match: still in step. */
  const advance = (from: number | undefined, to: number) => {
    if (known !== undefined && known.version !== undefined && from === known.version) known.version = to
  }

  connection.subscribe(
    store.channel,
    (message) => {
      const parsed = parseMessage(message)
      if (parsed === undefined) return
      remember(parsed.revocation)
      if (parsed.version !== undefined) advance(parsed.version - 1, parsed.version)
    },
    () => {
      // Messages sent while unsubscribed are lost: read the whole list.
      if (known !== undefined) known.version = undefined
      void sync()
    },
  )
  const onUp = () => void sync()
  connection.on('up', onUp)

  const timer = setInterval(() => void sync(), resyncMs)
  timer.unref()

  async function write(revocations: readonly Revocation[]): Promise<void> {
    const before = known?.version
    const versions = await store.write(revocations, Math.floor(now() / 1000))
    let from = before
    for (const version of versions) {
      advance(from, version)
      from = version
    }
  }

  async function fullSync(): Promise<void> {
    const droppedBefore = dropped
    dropped = 0
    const meta = await store.meta(undefined)
    const remote = await store.readAll(remember)
    if (dropped > 0 && droppedBefore === 0) {
      connection.log?.error(
        { dropped, maxEntries: o.maxEntries },
        'portcullis: Redis holds more revocations than the deny list keeps (maxEntries)',
      )
    }
    const intact = meta.epoch !== undefined && remote.epochs.has(meta.epoch)
    const replaced = !intact || (known !== undefined && known.epoch !== meta.epoch)
    known = { epoch: meta.epoch ?? '', version: meta.version }
    // A list named lately may be a lost one being restored: a fresh instance waits until the
    // others had two checks to write back what they hold.
    if (!loaded) settleUntil = Math.max(settleUntil, (intact ? (meta.since ?? 0) : now()) + 2 * resyncMs)
    // Every revocation read is held here now: only a larger local copy can hold more.
    const missing =
      local.size > remote.keys.size ? local.entries().filter((r) => !remote.keys.has(revocationKey(r))) : []
    // The list is read: a write that fails now (Redis full, refused) is retried at the next check
    // and does not make this one fail.
    try {
      if (missing.length > 0) {
        await write(missing)
        if (replaced && lastSyncAt !== undefined) {
          connection.log?.warn(
            { revocations: missing.length },
            'portcullis: the deny list in Redis was lost (evicted, deleted or flushed); wrote back the revocations this instance holds',
          )
        } else {
          connection.log?.info(
            { revocations: missing.length },
            'portcullis: wrote back revocations that Redis did not hold (made during an outage)',
          )
        }
      }
      if (intact) return
      // No list, or not the one the meta hash names: new, evicted, deleted or flushed. Name a new
      // one: every instance sees the epoch move, reads the list, and writes back what it holds.
      const epoch = randomUUID()
      await store.stamp(epoch, now())
      known = { epoch, version: undefined }
      restored++
    } catch (error) {
      unwritten = true
      known = undefined
      connection.failed(error)
    }
  }

  function sync(): Promise<boolean> {
    if (closed) return Promise.resolve(false)
    syncing ??= (async () => {
      // Taken now: a revoke that fails while this sync runs sets it again, and it stays set.
      const pending = unwritten
      unwritten = false
      const startedAt = now()
      try {
        if (pending || known === undefined || known.version === undefined) await fullSync()
        else {
          const meta = await store.meta(known.epoch)
          if (meta.epoch !== known.epoch || meta.version !== known.version || !meta.holdsEpoch)
            await fullSync()
        }
        lastSyncAt = now()
        // Loaded once a check begun after the settling time confirms the copy: any write-back made
        // meanwhile moved the version, so that check read it.
        if (!loaded && startedAt >= settleUntil) loaded = true
        connection.succeeded()
        return true
      } catch (error) {
        unwritten ||= pending
        connection.failed(error)
        return false
      } finally {
        syncing = undefined
      }
    })()
    return syncing
  }

  void sync()

  const unavailableFor = (): number => {
    if (connection.status().unsupported !== undefined || !loaded) return o.retryAfter
    // The list may lack revocations made elsewhere since: refuse rather than guess.
    if (failClosedAfterMs !== undefined && now() - (lastSyncAt ?? 0) > failClosedAfterMs) return o.retryAfter
    return 0
  }

  return {
    isDenied: (auth: AuthInfo): boolean => local.isDenied(auth),
    unavailableFor,

    async revoke(input: RevocationInput) {
      const revocation = revocationOf(input, { defaultTtl: o.defaultTtl, now })
      // RFC 7519 §4.1.7: a jti is unique only within its issuer. The list is shared by every
      // deployment on this Redis and prefix, so a jti alone would refuse another issuer's tokens.
      if ('jti' in revocation && revocation.issuer === undefined) throw new TypeError(JTI_NEEDS_ISSUER)
      local.add(revocation) // throws when full: a revocation must not be lost silently
      let shared = true
      let version: number | undefined
      try {
        const versions = await store.write([revocation], Math.floor(now() / 1000))
        version = versions[0]
        advance(version === undefined ? undefined : version - 1, version ?? 0)
      } catch (error) {
        shared = false
        unwritten = true
        connection.failed(error)
      }
      let published = true
      try {
        await store.publish([revocation], version)
      } catch (error) {
        published = false
        connection.failed(error)
      }
      if (shared || published) connection.succeeded()
      return { revocation, shared, published }
    },

    sync,

    get ready() {
      return unavailableFor() === 0
    },

    async whenReady(timeoutMs = 5000) {
      const deadline = now() + timeoutMs
      while (unavailableFor() > 0) {
        if (now() >= deadline || closed) return false
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, resyncMs)))
      }
      return true
    },

    stats(): RedisDenyListStats {
      return { entries: local.size, maxEntries: local.maxEntries, lastSyncAt, dropped, restored }
    },

    close() {
      closed = true
      clearInterval(timer)
      connection.off('up', onUp)
    },
  }
}

function parseMessage(message: string): { revocation: Revocation; version: number | undefined } | undefined {
  if (message.length > MAX_MESSAGE_BYTES) return undefined
  let value: unknown
  try {
    value = JSON.parse(message)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value.length < 2 || value.length > 3) return undefined
  const [key, expiresAt, version] = value as unknown[]
  if (typeof key !== 'string' || typeof expiresAt !== 'number') return undefined
  if (version !== undefined && !Number.isSafeInteger(version)) return undefined
  const revocation = revocationFromKey(key, expiresAt)
  return revocation === undefined ? undefined : { revocation, version: version as number | undefined }
}
