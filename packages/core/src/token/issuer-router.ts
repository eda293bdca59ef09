import { z } from 'zod'
import { invalidToken } from '../support/errors.js'
import { parseOptions } from '../support/options.js'
import { type ComponentHealth, verifierHealth } from '../telemetry/health.js'
import type { AuthInfo, CachedOutcome, TokenVerifier } from './auth-info.js'
import { decodeBase64url, peekIssuer } from './compact-jwt.js'
import { isVouchedJwt } from './vouched.js'

const verifierSchema = z.custom<TokenVerifier>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TokenVerifier).verifyAccessToken === 'function',
  'must be a token verifier (an object with verifyAccessToken)',
)

const issuerRouterSchema = z
  .strictObject({
    issuers: z.record(z.string().min(1, 'an issuer must not be empty'), verifierSchema),
    opaque: verifierSchema.optional(),
  })
  .refine((o) => Object.keys(o.issuers).length > 0 || o.opaque !== undefined, {
    message: 'give at least one issuer, or an opaque verifier',
    path: ['issuers'],
  })

export type IssuerRouterOptions = z.input<typeof issuerRouterSchema>

export interface IssuerRouter extends TokenVerifier {
  /** The trusted issuers, exactly as configured. */
  readonly issuers: readonly string[]
  /** The health of every verifier it routes to (see `gate.health()`). */
  health(): ComponentHealth[]
}

const BASE64URL_PART = /^[A-Za-z0-9_-]+$/

/**
 * Whether a token has the shape of a signed JWT (RFC 7515 §7.1 compact serialization): three
 * base64url parts, the first a JSON object (the JOSE header). Nothing is verified. An opaque
 * token that merely contains two dots is not taken for a JWT.
 *
 * @example
 * looksLikeJwt('eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcCJ9.c2ln') // true
 * looksLikeJwt('2YotnFZFEjr1zCsicMWpAA') // false
 */
export function looksLikeJwt(token: string): boolean {
  if (typeof token !== 'string') return false
  const parts = token.split('.')
  if (parts.length !== 3) return false
  const [header, payload, signature] = parts as [string, string, string]
  if (!BASE64URL_PART.test(header) || !BASE64URL_PART.test(payload)) return false
  // An empty signature is still JWT-shaped (alg "none"): the JWT verifier refuses it.
  if (signature !== '' && !BASE64URL_PART.test(signature)) return false
  const bytes = decodeBase64url(header)
  if (bytes === undefined) return false
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
  } catch {
    return false
  }
}

/**
 * One verifier for several authorization servers: a JWT goes to the verifier of its `iss`, read
 * unverified before anything else happens, so a token naming an issuer that is not configured is
 * refused (`issuer_untrusted`) without any network call: no JWKS fetch, no discovery, no
 * introspection on an attacker's say-so. The chosen verifier then checks everything, `iss`
 * included. Tokens that are not JWTs go to `opaque` (usually an `introspectionVerifier`) when
 * configured, else they are `token_malformed`.
 *
 * Issuers are matched exactly as written (RFC 8414 §3.3: a trailing slash matters).
 *
 * @example
 * const verifier = issuerRouter({
 *   issuers: {
 *     'https://id.example.com/realms/staff': jwtVerifier({ issuer: 'https://id.example.com/realms/staff', audience }),
 *     'https://partner.example/': jwtVerifier({ issuer: 'https://partner.example/', audience }),
 *   },
 *   opaque: introspectionVerifier({ issuer: 'https://id.example.com/realms/staff', clientId, clientSecret, audience }),
 * })
 */
export function issuerRouter(options: IssuerRouterOptions): IssuerRouter {
  const o = parseOptions(issuerRouterSchema, options, 'issuerRouter')
  // A Map, not the options object: an `iss` of "__proto__" or "constructor" must find nothing.
  const byIssuer = new Map<string, TokenVerifier>(Object.entries(o.issuers))
  const opaque = o.opaque
  const verifiers = [...new Set([...byIssuer.values(), ...(opaque === undefined ? [] : [opaque])])]
  /** Whether `verifyAccessToken` would hand `token`, verified as `auth` by `verifier`, to that verifier. */
  const routesTo = (verifier: TokenVerifier, token: string, auth: AuthInfo): boolean => {
    const iss = auth.extra?.iss
    // A jwtVerifier's answer names the token's own iss: one map lookup, no second parse.
    if (isVouchedJwt(auth)) return typeof iss === 'string' && byIssuer.get(iss) === verifier
    if (!looksLikeJwt(token)) return verifier === opaque
    const claimed = peekIssuer(token)
    return claimed !== undefined && byIssuer.get(claimed) === verifier
  }
  return {
    issuers: Object.freeze([...byIssuer.keys()]),
    // A verifier shared by several issuers is reported once.
    health: () =>
      [...new Set([...byIssuer.values(), ...(opaque === undefined ? [] : [opaque])])].flatMap(verifierHealth),
    /**
     * A token one of the verifiers remembers as verified, at once (the gate's synchronous hit path,
     * as with a single verifier), when routing would send it to that verifier. Anything else (a
     * remembered refusal included: routing may decide otherwise) takes `verifyAccessToken`.
     */
    cachedOutcome(token: string): CachedOutcome | undefined {
      for (const verifier of verifiers) {
        const outcome = verifier.cachedOutcome?.(token)
        if (outcome?.authInfo !== undefined)
          return routesTo(verifier, token, outcome.authInfo) ? outcome : undefined
      }
      return undefined
    },
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      if (typeof token !== 'string' || token === '') throw invalidToken('token_malformed', 'token is empty')
      if (looksLikeJwt(token)) {
        const iss = peekIssuer(token)
        const verifier = iss === undefined ? undefined : byIssuer.get(iss)
        if (verifier === undefined) {
          throw invalidToken(
            'issuer_untrusted',
            iss === undefined ? 'token has no issuer (iss)' : `token issuer ${describe(iss)} is not trusted`,
          )
        }
        return verifier.verifyAccessToken(token)
      }
      if (opaque !== undefined) return opaque.verifyAccessToken(token)
      // RFC 7516 §7.1: five parts is a JWE, which no configured verifier can read.
      if (token.split('.').length === 5) {
        throw invalidToken('token_encrypted', 'encrypted tokens (JWE) are not accepted')
      }
      throw invalidToken('token_malformed', 'token is not a JWT and no opaque-token verifier is configured')
    },
  }
}

function describe(value: string): string {
  const text = JSON.stringify(value)
  return text.length > 200 ? `${text.slice(0, 200)}..."` : text
}
