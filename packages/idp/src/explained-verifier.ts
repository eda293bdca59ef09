import { type AuthInfo, PortcullisError, type TokenVerifier } from '@portcullis/core'
import { adviceFor } from './advice.js'
import type { IdpDescription } from './preset.js'

/**
 * A verifier whose token refusals say what the IdP did and what to request instead (an Auth0
 * token minted without an audience, a Keycloak token without the Audience mapper): the reason and
 * status stay the same, the message gains one sentence. Outages pass through unchanged.
 *
 * @example
 * const verifier = explainedVerifier(jwtVerifier({ ... }), preset.description)
 */
export function explainedVerifier(inner: TokenVerifier, idp: IdpDescription): TokenVerifier {
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      try {
        return await inner.verifyAccessToken(token)
      } catch (error) {
        if (!(error instanceof PortcullisError) || error.code !== 'invalid_token') throw error
        const advice = adviceFor(idp, error, token)
        if (advice === undefined) throw error
        throw new PortcullisError(error.code, error.reason, `${error.message}: ${advice.hint}`, {
          cause: error,
          ...(error.scopes === undefined ? {} : { scopes: error.scopes }),
        })
      }
    },
  }
}
