import { audienceMatches } from '../oauth/resource.js'
import { FetchFailure, fetchJson } from '../support/bounded-fetch.js'
import { deepFreeze } from '../support/deep-freeze.js'
import { invalidToken, PortcullisError, temporarilyUnavailable } from '../support/errors.js'
import { LruCache } from '../support/lru-cache.js'
import { parseOptions } from '../support/options.js'
import { SingleFlight } from '../support/single-flight.js'
import { traceIntrospection } from '../telemetry/telemetry-channels.js'
import type { AuthInfo, CachedOutcome } from './auth-info.js'
import { checkTimeClaims, clientIdOfClaims, scopesOfClaims } from './claims.js'
import { discoverAuthorizationServer } from './discovery.js'
import { tokenFingerprint, tokenHash } from './fingerprint.js'
import { introspectionKeyScope } from './introspection-cache-key.js'
import { LastSeen } from './introspection-last-seen.js'
import {
  cacheSchema,
  type IntrospectionAnswer,
  type IntrospectionCache,
  type IntrospectionVerifier,
  type IntrospectionVerifierOptions,
  introspectionVerifierSchema,
} from './introspection-verifier-options.js'
import { dpopBinding, dpopBoundRefusal, senderConstraintProblem } from './sender-constraint.js'
import { vouchFingerprint } from './vouched.js'

// RFC 6750 §2.1 b64token: anything else is not a bearer token, so it is not sent anywhere.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const MAX_TOKEN_LENGTH = 16 * 1024
// Keycloak marks non-access tokens in `typ` (Refresh, Offline, ID, Logout); ID tokens have their own reason.
const NON_ACCESS_TYP = new Set(['refresh', 'offline', 'logout'])

/**
 * A token verifier that asks the authorization server about each token (OAuth 2.0 Token
 * Introspection, RFC 7662): for opaque tokens, or JWTs whose revocation must be seen at once.
 *
 * - The endpoint is `endpoint`, else the `introspection_endpoint` of the issuer's metadata
 *   (discovered on first use).
 * - The resource server authenticates as `clientId`/`clientSecret` with HTTP Basic (each part
 *   form-urlencoded first, RFC 6749 §2.3.1) or in the body (`client_secret_post`).
 * - An active answer is then checked like a JWT: `iss` (when present) equals `issuer`, `aud`
 *   names `audience` (an answer without `aud` is refused unless `requireAudience: false`: MCP
 *   requires audience binding though RFC 7662 makes `aud` optional), `exp`/`nbf` with
 *   `clockTolerance` leeway, and the token is an access token (`token_type` bearer when present,
 *   not sender-constrained).
 * - Answers are cached by token hash, under the issuer, endpoint and client id that got them:
 *   active ones until the earlier of `exp` and `cache.ttl`
 *   (60 s, the revocation delay budget of RFC 7662 §4), inactive ones for `cache.inactiveTtl`
 *   (5 s). Concurrent requests with one token make one call.
 * - An endpoint that is down, slow, refuses our credentials or answers junk is not an inactive
 *   token: the verifier throws `temporarily_unavailable` (reason `introspection_unavailable`,
 *   HTTP 503 with Retry-After), and nothing is cached.
 *
 * @example
 * const verifier = introspectionVerifier({
 *   issuer: 'https://id.example.com/realms/acme',
 *   clientId: 'mcp-server',
 *   clientSecret: process.env.INTROSPECTION_SECRET!,
 *   audience: 'https://mcp.example.com/mcp',
 * })
 * const auth = await verifier.verifyAccessToken(token)
 */
