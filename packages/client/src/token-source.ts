import { type AccessToken, coversScopes, type TokenContext, type TokenProvider } from './access-token.js'
import { TokenRequestError } from './errors.js'
import { grantKey, type StoredGrant, type TokenStore } from './token-store.js'

export interface TokenSourceOptions {
  store: TokenStore
  /** Seconds before `expiresAt` at which a token is renewed. */
  refreshBeforeExpiry: number
  /** Seconds since the epoch. */
  now: () => number
}

let anonymous = 0

/**
 * The token one provider + store pair currently holds, and the only way to a new one. Renewals
 * are single-flight in this process (one promise that every waiter shares) and serialised across
 * processes by the store's lock; inside the lock the store is read again, so a token another
 * holder renewed meanwhile is taken instead of spending the refresh token a second time.
 */
export class TokenSource {
  readonly key: string
  readonly #provider: TokenProvider
  readonly #store: TokenStore
  readonly #margin: number
  readonly #now: () => number
  #current: AccessToken | undefined
  /** When the current token is due for renewal (seconds since the epoch). */
  #renewAt = Number.POSITIVE_INFINITY
  #flight: Promise<AccessToken> | undefined
  /** Scopes asked for after a step-up, kept for later renewals so they do not narrow again. */
  #wanted: string[] | undefined

  constructor(provider: TokenProvider, options: TokenSourceOptions) {
    this.#provider = provider
    this.#store = options.store
    this.#margin = options.refreshBeforeExpiry
    this.#now = options.now
    this.key = provider.grant === undefined ? `anonymous:${++anonymous}` : grantKey(provider.grant)
  }

  /** The held token when it is not yet due for renewal: the synchronous fast path. */
  fresh(): AccessToken | undefined {
    return this.#current !== undefined && this.#now() < this.#renewAt ? this.#current : undefined
  }

  /**
   * A usable token: the held one, or a renewed one when it is due. A renewal that fails while the
   * held token has not expired yet (the authorization server is down) falls back to the held token.
   */
  async token(): Promise<AccessToken> {
    const held = this.#current
    if (held !== undefined && this.#now() < this.#renewAt) return held
    try {
      return await this.renew(held)
    } catch (error) {
      const stillValid = held !== undefined && (held.expiresAt === undefined || this.#now() < held.expiresAt)
      if (stillValid && error instanceof TokenRequestError && error.transient && held === this.#current)
        return held
      throw error
    }
  }

  /**
   * A token other than `used` (refused or expiring) that carries `scopes` when given. Concurrent
   * callers share one renewal; a caller whose `used` token was already replaced gets the
   * replacement without any request.
   */
  renew(used: AccessToken | undefined, scopes?: readonly string[]): Promise<AccessToken> {
    const held = this.#current
    if (
      held !== undefined &&
      held.token !== used?.token &&
      this.#now() < this.#renewAt &&
      coversScopes(held, scopes)
    ) {
      return Promise.resolve(held)
    }
    const inFlight = this.#flight
    if (inFlight !== undefined) {
      return inFlight.then((token) => (coversScopes(token, scopes) ? token : this.renew(token, scopes)))
    }
    if (scopes !== undefined) this.#wanted = [...scopes]
    const flight = this.#store
      .lock(this.key, () => this.#renewLocked(used))
      .finally(() => {
        if (this.#flight === flight) this.#flight = undefined
      })
    this.#flight = flight
    return flight
  }

  /** Forgets the held token (the next request asks the store, then the provider). */
  forget(): void {
    this.#current = undefined
    this.#renewAt = Number.POSITIVE_INFINITY
  }

  async #renewLocked(used: AccessToken | undefined): Promise<AccessToken> {
    const stored = await this.#store.get(this.key)
    const wanted = this.#wanted
    const candidate = stored?.accessToken
    // Another holder (process, instance) renewed while this one waited for the lock.
    if (
      candidate !== undefined &&
      candidate.token !== used?.token &&
      candidate.token !== this.#current?.token &&
      // Not yet due by its own lifetime (from when it was saved), not merely unexpired: a
      // stored token inside the renewal window is renewed, not adopted.
      this.#now() < renewalTime(candidate, stored?.updatedAt ?? this.#now(), this.#margin) &&
      coversScopes(candidate, wanted)
    ) {
      return this.#adopt(candidate, stored?.updatedAt)
    }
    let latest: StoredGrant | undefined = stored
    const context: TokenContext = {
      ...(wanted === undefined ? {} : { scopes: wanted }),
      stored,
      save: async (grant) => {
        latest = grant
        if (grant === undefined) await this.#store.delete(this.key)
        else await this.#store.set(this.key, { ...grant, updatedAt: Math.floor(this.#now()) })
      },
    }
    const base = this.#current ?? candidate
    const token =
      base === undefined
        ? await this.#provider.getToken(context)
        : await this.#provider.refreshToken(base, context)
    checkToken(token)
    // The provider may have saved the token with its refresh token already; otherwise save it now.
    const saved = latest as StoredGrant | undefined
    if (saved?.accessToken?.token !== token.token) await context.save({ ...saved, accessToken: token })
    return this.#adopt(token)
  }

  /** Holds `token`, obtained at `obtainedAt` (seconds; default now), until its renewal time. */
  #adopt(token: AccessToken, obtainedAt?: number): AccessToken {
    const now = this.#now()
    this.#current = token
    this.#renewAt = expired(token, now)
      ? now
      : renewalTime(token, Math.min(obtainedAt ?? now, now), this.#margin)
    return token
  }
}

/** Expired, or within a second of it: not worth sending. */
function expired(token: AccessToken, now: number): boolean {
  return token.expiresAt !== undefined && token.expiresAt <= now + 1
}

/**
 * When to renew a token obtained at `obtainedAt`: `margin` seconds before expiry, but never before
 * half of its lifetime has passed, so a token that lives less than the margin is not renewed on
 * every request.
 */
function renewalTime(token: AccessToken, obtainedAt: number, margin: number): number {
  if (token.expiresAt === undefined) return Number.POSITIVE_INFINITY
  const lifetime = token.expiresAt - obtainedAt
  return token.expiresAt - Math.min(margin, lifetime / 2)
}

function checkToken(token: AccessToken): void {
  if (
    token === null ||
    typeof token !== 'object' ||
    typeof token.token !== 'string' ||
    token.token === '' ||
    !Array.isArray(token.scopes) ||
    (token.expiresAt !== undefined && !Number.isFinite(token.expiresAt))
  ) {
    throw new TokenRequestError(
      'invalid_token_response',
      'the token provider returned something that is not an AccessToken ({ token, tokenType, expiresAt?, scopes })',
    )
  }
}
