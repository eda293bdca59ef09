import { scopesFromClaims } from '../oauth/scopes.js'
import { invalidToken } from '../support/errors.js'

/**
 * The claim rules both verifiers apply to a token's claims, whether read from a signed JWT
 * (jwt-verifier.ts) or from an introspection answer (introspection-verifier.ts): one rule in one
 * place. Types are checked by each verifier first (their sources differ); these take checked values.
 */

/**
 * RFC 7519 §4.1.4 `exp`, §4.1.5 `nbf` and §4.1.6 `iat` (when given), with `tolerance` seconds of
 * leeway, against `nowSeconds` (NumericDate: seconds since the epoch). A token is expired from the
 * instant `exp + tolerance` on (RFC 9068 §4 item 6).
 */
export function checkTimeClaims(
  exp: number | undefined,
  nbf: number | undefined,
  iat: number | undefined,
  nowSeconds: number,
  tolerance: number,
): void {
  if (exp !== undefined && exp <= nowSeconds - tolerance)
    throw invalidToken('token_expired', 'token has expired')
  if (nbf !== undefined && nbf > nowSeconds + tolerance) {
    throw invalidToken('token_not_yet_valid', 'token is not valid yet (nbf)')
  }
  if (iat !== undefined && iat > nowSeconds + tolerance) {
    throw invalidToken('issued_in_future', 'token is issued in the future (iat)')
  }
}

/**
 * The scopes a token grants: `claimsToScopes` (see `scopeMapper`) when given, non-strings dropped;
 * else the `scope`/`scp` claims, or `scopeClaim`. A failing mapper refuses the token.
 */
export function scopesOfClaims(
  claims: Record<string, unknown>,
  claimsToScopes: ((claims: Record<string, unknown>) => readonly string[]) | undefined,
  scopeClaim: string | undefined,
): string[] {
  if (claimsToScopes === undefined) return scopesFromClaims(claims, scopeClaim)
  try {
    return claimsToScopes(claims).filter((scope) => typeof scope === 'string')
  } catch (error) {
    throw invalidToken('claims_malformed', 'token claims could not be turned into scopes', error)
  }
}

/** RFC 9068 §2.2 `client_id` first; `azp` where an IdP (Keycloak, Entra v2) names the client that way. */
export const DEFAULT_CLIENT_ID_CLAIMS: readonly string[] = ['client_id', 'azp']

/** The first of `names` that is a string claim of the token's own, else `''` (no client named). */
export function clientIdOfClaims(
  claims: Record<string, unknown>,
  names: readonly string[] = DEFAULT_CLIENT_ID_CLAIMS,
): string {
  for (const name of names) {
    const value = Object.hasOwn(claims, name) ? claims[name] : undefined
    if (typeof value === 'string') return value
  }
  return ''
}
