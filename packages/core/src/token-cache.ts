import { z } from 'zod'
import type { AuthInfo, CachedOutcome } from './auth-info.js'
import { PortcullisError } from './errors.js'
import { tokenFingerprint, tokenHash } from './fingerprint.js'
import { type CacheStats, LruCache } from './lru-cache.js'
import { parseOptions } from './options.js'
import { dpopBoundCaller } from './sender-constraint.js'

export const tokenCacheOptionsSchema = z.strictObject({
  /** Most tokens remembered. */
  maxEntries: z.number().int().positive().max(10_000_000).default(10_000),
  /** Longest a verified token is reused, in seconds (never past its `exp`). */
  maxTtl: z.number().nonnegative().max(86_400).default(300),
  /** How long a rejected token is remembered, in seconds (0: not at all). */
  negativeTtl: z.number().nonnegative().max(3600).default(5),
  now: z.custom<() => number>((value) => typeof value === 'function', 'now must be a function').optional(),
})

export type TokenCacheOptions = z.input<typeof tokenCacheOptionsSchema>

/** A remembered outcome; handed out as is by `peek` (read-only to callers), so a hit allocates nothing. */
interface Entry extends CachedOutcome {
  /** ms; the entry is void from this instant (the token's exp plus leeway). */
  readonly validUntil: number
}

/**
 * Remembers verification outcomes by a SHA-256 of the token (never the token itself), so a token
 * seen again costs a hash and a map lookup instead of a signature check or a network call.
 *
 * - a verified token lives until the earlier of its `exp` (plus leeway) and `maxTtl`, and `exp` is
 *   checked again on every hit;
 * - a rejected token (`invalid_token`) is remembered for `negativeTtl`, so replaying one bad token
 *   costs no crypto; `temporarily_unavailable` and other failures are never remembered;
 * - concurrent first sightings of one token share one verification.
 *
 * @example
 * const cache = new TokenCache({ maxEntries: 10_000 })
 * const authInfo = await cache.verify(token, 60, (token, key) => verifyUncached(token, key))
 */
export class TokenCache {
  readonly #entries: LruCache<Entry>
  /** Verifications under way, so concurrent first sightings of one token share one. */
  readonly #pending = new Map<string, Promise<AuthInfo>>()
  readonly #maxTtlMs: number
  readonly #negativeTtlMs: number
  readonly #now: () => number

  constructor(options: TokenCacheOptions = {}) {
    const o = parseOptions(tokenCacheOptionsSchema, options, 'TokenCache')
    this.#now = o.now ?? Date.now
    this.#entries = new LruCache<Entry>({ maxEntries: o.maxEntries, now: this.#now })
    this.#maxTtlMs = o.maxTtl * 1000
    this.#negativeTtlMs = o.negativeTtl * 1000
  }

  /**
   * The cache key of a token: the full SHA-256 of its exact bytes, base64url (a twin with another
   * signature is another entry, verified on its own; both carry the same `tokenFingerprint`).
   */
  static keyOf(token: string): string {
    return tokenHash(token)
  }

  get size(): number {
    return this.#entries.size
  }

  /** Outcomes held (verified and refused), the bound, and first verifications under way. */
  stats(): CacheStats & { pending: number } {
    return { entries: this.#entries.size, maxEntries: this.#entries.maxEntries, pending: this.#pending.size }
  }

  clear(): void {
    this.#entries.clear()
  }

  /**
   * The remembered outcome for `token`, at once, or `undefined` when it has to be verified: no
   * promise, no timer. The expiry is checked again on every call, as in `verify`.
   */
  peek(token: string): CachedOutcome | undefined {
    return this.#live(tokenHash(token))
  }

  /** The entry of `key` while it is valid; a void one is dropped. */
  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (this.#now() < entry.validUntil) return entry
    this.#entries.delete(key)
    return undefined
  }

  /**
   * The remembered outcome for `token`, else the outcome of `verify(token, key)`, remembered.
   * `leeway` (seconds) is the clock tolerance the verifier applies to `exp`. `verify` gets the
   * token back so callers need no per-call closure (the hit path allocates nothing).
   */
  verify(
    token: string,
    leeway: number,
    verify: (token: string, key: string) => Promise<AuthInfo>,
  ): Promise<AuthInfo> {
    const key = tokenHash(token)
    const entry = this.#live(key)
    if (entry !== undefined) {
      return entry.authInfo !== undefined ? Promise.resolve(entry.authInfo) : Promise.reject(entry.error)
    }
    // A lean single-flight (SingleFlight's promise chain costs more than this whole cold path
    // outside the signature check): the map entry is set before the async body can finish.
    const pending = this.#pending.get(key)
    if (pending !== undefined) return pending
    const promise = this.#verifyAndRemember(token, key, leeway, verify)
    this.#pending.set(key, promise)
    return promise
  }

  async #verifyAndRemember(
    token: string,
    key: string,
    leeway: number,
    verify: (token: string, key: string) => Promise<AuthInfo>,
  ) {
    try {
      await undefined // yield once: the caller registers this promise before any outcome settles it
      const authInfo = await verify(token, key)
      const now = this.#now()
      const validUntil =
        authInfo.expiresAt === undefined ? Number.POSITIVE_INFINITY : (authInfo.expiresAt + leeway) * 1000
      const ttl = Math.min(this.#maxTtlMs, validUntil - now)
      this.#entries.set(
        key,
        { authInfo, error: undefined, fingerprint: tokenFingerprint(token), validUntil },
        ttl,
      )
      return authInfo
    } catch (error) {
      // A DPoP-bound token is a good token refused only as Bearer: remembered as long as a good one.
      const bound = dpopBoundCaller(error)
      const validUntil =
        bound === undefined
          ? this.#now() + this.#negativeTtlMs
          : bound.expiresAt === undefined
            ? Number.POSITIVE_INFINITY
            : (bound.expiresAt + leeway) * 1000
      const ttl = Math.min(
        bound === undefined ? this.#negativeTtlMs : this.#maxTtlMs,
        validUntil - this.#now(),
      )
      // Only a verdict on the token itself is worth remembering; an outage is not (it may end now).
      if (error instanceof PortcullisError && error.code === 'invalid_token' && ttl > 0) {
        this.#entries.set(
          key,
          { authInfo: undefined, error, fingerprint: tokenFingerprint(token), validUntil },
          ttl,
        )
      }
      throw error
    } finally {
      this.#pending.delete(key)
    }
  }
}
