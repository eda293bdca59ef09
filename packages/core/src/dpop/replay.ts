import { createHash } from 'node:crypto'
import { temporarilyUnavailable } from '../support/errors.js'

/**
 * Remembers DPoP proofs already presented, so each is used at most once (RFC 9449 §4.3 step 12,
 * §11.1). A proof is identified by its key and `jti`; it needs remembering only until its `iat`
 * leaves the acceptance window, after which the window check refuses it anyway.
 *
 * `MemoryDpopReplayCache` serves one process; `@portcullis/redis`'s `redisDpopReplayCache` lets
 * several instances refuse each other's replays.
 */
export interface DpopReplayCache {
  /**
   * Records `id` until `expiresAtMs`: true when it was not seen before, false for a replay. May
   * throw (or reject) a `temporarily_unavailable` PortcullisError when it cannot decide: the
   * request then fails closed with 503.
   */
  firstUse(id: string, expiresAtMs: number): boolean | Promise<boolean>
}

/**
 * The identity of a proof in a replay cache: 128 bits of a SHA-256 of key thumbprint and `jti`
 * (22 characters, whatever the client sends), so a cache holds many proofs in little memory and a
 * collision, which would refuse a fresh proof as a replay, stays out of reach.
 */
export function dpopProofId(jkt: string, jti: string): string {
  return createHash('sha256')
    .update(jkt)
    .update('\0')
    .update(jti)
    .digest()
    .subarray(0, 16)
    .toString('base64url')
}

export interface MemoryDpopReplayCacheOptions {
  /**
   * Most proofs remembered at once. Default 1,000,000 (about 100 MB when full): with the default
   * 300 s window, room for about 3,300 DPoP requests a second on one instance.
   */
  maxEntries?: number
  /** Clock in milliseconds (tests). */
  now?: () => number
}

/**
 * A bounded in-memory replay cache. When full of proofs that are all still within their window it
 * refuses new ones with 503 rather than forget one that could then be replayed: fail closed.
 */
export class MemoryDpopReplayCache implements DpopReplayCache {
  readonly #seen = new Map<string, number>()
  readonly #max: number
  readonly #now: () => number
  #sweptAt = Number.NEGATIVE_INFINITY

  constructor(options: MemoryDpopReplayCacheOptions = {}) {
    const max = options.maxEntries ?? 1_000_000
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new TypeError('MemoryDpopReplayCache: maxEntries must be a positive integer')
    }
    this.#max = max
    this.#now = options.now ?? Date.now
  }

  get size(): number {
    return this.#seen.size
  }

  firstUse(id: string, expiresAtMs: number): boolean {
    const now = this.#now()
    const until = this.#seen.get(id)
    if (until !== undefined && until > now) return false
    if (until === undefined && this.#seen.size >= this.#max) {
      // At most one sweep a second: a cache full of live proofs must not cost O(n) per request.
      if (now - this.#sweptAt >= 1000) this.#sweep(now)
      if (this.#seen.size >= this.#max) {
        throw temporarilyUnavailable('internal_error', 'the DPoP replay cache is full', 5)
      }
    }
    this.#seen.delete(id)
    this.#seen.set(id, expiresAtMs)
    return true
  }

  /** Drops every expired entry: only when full, so its cost is spread over many inserts. */
  #sweep(now: number): void {
    this.#sweptAt = now
    for (const [id, until] of this.#seen) if (until <= now) this.#seen.delete(id)
  }
}
