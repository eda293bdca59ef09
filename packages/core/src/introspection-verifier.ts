import { z } from 'zod'
import type { AuthInfo, CachedOutcome, TokenVerifier } from './auth-info.js'
import { FetchFailure, fetchJson } from './bounded-fetch.js'
import { clockToleranceSchema } from './clock-tolerance.js'
import { deepFreeze } from './deep-freeze.js'
import { authorizationServerMetadataUrls, discoverAuthorizationServer } from './discovery.js'
import { invalidToken, PortcullisError, temporarilyUnavailable } from './errors.js'
import { tokenFingerprint, tokenHash } from './fingerprint.js'
import type { ComponentHealth } from './health.js'
import { introspectionKeyScope } from './introspection-cache-key.js'
import { LastSeen } from './introspection-last-seen.js'
import { type CacheStats, LruCache } from './lru-cache.js'
import { parseOptions } from './options.js'
import { audienceMatches, canonicalResource, secureUrlProblem } from './resource.js'
import { scopesFromClaims } from './scopes.js'
import { senderConstraintProblem } from './sender-constraint.js'
import { SingleFlight } from './single-flight.js'
import { traceIntrospection } from './telemetry-channels.js'
import { vouchFingerprint } from './vouched.js'

/** An introspection answer (RFC 7662 §2.2) as received: `active` plus the claims. */
export type IntrospectionAnswer = Readonly<Record<string, unknown>> & { readonly active: boolean }

/**
 * Where introspection answers are kept between requests: the built-in bounded LRU cache, or a
 * shared store (Redis) so several instances reuse one answer. Methods may return values or
 * promises. Keys are token hashes behind a prefix naming the issuer, endpoint and client id, never
 * tokens. A store that fails is treated as a miss.
 */
export interface IntrospectionCache {
  get(key: string): IntrospectionAnswer | undefined | Promise<IntrospectionAnswer | undefined>
  set(key: string, value: IntrospectionAnswer, ttlMs: number): unknown
  delete(key: string): unknown
  /** How full the store's bounded part is, for `stats()`. */
  stats?(): CacheStats
}

