import { type AuthInfo, type ClaimPath, looksLikeJwt, readClaim, type TokenVerifier } from '@portcullis/core'

export interface IntrospectionFallbackOptions {
  /** Verifies JWTs locally (signature, issuer, audience, lifetime). */
  local: TokenVerifier
  /** Asks the authorization server (RFC 7662). */
  remote: TokenVerifier
  /**
   * Claims a full token carries. A locally verified token that has none of them is a stripped
   * ("lightweight") token: its claims are fetched by introspection. Empty: never.
   */
  expectedClaims: readonly ClaimPath[]
}

/**
 * JWTs verified locally, and introspection where the JWT cannot tell enough: tokens that are not
 * JWTs, and JWTs stripped of the claims that grant access. Keycloak 24+ can issue such
 * "lightweight" access tokens, without `realm_access`, `resource_access` and most mapper output;
 * introspection returns the full set (idp-realities §1.3). The stripped token must still pass every
 * local check first, and the introspection answer is checked again (active, issuer, audience).
 *
 * @example
 * const verifier = introspectionFallback({
 *   local: jwtVerifier({ issuer, audience }),
 *   remote: introspectionVerifier({ issuer, audience, clientId, clientSecret }),
 *   expectedClaims: ['realm_access.roles'],
 * })
 */
export function introspectionFallback(options: IntrospectionFallbackOptions): TokenVerifier {
  const { local, remote, expectedClaims } = options
  const stripped = (auth: AuthInfo) => {
    if (expectedClaims.length === 0) return false
    const claims = auth.extra?.claims ?? {}
    return expectedClaims.every((path) => readClaim(claims, path) === undefined)
  }
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      if (!looksLikeJwt(token)) return remote.verifyAccessToken(token)
      const auth = await local.verifyAccessToken(token)
      return stripped(auth) ? remote.verifyAccessToken(token) : auth
    },
  }
}
