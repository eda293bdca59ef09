import type { PortcullisError } from '../support/errors.js'

/**
 * The verified caller, in the MCP SDK's `AuthInfo` shape so it flows into both SDK lines
 * (`extra.authInfo` in 1.x, the request context in 2.x) unchanged.
 */
export interface AuthInfo {
  /** The access token as received. Never log it: use `extra.fingerprint`. */
  token: string
  /** `client_id`, else `azp` (RFC 9068 §2.2). */
  clientId: string
  /** Granted scopes as issued (implication is applied when checking, not here). */
  scopes: string[]
  /** Expiry in seconds since the epoch. */
  expiresAt?: number
  /** The canonical resource the token was accepted for (RFC 8707). */
  resource?: URL
  extra?: AuthInfoExtra
}

export interface AuthInfoExtra extends Record<string, unknown> {
  sub?: string
  iss?: string
  /** A short, non-reversible token fingerprint for logs (hash prefix). */
  fingerprint?: string
  /** All claims of the token (JWT payload or introspection answer). */
  claims?: Record<string, unknown>
  /**
   * The RFC 7638 thumbprint of the key the caller proved it holds with a DPoP proof (RFC 9449),
   * equal to the token's `cnf.jkt`; absent for a Bearer token.
   */
  dpopJkt?: string
}

/** The SDK's `OAuthTokenVerifier` shape: every Portcullis verifier satisfies it. */
export interface TokenVerifier {
  verifyAccessToken(token: string): Promise<AuthInfo>
  /**
   * The outcome already known for `token` (a cache hit, expiry checked again), or `undefined` when
   * it has to be verified. Optional: the gate asks it first, so a remembered token is answered
   * without a promise or a timeout to arm. `jwtVerifier` has it.
   */
  cachedOutcome?(token: string): CachedOutcome | undefined
}

/** A remembered verification outcome: the caller, or the refusal (`invalid_token`). */
export interface CachedOutcome {
  readonly authInfo: AuthInfo | undefined
  /** Set when `authInfo` is `undefined`. */
  readonly error: PortcullisError | undefined
  /** The token's `tokenFingerprint`. */
  readonly fingerprint: string
}

/** True for a value of `AuthInfo`'s shape: what a verifier (or the SDK's context) must hand over. */
export function isAuthInfo(value: unknown): value is AuthInfo {
  if (typeof value !== 'object' || value === null) return false
  const auth = value as Record<string, unknown>
  return (
    typeof auth.token === 'string' &&
    typeof auth.clientId === 'string' &&
    Array.isArray(auth.scopes) &&
    auth.scopes.every((scope) => typeof scope === 'string') &&
    (auth.resource === undefined || auth.resource instanceof URL) &&
    (auth.extra === undefined || (typeof auth.extra === 'object' && auth.extra !== null))
  )
}