export function introspectionVerifier(options: IntrospectionVerifierOptions): IntrospectionVerifier {
  const o = parseOptions(introspectionVerifierSchema, options, 'introspectionVerifier')
  const now = o.now ?? Date.now
  const expected = o.audience
  const cache = o.cache ?? cacheSchema.parse({})
  const store: IntrospectionCache | undefined =
    cache === false
      ? undefined
      : (cache.store ?? new LruCache<IntrospectionAnswer>({ maxEntries: cache.maxEntries, now }))
  const activeTtlMs = cache === false ? 0 : cache.ttl * 1000
  const inactiveTtlMs = cache === false ? 0 : cache.inactiveTtl * 1000
  const flight = new SingleFlight<IntrospectionAnswer>()
  let endpoint = o.endpoint
  // An answer holds for the server and client that got it (two deployments on one Redis).
  const keyScope = introspectionKeyScope({ issuer: o.issuer, endpoint: o.endpoint, clientId: o.clientId })
  const cacheKey = (token: string) => `${keyScope}.${tokenHash(token)}`

  const unavailable = (message: string, cause?: unknown): PortcullisError =>
    temporarilyUnavailable('introspection_unavailable', message, o.retryAfter, cause)

  async function resolveEndpoint(): Promise<string> {
    if (endpoint !== undefined) return endpoint
    const { metadata, metadataUrl } = await discoverAuthorizationServer(o.issuer, {
      ...o.discovery,
      fetchTimeoutMs: o.fetchTimeoutMs,
    })
    const found = metadata.introspection_endpoint
    if (found === undefined) {
      throw temporarilyUnavailable(
        'discovery_failed',
        `the metadata of ${o.issuer} (${metadataUrl}) has no introspection_endpoint; configure endpoint`,
        o.retryAfter,
      )
    }
    endpoint = found
    return found
  }

  function requestFor(token: string): { headers: Record<string, string>; body: string } {
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' })
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    }
    if (o.clientAuth === 'client_secret_basic') {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined and base64-encoded.
      const credentials = `${formEncode(o.clientId)}:${formEncode(o.clientSecret)}`
      headers.authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`
    } else {
      form.set('client_id', o.clientId)
      form.set('client_secret', o.clientSecret)
    }
    return { headers, body: form.toString() }
  }

  const seen = new LastSeen()
  // One checked answer per token hash, so a hit makes no fingerprint or AuthInfo again (only the
  // clock is read again); the entry goes with the answer.
  const checkedAnswers = new WeakMap<
    IntrospectionAnswer,
    { token: string; fingerprint: string; auth?: AuthInfo }
  >()

  async function introspect(token: string): Promise<IntrospectionAnswer> {
    const url = await resolveEndpoint()
    let json: unknown
    try {
      ;({ json } = await fetchJson(url, {
        method: 'POST',
        ...requestFor(token),
        timeoutMs: o.fetchTimeoutMs,
        maxBytes: o.maxBytes,
      }))
    } catch (error) {
      const problem = describeFailure(url, error)
      seen.failed(problem)
      throw unavailable(problem, error)
    }
    const answer = json as Record<string, unknown>
    // RFC 7662 §2.2: `active` is REQUIRED and boolean; without it the answer says nothing.
    if (typeof answer.active !== 'boolean') {
      const problem = `introspection endpoint ${url} answered without a boolean "active" member`
      seen.failed(problem)
      throw unavailable(problem)
    }
    seen.succeeded()
    return deepFreeze(answer) as IntrospectionAnswer
  }

  async function answerFor(token: string, key: string): Promise<IntrospectionAnswer> {
    if (store !== undefined) {
      const cached = await cacheGet(store, key)
      if (cached !== undefined) return cached
    }
    // The cache write happens inside the flight, so callers that join it never call again.
    return flight.run(key, async () => {
      const answer = await traceIntrospection(introspect, token)
      if (store !== undefined) {
        const ttl = answer.active ? activeLifetime(answer) : inactiveTtlMs
        if (ttl > 0) await cacheSet(store, key, answer, ttl)
      }
      return answer
    })
  }

  /** `exp` and `nbf` against the clock, each checked as soon as its type is (an expired token with a malformed nbf is expired). */
  function checkTimes(exp: unknown, nbf: unknown): void {
    const nowSeconds = now() / 1000
    if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp)))
      throw invalidToken('claims_malformed', 'exp is not a number')
    checkTimeClaims(exp, undefined, undefined, nowSeconds, o.clockTolerance)
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf)))
      throw invalidToken('claims_malformed', 'nbf is not a number')
    checkTimeClaims(undefined, nbf, undefined, nowSeconds, o.clockTolerance)
  }

  // RFC 7662 §4: never reuse an answer past the token's own expiry.
  function activeLifetime(answer: IntrospectionAnswer): number {
    const exp = answer.exp
    if (typeof exp !== 'number') return activeTtlMs
    return Math.min(activeTtlMs, exp * 1000 - now())
  }

  function check(
    token: string,
    answer: IntrospectionAnswer,
    fingerprint = tokenFingerprint(token),
  ): AuthInfo {
    if (!answer.active) throw invalidToken('token_inactive', 'token is not active')
    const { iss, aud, exp, nbf, token_type: tokenType, typ, cnf } = answer
    if (iss !== undefined && iss !== o.issuer) {
      throw invalidToken('issuer_mismatch', `token issuer ${describe(iss)} is not the expected ${o.issuer}`)
    }
    // RFC 7800 / RFC 8705 §3: a sender-constrained token needs a proof this server does not check;
    // RFC 9449 §6.2: a DPoP-bound one is checked in full, then refused with its caller attached.
    const jkt = dpopBinding(cnf)
    const bound = jkt === undefined ? senderConstraintProblem(cnf, tokenType) : undefined
    if (bound !== undefined) throw bound
    const dpopType = jkt !== undefined && typeof tokenType === 'string' && tokenType.toLowerCase() === 'dpop'
    if (
      tokenType !== undefined &&
      !dpopType &&
      (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')
    ) {
      // RFC 7662 §2.2 token_type; a refresh token (or a DPoP-bound one, RFC 9449 §6.2) is no bearer access token.
      throw invalidToken(
        'token_type_invalid',
        `token_type ${describe(tokenType)} is not a bearer access token`,
      )
    }
    if (typeof typ === 'string' && typ.toLowerCase() === 'id') {
      throw invalidToken('id_token_presented', 'token is an ID token (typ "ID"), not an access token')
    }
    if (typeof typ === 'string' && NON_ACCESS_TYP.has(typ.toLowerCase())) {
      throw invalidToken('token_type_invalid', `token typ ${describe(typ)} is not an access token`)
    }
    const resource = audienceCheck(aud)
    checkTimes(exp, nbf)
    const clientId = clientIdOfClaims(answer)
    const sub = typeof answer.sub === 'string' ? answer.sub : undefined
    const claims = answer as Record<string, unknown>
    const scopes = scopesOfClaims(claims, o.claimsToScopes, o.scopeClaim)
    const auth: AuthInfo = {
      token,
      clientId,
      scopes,
      expiresAt: typeof exp === 'number' ? exp : undefined,
      resource: URL.canParse(resource) ? new URL(resource) : undefined,
      extra: {
        sub,
        iss: typeof iss === 'string' ? iss : o.issuer,
        fingerprint,
        claims,
      },
    }
    if (jkt !== undefined) throw dpopBoundRefusal(auth)
    return auth
  }

  /** The configured audience the answer was issued for, or a thrown `audience_mismatch`. */
  function audienceCheck(aud: unknown): string {
    if (aud === undefined) {
      // RFC 7662 makes aud optional; MCP (RFC 8707 audience binding) does not.
      if (o.requireAudience) {
        throw invalidToken(
          'audience_mismatch',
          `the introspection answer has no aud; the token must be issued for ${expected.join(' or ')}`,
        )
      }
      return expected[0]!
    }
    const matched = expected.find((value) => audienceMatches(aud, [value]))
    if (matched === undefined) {
      throw invalidToken(
        'audience_mismatch',
        `token audience ${describe(aud)} does not include ${expected.join(' or ')}`,
      )
    }
    return matched
  }

  return {
    get endpoint() {
      return endpoint
    },
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      if (
        typeof token !== 'string' ||
        token.length === 0 ||
        token.length > MAX_TOKEN_LENGTH ||
        !B64TOKEN.test(token)
      ) {
        throw invalidToken('token_malformed', 'token is not a bearer token (RFC 6750 §2.1)')
      }
      return vouchFingerprint(check(token, await answerFor(token, cacheKey(token))))
    },
    cachedOutcome(token: string): CachedOutcome | undefined {
      // The built-in store answers at once, a shared one (Redis) from its local copy (`peek`);
      // anything else is asked on the async path. A token that is not a bearer token never gets
      // an entry, so no syntax check is needed here.
      if (store === undefined || typeof token !== 'string') return undefined
      // The built-in store holds answers frozen already; a shared one's are frozen by peekSafely.
      const answer =
        store instanceof LruCache ? store.get(cacheKey(token)) : peekSafely(store, cacheKey(token))
      if (answer === undefined) return undefined
      const seen = checkedAnswers.get(answer)
      const known = seen?.token === token ? seen : undefined
      const fingerprint = known?.fingerprint ?? tokenFingerprint(token)
      try {
        // Everything but the clock depends on the answer alone: checked once, then the time only.
        if (known?.auth !== undefined) {
          checkTimes(answer.exp, answer.nbf)
          return { authInfo: known.auth, error: undefined, fingerprint }
        }
        const auth = frozenAuthInfo(vouchFingerprint(check(token, answer, fingerprint)))
        checkedAnswers.set(answer, { token, fingerprint, auth })
        return { authInfo: auth, error: undefined, fingerprint }
      } catch (error) {
        if (known === undefined) checkedAnswers.set(answer, { token, fingerprint })
        if (error instanceof PortcullisError && error.code === 'invalid_token')
          return { authInfo: undefined, error, fingerprint }
        return undefined
      }
    },
    async forget(token: string): Promise<void> {
      if (store !== undefined) await Promise.resolve(store.delete(cacheKey(token))).catch(() => {})
    },
    stats() {
      const cacheStats =
        store instanceof LruCache ? { entries: store.size, maxEntries: store.maxEntries } : store?.stats?.()
      return { cache: cacheStats, inFlight: flight.pending }
    },
    health: () => [seen.health(endpoint ?? `introspection of ${o.issuer}`)],
  }
}

/** Frozen like a remembered JWT's (the answer itself, its claims, is frozen already): shared by every hit. */
function frozenAuthInfo(auth: AuthInfo): AuthInfo {
  Object.freeze(auth.scopes)
  if (auth.extra !== undefined) Object.freeze(auth.extra)
  return Object.freeze(auth)
}

/**
 * What a shared store handed back, if it is an answer: frozen like a fetched one (a store may hand
 * back a fresh object per read, or one it parsed).
 */
function storedAnswer(value: IntrospectionAnswer | null | undefined): IntrospectionAnswer | undefined {
  if (value === undefined || value === null || typeof value.active !== 'boolean') return undefined
  return deepFreeze(value)
}

/** A shared store's answer held in this process, if it can say at once; a failing one is a miss. */
function peekSafely(store: IntrospectionCache, key: string): IntrospectionAnswer | undefined {
  try {
    return storedAnswer(store.peek?.(key))
  } catch {
    return undefined
  }
}

async function cacheGet(store: IntrospectionCache, key: string): Promise<IntrospectionAnswer | undefined> {
  try {
    return storedAnswer(await store.get(key))
  } catch {
    return undefined // a failing shared store costs a call, not the request
  }
}

async function cacheSet(store: IntrospectionCache, key: string, value: IntrospectionAnswer, ttlMs: number) {
  try {
    await store.set(key, value, ttlMs)
  } catch {
    // as above: the answer is still good for this request
  }
}

function describeFailure(url: string, error: unknown): string {
  if (!(error instanceof FetchFailure)) return `introspection endpoint ${url} failed`
  switch (error.kind) {
    case 'http_status':
      if (error.status === 401 || error.status === 403) {
        return `introspection endpoint ${url} refused the resource server's client credentials (HTTP ${error.status}); check clientId, clientSecret and clientAuth`
      }
      return `introspection endpoint ${url} answered HTTP ${error.status}`
    case 'timeout':
      return `introspection endpoint ${url} did not answer in time (${error.message})`
    case 'malformed':
      return `introspection endpoint ${url} did not answer a JSON object`
    case 'too_large':
      return `introspection endpoint ${url} answered too much (${error.message})`
    case 'network':
      return `introspection endpoint ${url} is unreachable (${error.message})`
  }
}

/** application/x-www-form-urlencoded encoding of one value (space as "+"). */
const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}
