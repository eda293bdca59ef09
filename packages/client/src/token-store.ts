import type { AccessToken, GrantIdentity } from './access-token.js'

/**
 * What a store keeps for one grant (one issuer + client + resource). Every field is optional: a
 * client-credentials grant keeps only its access token, a refresh grant its refresh token too, the
 * SDK adapter its registration and PKCE state in `sdk`.
 */
export interface StoredGrant {
  accessToken?: AccessToken
  /** The current refresh token: after rotation (OAuth 2.1 §4.3.1) the only one that still works. */
  refreshToken?: string
  /** Scopes of the grant as the authorization server granted them. */
  scopes?: string[]
  /** Fingerprint of the refresh token this entry was first seeded from (never the token). */
  seededFrom?: string
  /** When a refused grant was cleared (seconds since the epoch): the seed must not be used again. */
  clearedAt?: number
  /** The MCP SDK's OAuth state (client information, tokens, PKCE verifier, discovery), for the SDK adapter. */
  sdk?: Record<string, unknown>
  /** Seconds since the epoch of the last write. */
  updatedAt?: number
}

/**
 * Where grants live between requests and between runs. `lock` serialises everything done for one
 * key (across processes for the file and Redis stores), so a rotated refresh token is read, used
 * and replaced by one holder at a time. `set` and `delete` may be called inside or outside `lock`.
 */
export interface TokenStore {
  get(key: string): Promise<StoredGrant | undefined>
  set(key: string, grant: StoredGrant): Promise<void>
  delete(key: string): Promise<void>
  lock<T>(key: string, fn: () => Promise<T>): Promise<T>
}

/** The store key of a grant: one entry per issuer + client + resource. */
export function grantKey(grant: GrantIdentity): string {
  return JSON.stringify([grant.issuer, grant.clientId, grant.resource ?? null])
}

/** Serialises async work per key within this process (a FIFO chain of promises per key). */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    const result = previous.then(fn, fn)
    const tail = result.catch(() => {})
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return result
  }
}

/**
 * A store in this process's memory: grants last as long as the process. Entries are copied in and
 * out, so a caller cannot change a stored grant by mutating what it got.
 */
export function memoryTokenStore(): TokenStore {
  const entries = new Map<string, StoredGrant>()
  const mutex = new KeyedMutex()
  return {
    async get(key) {
      const entry = entries.get(key)
      return entry === undefined ? undefined : structuredClone(entry)
    },
    async set(key, grant) {
      entries.set(key, structuredClone(grant))
    },
    async delete(key) {
      entries.delete(key)
    },
    lock: (key, fn) => mutex.run(key, fn),
  }
}