const secureUrl = (name: string) =>
  z.union([z.string(), z.instanceof(URL)]).transform((value, ctx) => {
    const text = String(value)
    // Client secrets travel to these URLs: plain http only where no network is crossed.
    const problem = secureUrlProblem(text)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${name} ${problem}` })
    return text
  })

const seconds = (fallback: number, max: number) => z.number().nonnegative().max(max).default(fallback)

const cacheSchema = z.strictObject({
  maxEntries: z.number().int().positive().max(10_000_000).default(10_000),
  /** Longest time an active answer is reused, in seconds (never past the token's `exp`). */
  ttl: seconds(60, 86_400),
  /** How long an inactive answer is reused, in seconds. */
  inactiveTtl: seconds(5, 3600),
  store: z
    .custom<IntrospectionCache>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as IntrospectionCache).get === 'function' &&
        typeof (v as IntrospectionCache).set === 'function' &&
        typeof (v as IntrospectionCache).delete === 'function',
      'store must have get, set and delete methods',
    )
    .optional(),
})

const introspectionVerifierSchema = z
  .strictObject({
    issuer: z.string().superRefine((value, ctx) => {
      try {
        authorizationServerMetadataUrls(value)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
      }
    }),
    endpoint: secureUrl('endpoint').optional(),
    clientId: z.string().min(1, 'clientId must not be empty'),
    clientSecret: z.string().min(1, 'clientSecret must not be empty'),
    clientAuth: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    audience: z
      .union([z.string(), z.array(z.string()).min(1, 'audience needs at least one value')])
      .transform((value, ctx) => {
        const list = typeof value === 'string' ? [value] : value
        try {
          return list.map((item) => canonicalResource(item))
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message })
          return z.NEVER
        }
      }),
    requireAudience: z.boolean().default(true),
    scopeClaim: z.string().min(1).optional(),
    /** Turns the answer's claims into scopes (see `scopeMapper`), instead of reading `scope`/`scp`. */
    claimsToScopes: z
      .custom<(claims: Record<string, unknown>) => readonly string[]>(
        (v) => typeof v === 'function',
        'must be a function',
      )
      .optional(),
    fetchTimeoutMs: z.number().int().positive().max(60_000).default(5000),
    maxBytes: z
      .number()
      .int()
      .positive()
      .max(16 * 1024 * 1024)
      .default(64 * 1024),
    // Not a z.union: its error would not say which member of `cache` is wrong.
    cache: z
      .custom<false | z.input<typeof cacheSchema>>(() => true)
      .transform((value, ctx): false | z.output<typeof cacheSchema> => {
        if (value === false) return false
        const result = cacheSchema.safeParse(value)
        if (result.success) return result.data
        for (const issue of result.error.issues)
          ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path })
        return z.NEVER
      })
      .optional(),
    /** Leeway for `exp` and `nbf`, in seconds. */
    clockTolerance: clockToleranceSchema,
    /** Seconds a client is told to wait when the endpoint cannot be used. */
    retryAfter: z.number().int().positive().max(3600).default(5),
    /** Clock in milliseconds (tests). */
    now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
  })
  .refine((o) => o.scopeClaim === undefined || o.claimsToScopes === undefined, {
    message: 'give scopeClaim or claimsToScopes, not both',
    path: ['claimsToScopes'],
  })

export type IntrospectionVerifierOptions = z.input<typeof introspectionVerifierSchema>

export interface IntrospectionVerifier extends TokenVerifier {
  /** The introspection endpoint in use, once known (configured, or found by discovery). */
  readonly endpoint: string | undefined
  /** Forgets a cached answer for a token, e.g. after a revocation notice. */
  forget(token: string): Promise<void>
  /** How full the answer cache is (`undefined` with `cache: false` or a store without `stats`), and calls under way. */
  stats(): { cache: CacheStats | undefined; inFlight: number }
  /** The endpoint as last seen: reachable, or failing since when (see `gate.health()`). */
  health(): ComponentHealth[]
}

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
  const leewayMs = o.clockTolerance * 1000
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
  const fingerprints = new WeakMap<IntrospectionAnswer, string>()

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
    // RFC 7800 / RFC 8705 §3 / RFC 9449 §6: a sender-constrained token needs a proof this server does not check.
    const bound = senderConstraintProblem(cnf, tokenType)
    if (bound !== undefined) throw bound
    if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
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
    const nowMs = now()
    if (exp !== undefined) {
      if (typeof exp !== 'number' || !Number.isFinite(exp))
        throw invalidToken('claims_malformed', 'exp is not a number')
      if (exp * 1000 + leewayMs <= nowMs) throw invalidToken('token_expired', 'token has expired')
    }
    if (nbf !== undefined) {
      if (typeof nbf !== 'number' || !Number.isFinite(nbf))
        throw invalidToken('claims_malformed', 'nbf is not a number')
      if (nbf * 1000 - leewayMs > nowMs) throw invalidToken('token_not_yet_valid', 'token is not valid yet')
    }
    const clientId = stringOr(answer.client_id, stringOr(answer.azp, ''))
    const sub = typeof answer.sub === 'string' ? answer.sub : undefined
    const claims = answer as Record<string, unknown>
    let scopes: string[]
    if (o.claimsToScopes === undefined) scopes = scopesFromClaims(claims, o.scopeClaim)
    else {
      try {
        scopes = o.claimsToScopes(claims).filter((scope) => typeof scope === 'string')
      } catch (error) {
        throw invalidToken('claims_malformed', 'token claims could not be turned into scopes', error)
      }
    }
    return {
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
      // Only the built-in store answers at once; a shared one (Redis) is asked on the async path.
      // A token that is not a bearer token never gets an entry, so no syntax check is needed here.
      if (!(store instanceof LruCache) || typeof token !== 'string') return undefined
      const answer = store.get(cacheKey(token))
      if (answer === undefined) return undefined
      // One answer per token hash: its fingerprint is computed once, not on every hit.
      const fingerprint = fingerprints.get(answer) ?? tokenFingerprint(token)
      fingerprints.set(answer, fingerprint)
      try {
        return {
          authInfo: vouchFingerprint(check(token, answer, fingerprint)),
          error: undefined,
          fingerprint,
        }
      } catch (error) {
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

async function cacheGet(store: IntrospectionCache, key: string): Promise<IntrospectionAnswer | undefined> {
  try {
    const value = await store.get(key)
    if (value === undefined || value === null || typeof value.active !== 'boolean') return undefined
    // A shared store hands back a fresh object per read: freeze it like a fetched answer.
    return deepFreeze(value)
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

const stringOr = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback)

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}
