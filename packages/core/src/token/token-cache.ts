import { z } from 'zod'
import { PortcullisError } from '../support/errors.js'
import { type CacheStats, LruCache } from '../support/lru-cache.js'
import { parseOptions } from '../support/options.js'
import { isThenable } from '../support/thenable.js'
import type { AuthInfo, CachedOutcome } from './auth-info.js'
import { tokenFingerprint, tokenHash } from './fingerprint.js'
import { dpopBoundCaller } from './sender-constraint.js'
import { fingerprintOf } from './vouched.js'

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
 * Remembers verification outcomes, so a token seen again costs a map lookup instead of a signature
 * check or a network call.
 *
 * - a verified token lives until the earlier of its `exp` (plus leeway) and `maxTtl`, and `exp` is
 *   checked again on every hit;
 * - a rejected token (`invalid_token`) is remembered for `negativeTtl`, so replaying one bad token
 *   costs no crypto; `temporarily_unavailable` and other failures are never remembered;
 * - concurrent first sightings of one token share one verification.
 *
 * Keys: a verified token is keyed by its end and found only when its `AuthInfo.token` equals the
 * token presented, so a hit needs no hash (a SHA-256 per request was the largest cost of a hit)
 * and the key holds nothing the entry does not hold already. A refused token is keyed by the
 * SHA-256 of its bytes (`keyOf`): whoever sends it chose it, and a hash bounds what each of up to
 * `maxEntries` refusals holds. Both kinds share one LRU bound.
 *
 * @example
 * const cache = new TokenCache({ maxEntries: 10_000 })
 * const authInfo = await cache.verify(token, 60, (token) => verifyUncached(token))
 */
export class TokenCache {
  readonly #entries: LruCache<Entry>
  /** Verifications under way, by `verifiedKey`, so concurrent first sightings of one token share one. */
  readonly #pending = new Map<string, { token: string; promise: Promise<AuthInfo> }>()
  readonly #maxTtlMs: number
  readonly #negativeTtlMs: number
  readonly #now: () => number
  /** ms; no remembered refusal is live from this instant (the last one's end). */
  #refusalsUntil = 0

  constructor(options: TokenCacheOptions = {}) {
    const o = parseOptions(tokenCacheOptionsSchema, options, 'TokenCache')
    this.#now = o.now ?? Date.now
    this.#entries = new LruCache<Entry>({ maxEntries: o.maxEntries, now: this.#now })
    this.#maxTtlMs = o.maxTtl * 1000
    this.#negativeTtlMs = o.negativeTtl * 1000
  }

  /**
   * The key of a refused token: the full SHA-256 of its exact bytes, base64url (a twin with another
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
    const verified = this.#live(verifiedKey(token))
    if (verified !== undefined && verified.authInfo?.token === token) return verified
    // No refusal remembered lately: none can be live, so a first sighting costs no hash.
    if (this.#now() >= this.#refusalsUntil) return undefined
    return this.#live(refusedKey(token))
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
   * token back so callers need no per-call closure (the hit path allocates nothing). It may answer
   * (or throw) synchronously: that outcome is remembered before this returns, with no promise
   * between, and there is nothing under way for a concurrent sighting to share.
   */
  verify(
    token: string,
    leeway: number,
    verify: (token: string, key: string) => AuthInfo | Promise<AuthInfo>,
  ): Promise<AuthInfo> {
    const entry = this.peek(token)
    if (entry !== undefined) {
      return entry.authInfo !== undefined ? Promise.resolve(entry.authInfo) : Promise.reject(entry.error)
    }
    // A lean single-flight (SingleFlight's promise chain costs more than this whole cold path
    // outside the signature check).
    const key = verifiedKey(token)
    const pending = this.#pending.get(key)
    if (pending?.token === token) return pending.promise
    let outcome: AuthInfo | Promise<AuthInfo>
    try {
      outcome = verify(token, key)
    } catch (error) {
      return Promise.reject(this.#refused(token, leeway, error))
    }
    if (!isThenable(outcome)) return Promise.resolve(this.#verified(token, key, leeway, outcome))
    // The handlers run after the entry below is set: a settled promise calls them on a later tick.
    const promise = Promise.resolve(outcome).then(
      (authInfo) => {
        this.#settled(token, key)
        return this.#verified(token, key, leeway, authInfo)
      },
      (error: unknown) => {
        this.#settled(token, key)
        throw this.#refused(token, leeway, error)
      },
    )
    // Another token that ends alike is under way: this one is verified on its own, unshared.
    if (pending === undefined) this.#pending.set(key, { token, promise })
    return promise
  }

  #settled(token: string, key: string): void {
    if (this.#pending.get(key)?.token === token) this.#pending.delete(key)
  }

  /** Remembers a verified token until the earlier of its `exp` (plus leeway) and `maxTtl`. */
  #verified(token: string, key: string, leeway: number, authInfo: AuthInfo): AuthInfo {
    const now = this.#now()
    const validUntil =
      authInfo.expiresAt === undefined ? Number.POSITIVE_INFINITY : (authInfo.expiresAt + leeway) * 1000
    const ttl = Math.min(this.#maxTtlMs, validUntil - now)
    // The fingerprint its verifier vouched for (jwtVerifier's), else computed: no second hash.
    const fingerprint = authInfo.token === token ? fingerprintOf(authInfo) : tokenFingerprint(token)
    this.#entries.set(key, { authInfo, error: undefined, fingerprint, validUntil }, ttl)
    return authInfo
  }

  /** Remembers a refusal worth remembering, and gives the error back to be thrown. */
  #refused(token: string, leeway: number, error: unknown): unknown {
    // A DPoP-bound token is a good token refused only as Bearer: remembered as long as a good one.
    const bound = dpopBoundCaller(error)
    const validUntil =
      bound === undefined
        ? this.#now() + this.#negativeTtlMs
        : bound.expiresAt === undefined
          ? Number.POSITIVE_INFINITY
          : (bound.expiresAt + leeway) * 1000
    const ttl = Math.min(bound === undefined ? this.#negativeTtlMs : this.#maxTtlMs, validUntil - this.#now())
    // Only a verdict on the token itself is worth remembering; an outage is not (it may end now).
    if (error instanceof PortcullisError && error.code === 'invalid_token' && ttl > 0) {
      this.#refusalsUntil = Math.max(this.#refusalsUntil, this.#now() + ttl)
      this.#entries.set(
        refusedKey(token),
        { authInfo: undefined, error, fingerprint: tokenFingerprint(token), validUntil },
        ttl,
      )
    }
    return error
  }
}

/** Characters of a token that key its verified outcome: its end (a JWT's signature). */
const TAIL = 32

/**
 * A verified token's key: its last `TAIL` characters (all of a shorter one). V8 hashes a string
 * key over all its characters, and a fresh token of a few hundred costs as much as a SHA-256; its
 * end costs a tenth of that. The entry is only used when its token equals the presented one, so
 * two tokens that end alike only take each other's place.
 */
const verifiedKey = (token: string): string => (token.length <= TAIL ? token : token.slice(-TAIL))

/**
 * A refused token's key: `#` and the SHA-256 of the token, 44 characters, so never a verified key
 * (at most `TAIL`).
 */
const refusedKey = (token: string): string => `#${tokenHash(token)}`
