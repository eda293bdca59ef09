import type { StoredGrant } from './token-store.js'

/**
 * An access token as the client holds it: the fields of the MCP SDK's `AuthInfo` that a caller
 * needs. `expiresAt` is in seconds since the epoch, as in `AuthInfo`; `scopes` are the scopes the
 * authorization server granted (RFC 6749 §5.1 `scope`, or the requested ones when it omits them).
 */
export interface AccessToken {
  token: string
  /** The scheme of the `Authorization` header: `Bearer` (RFC 6750). */
  tokenType: string
  /** Seconds since the epoch; `undefined` when the authorization server gave no `expires_in`. */
  expiresAt?: number
  scopes: string[]
}

/** Which grant a provider holds: the key of its store entry and of its single-flight refresh. */
export interface GrantIdentity {
  /** The authorization server's issuer identifier (or its token endpoint when none is known). */
  issuer: string
  clientId: string
  /** The RFC 8707 resource the tokens are for; `undefined` for a token without one. */
  resource?: string
}

/** What `authFetch` hands a provider when it asks for a token. */
export interface TokenContext {
  /**
   * Scopes wanted, when they differ from the provider's own: after a 403 `insufficient_scope`,
   * the union of the scopes held and the scopes the resource server asked for.
   */
  scopes?: readonly string[]
  /** The grant in the store for this provider, read while holding the store's lock for it. */
  stored: StoredGrant | undefined
  /** Writes the grant to the store at once (a rotated refresh token must survive a crash); `undefined` clears it. */
  save(grant: StoredGrant | undefined): Promise<void>
}

/**
 * Where tokens come from. `authFetch` calls `getToken` when it holds none and `refreshToken` when
 * the one it holds is expiring, was refused (401 `invalid_token`) or lacks scopes (403), one call
 * at a time per provider and store entry. A custom provider may ignore the context.
 */
export interface TokenProvider {
  /** The grant's identity; without it the provider's tokens are kept under a per-provider key. */
  readonly grant?: GrantIdentity
  getToken(context: TokenContext): Promise<AccessToken>
  refreshToken(current: AccessToken | undefined, context: TokenContext): Promise<AccessToken>
}

/** Scopes from a space-separated list (RFC 6749 §3.3), without empty entries or repeats. */
export function splitScopes(value: string | undefined): string[] {
  if (value === undefined) return []
  return [...new Set(value.split(' ').filter((scope) => scope !== ''))]
}

/** True when `token` carries every scope in `wanted`. */
export function coversScopes(token: AccessToken, wanted: readonly string[] | undefined): boolean {
  if (wanted === undefined || wanted.length === 0) return true
  const held = new Set(token.scopes)
  return wanted.every((scope) => held.has(scope))
}

/** The union of two scope lists, in order of first appearance. */
export function unionScopes(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])]
}
