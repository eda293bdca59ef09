import { audienceMatches, audienceResource } from '../oauth/resource.js'
import { invalidToken, PortcullisError, temporarilyUnavailable } from '../support/errors.js'
import { parseOptions } from '../support/options.js'
import { keySetHealth } from '../telemetry/health.js'
import type { AuthInfo } from './auth-info.js'
import { checkTimeClaims, clientIdOfClaims, DEFAULT_CLIENT_ID_CLAIMS, scopesOfClaims } from './claims.js'
import { type DecodedJwt, decodeCompactJwt } from './compact-jwt.js'
import { type DiscoveryOptions, discoverAuthorizationServer } from './discovery.js'
import { fingerprintOfHash, tokenHash } from './fingerprint.js'
import { checkJwksKeySetOptions, jwksKeySet } from './jwks.js'
import { DEFAULT_JWS_ALGORITHMS } from './jws-algorithms.js'
import { type JwtVerifier, type JwtVerifierOptions, jwtVerifierSchema } from './jwt-verifier-options.js'
import { staticKeySet } from './key-import.js'
import type { KeySet, KeySetStatus, VerificationKey } from './key-set.js'
import { dpopBinding, dpopBoundRefusal, senderConstraintProblem } from './sender-constraint.js'
import { TokenCache } from './token-cache.js'
import { vouchJwt } from './vouched.js'

/**
 * Verifies JWT access tokens (RFC 9068 §4, RFC 8725) against the issuer's keys, with node:crypto,
 * and remembers outcomes by token hash. Satisfies the MCP SDK's `OAuthTokenVerifier`.
 *
 * Checks, in order: size; compact form (compact-jwt.ts); `alg` in the allow-list (HMAC and `none`
 * can never be allowed); no `crit` extension; `typ`; key by `kid` from the key set only (`jku`,
 * `x5u`, `jwk`, `x5c` headers are ignored, RFC 8725 §3.10); signature; claim types; required
 * claims; `iss` exact; `aud`; `exp`, `nbf`, `iat` with `clockTolerance`; no `cnf` (see
 * `senderConstraintProblem`); then `validateClaims`.
 *
 * Decisions: `requiredClaims` defaults to `exp` only (plus `iss` and `aud`, always checked)
 * because real IdPs omit some RFC 9068 §2.2 claims (Keycloak: client_id, Entra v1: client_id);
 * `typ: 'lenient'` accepts `at+jwt`, `application/at+jwt`, `JWT` or none, and `'strict'` only the
 * first two (RFC 9068 §4). Any other `typ` (ID tokens, logout tokens, SETs) is always refused.
 *
 * Some IdPs bind a token to its recipient by client rather than by `aud` (Cognito access tokens
 * mostly carry `client_id` only): `audienceClaim: 'client_id'` (or `'azp'`) checks that claim
 * against `audience` instead, exactly. With `client_id`, an `aud` present must name one of
 * `audienceIfPresent`, else be one resource URL for the gate to check (`azp` ignores `aud`:
 * Keycloak lists unrelated clients there). `claimsToScopes` (see `scopeMapper`) replaces the
 * `scope`/`scp` reading; `clientIdClaims` names where `AuthInfo.clientId` comes from (default
 * `client_id`, then `azp`).
 *
 * `signatureCheck` says where a signature is checked: `'thread-pool'` (default) runs node:crypto
 * `verify` with a callback on libuv's thread pool, so the event loop keeps serving other requests
 * meanwhile and another core can share the work; `'event-loop'` checks it in place. Measured over
 * HTTP under a flood of new tokens (bench/README.md, issue 15), the pool answered more of them
 * with less CPU per request, in one process and in two; on one thread with nothing else to do,
 * the hop to the pool costs about 15 to 45 µs of CPU per token. Choose `'event-loop'` when the
 * process has no core to spare (one process per core, a CPU quota of one core) or the pool (shared
 * with `fs` and `dns.lookup`, sized by `UV_THREADPOOL_SIZE`) is busy with other work. A remembered
 * token is answered without either.
 *
 * @example
 * const verifier = jwtVerifier({
 *   issuer: 'https://id.example.com/realms/main',
 *   audience: 'https://mcp.example.com/mcp',
 * })
 * const authInfo = await verifier.verifyAccessToken(token)
 */
export function jwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const o = parseOptions(jwtVerifierSchema, options, 'jwtVerifier')
  const now = o.now ?? Date.now
  const allowed = new Set<string>(o.algorithms ?? DEFAULT_JWS_ALGORITHMS)
  const audiences = o.audience
  const audienceClaim = o.audienceClaim
  // Client ids are compared exactly as configured (RFC 6749 §2.2), never canonicalised.
  const clients =
    audienceClaim === 'aud' || options.audience === false
      ? undefined
      : new Set(typeof options.audience === 'string' ? [options.audience] : options.audience)
  const resources = audiences === false || clients !== undefined ? [] : audiences.map(resourceUrl)
  const ifPresent = o.audienceIfPresent || undefined
  const clientIdClaims = o.clientIdClaims ?? DEFAULT_CLIENT_ID_CLAIMS
  const tolerance = o.clockTolerance
  const required = [...new Set(o.requiredClaims)]
  const strictTyp = o.typ === 'strict'
  const onThreadPool = o.signatureCheck === 'thread-pool'
  const cache = o.cache === false ? undefined : new TokenCache({ ...o.cache, now })

  // With discovery the key set is made on first use: check its options now, not at the first request.
  if (o.jwks !== undefined) checkJwksKeySetOptions(o.jwks, 'jwtVerifier: option "jwks"')
  const keySet: KeySet =
    o.keySet ??
    (o.keys !== undefined
      ? staticKeySet(o.keys)
      : o.jwksUri !== undefined
        ? jwksKeySet({ ...o.jwks, jwksUri: o.jwksUri, now: o.jwks?.now ?? now })
        : discoveredKeySet(o.issuer, o.discovery, (jwksUri) =>
            jwksKeySet({ ...o.jwks, jwksUri, now: o.jwks?.now ?? now }),
          ))

  // Synchronous wherever nothing needs waiting for (the key held, the signature checked in place),
  // so a new token costs no promise beyond the one the caller gets; otherwise one per wait.
  const verifyUncached = (token: string, _key: string): AuthInfo | Promise<AuthInfo> => {
    const decoded = decodeCompactJwt(token)
    const { header } = decoded
    // RFC 8725 §3.1: the allow-list decides before any key is looked at (no HMAC, no none).
    if (!allowed.has(header.alg))
      throw invalidToken('alg_not_allowed', `alg ${quote(header.alg)} is not allowed`)
    // RFC 7515 §4.1.11: no extension is understood here, so any critical one is fatal.
    if (header.crit !== undefined)
      throw invalidToken('crit_unsupported', 'critical header extensions are not supported')
    checkTyp(header.typ, strictTyp)
    const held = keySet.heldKey?.(header)
    if (held !== undefined) return verifyWith(held, decoded, token)
    return keySet.getKey(header).then((key) => verifyWith(key, decoded, token))
  }

  const verifyWith = (
    key: VerificationKey,
    decoded: DecodedJwt,
    token: string,
  ): AuthInfo | Promise<AuthInfo> => {
    // RFC 8725 §3.1: each key is used with exactly one algorithm.
    if (key.alg !== decoded.header.alg)
      throw invalidToken('key_unsuitable', `the key is bound to ${key.alg}, not ${decoded.header.alg}`)
    const data = Buffer.from(decoded.signingInput, 'latin1')
    if (onThreadPool && key.verifyOnThreadPool !== undefined) {
      return key.verifyOnThreadPool(data, decoded.signature).then((valid) => accept(valid, decoded, token))
    }
    return accept(key.verify(data, decoded.signature), decoded, token)
  }

  const accept = (valid: boolean, { header, payload, signingInput }: DecodedJwt, token: string): AuthInfo => {
    if (!valid) {
      throw invalidToken('signature_invalid', 'signature does not verify')
    }
    const claims = payload
    checkClaimTypes(claims)
    for (const name of required) {
      if (!Object.hasOwn(claims, name))
        throw invalidToken('claim_missing', `required claim ${quote(name)} is missing`)
    }
    // RFC 9068 §4 item 3 / RFC 8725 §3.8: exact issuer.
    if (claims.iss === undefined) throw invalidToken('claim_missing', 'required claim "iss" is missing')
    if (claims.iss !== o.issuer) throw invalidToken('issuer_mismatch', 'token issued by another issuer')
    let resource: URL | undefined
    if (clients !== undefined) {
      // A client-bound token names no resource: the gate's own resource stands for it.
      const client = claims[audienceClaim]
      if (client === undefined)
        throw invalidToken('claim_missing', `required claim ${quote(audienceClaim)} is missing`)
      if (typeof client !== 'string' || !clients.has(client)) {
        throw invalidToken(
          'audience_mismatch',
          `token was issued to a client that is not allowed (${audienceClaim})`,
        )
      }
      // RFC 8707 §2: a token that names an audience besides its client (Cognito resource binding)
      // must name us. Not with azp: Keycloak's aud lists unrelated clients (account) there.
      if (claims.aud !== undefined && audienceClaim === 'client_id')
        resource = audienceResource(claims.aud, ifPresent)
    } else if (audiences !== false) {
      // RFC 9068 §4 item 4 / RFC 8725 §3.9: aud must name this resource.
      if (claims.aud === undefined) throw invalidToken('claim_missing', 'required claim "aud" is missing')
      const index = matchedAudience(claims.aud, audiences)
      if (index < 0) throw invalidToken('audience_mismatch', 'token is meant for another audience')
      resource = resources[index]
    }
    const exp = claims.exp as number | undefined
    // RFC 9068 §4 item 6; NumericDate seconds, as jose counts them.
    checkTimeClaims(
      exp,
      claims.nbf as number | undefined,
      claims.iat as number | undefined,
      Math.floor(now() / 1000),
      tolerance,
    )
    // RFC 9449 §6.1: a DPoP-bound token is checked in full, then refused with its caller attached.
    const jkt = dpopBinding(claims.cnf)
    const bound = jkt === undefined ? senderConstraintProblem(claims.cnf) : undefined
    if (bound !== undefined) throw bound
    if (o.validateClaims !== undefined) {
      try {
        o.validateClaims(claims, header)
      } catch (error) {
        if (error instanceof PortcullisError) throw error
        throw invalidToken('claims_malformed', 'token claims rejected by policy', error)
      }
    }
    const scopes = scopesOfClaims(claims, o.claimsToScopes, o.scopeClaim)
    const auth = freezeAuthInfo({
      token,
      clientId: clientIdOfClaims(claims, clientIdClaims),
      scopes,
      expiresAt: exp,
      resource,
      extra: {
        sub: claims.sub as string | undefined,
        iss: claims.iss as string,
        // tokenFingerprint of a compact JWS: the hash of its signing input, decoded above already.
        fingerprint: fingerprintOfHash(tokenHash(signingInput)),
        claims,
      },
    })
    if (jkt !== undefined) throw dpopBoundRefusal(auth)
    return auth
  }

  const verifyAccessToken = (token: string): Promise<AuthInfo> => {
    if (typeof token !== 'string' || token === '') {
      return Promise.reject(invalidToken('token_malformed', 'token is empty'))
    }
    if (token.length > o.maxTokenLength) {
      return Promise.reject(
        invalidToken('token_too_large', `token is longer than ${o.maxTokenLength} characters`),
      )
    }
    if (cache !== undefined) return cache.verify(token, tolerance, verifyUncached)
    try {
      return Promise.resolve(verifyUncached(token, token))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  return {
    issuer: o.issuer,
    audiences: audiences === false ? false : Object.freeze([...(clients ?? audiences)]),
    audienceClaim,
    keySet,
    verifyAccessToken,
    cachedOutcome: (token) =>
      cache !== undefined && typeof token === 'string' ? cache.peek(token) : undefined,
    clearCache: () => cache?.clear(),
    stats: () => ({ cache: cache?.stats() }),
    health: () => [keySetHealth(keySetName(keySet, o.issuer), keySet.status())],
  }
}

const keySetName = (keySet: KeySet, issuer: string): string => {
  const uri = (keySet as { jwksUri?: unknown }).jwksUri
  return typeof uri === 'string' ? uri : `key set of ${issuer}`
}

/**
 * The resource an audience names: only http(s) URLs are resources (RFC 8707 §2). Identifiers such
 * as `api://default` (Okta) or an App ID URI (Entra v1) parse as URLs but name no resource: the
 * token is then accepted for whatever resource the verifier serves.
 */
function resourceUrl(audience: string): URL | undefined {
  return /^https?:\/\//i.test(audience) && URL.canParse(audience) ? new URL(audience) : undefined
}

function matchedAudience(aud: unknown, audiences: readonly string[]): number {
  if (audiences.length === 1) return audienceMatches(aud, audiences) ? 0 : -1
  for (let i = 0; i < audiences.length; i++) {
    if (audienceMatches(aud, [audiences[i] as string])) return i
  }
  return -1
}

const LENIENT_TYP = new Set(['at+jwt', 'application/at+jwt', 'jwt', 'application/jwt'])
const STRICT_TYP = new Set(['at+jwt', 'application/at+jwt'])

/** RFC 9068 §4 item 1 and RFC 8725 §3.11: explicit typing keeps ID tokens and the like out. */
function checkTyp(typ: string | undefined, strict: boolean): void {
  if (typ === undefined) {
    if (strict) throw invalidToken('typ_invalid', 'typ must be at+jwt')
    return
  }
  // RFC 7515 §4.1.9: media type names are case-insensitive.
  const value = typ.toLowerCase()
  if (!(strict ? STRICT_TYP : LENIENT_TYP).has(value)) {
    throw invalidToken('typ_invalid', `typ ${quote(typ)} is not an access token type`)
  }
}

const STRING_CLAIMS = ['iss', 'sub', 'jti', 'client_id', 'azp'] as const
const DATE_CLAIMS = ['exp', 'nbf', 'iat'] as const

/** RFC 7519 §4.1: registered claims have fixed JSON types; NumericDate must be finite. */
function checkClaimTypes(claims: Record<string, unknown>): void {
  for (const name of STRING_CLAIMS) {
    const value = claims[name]
    if (value !== undefined && typeof value !== 'string') throw malformed(name, 'a string')
  }
  for (const name of DATE_CLAIMS) {
    const value = claims[name]
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value)))
      throw malformed(name, 'a number')
  }
  const aud = claims.aud
  if (aud !== undefined && typeof aud !== 'string') {
    if (!Array.isArray(aud) || aud.some((value) => typeof value !== 'string')) {
      throw malformed('aud', 'a string or a list of strings')
    }
  }
}

const malformed = (name: string, what: string) =>
  invalidToken('claims_malformed', `claim "${name}" must be ${what}`)

const quote = (value: string) => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value)

/** Outcomes are shared between requests that present the same token, so they are read-only. */
function freezeAuthInfo(authInfo: AuthInfo & { extra: { fingerprint: string; claims: object } }): AuthInfo {
  Object.freeze(authInfo.scopes)
  Object.freeze(authInfo.extra.claims)
  Object.freeze(authInfo.extra)
  return vouchJwt(Object.freeze(authInfo))
}

/** A key set found through the issuer's metadata (RFC 8414 `jwks_uri`) on first use. */
function discoveredKeySet(
  issuer: string,
  discovery: DiscoveryOptions | undefined,
  create: (jwksUri: string) => KeySet,
): KeySet & { readonly jwksUri: string | undefined } {
  let resolved: KeySet | undefined
  let pending: Promise<KeySet> | undefined
  const resolve = (): Promise<KeySet> => {
    pending ??= (async () => {
      try {
        const { metadata } = await discoverAuthorizationServer(issuer, discovery)
        // RFC 8725 §3.8: the keys must belong to the issuer: they come from its own metadata.
        if (typeof metadata.jwks_uri !== 'string') {
          throw temporarilyUnavailable(
            'discovery_failed',
            'the authorization server metadata has no jwks_uri',
          )
        }
        let keySet: KeySet
        try {
          keySet = create(metadata.jwks_uri)
        } catch (cause) {
          throw temporarilyUnavailable(
            'discovery_failed',
            'the jwks_uri in the metadata is unusable',
            5,
            cause,
          )
        }
        resolved = keySet
        return keySet
      } finally {
        pending = undefined
      }
    })()
    return pending
  }
  return {
    // The URL once discovered, so health reports name it.
    get jwksUri() {
      return (resolved as { jwksUri?: string } | undefined)?.jwksUri
    },
    getKey: async (header) => (resolved ?? (await resolve())).getKey(header),
    heldKey: (header) => resolved?.heldKey?.(header),
    status: (): KeySetStatus =>
      resolved?.status() ?? {
        lastFetchAt: undefined,
        lastError: undefined,
        stale: false,
        keys: 0,
        ignored: [],
      },
  }
}
