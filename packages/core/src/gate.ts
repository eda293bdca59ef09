import { z } from 'zod'
import { type AttemptLimiter, clientAddressKey } from './attempt-limiter.js'
import type { AuthInfo, AuthInfoExtra, CachedOutcome, TokenVerifier } from './auth-info.js'
import { DEFAULT_MAX_TOKEN_LENGTH, readBearer } from './bearer.js'
import { bearerChallenge } from './challenge.js'
import { type CorsOptions, type CorsPolicy, corsPolicy, publicDocumentPreflight } from './cors-policy.js'
import { type DenyList, denyListWait } from './deny-list.js'
import {
  isPortcullisError,
  PortcullisError,
  type PortcullisReason,
  temporarilyUnavailable,
} from './errors.js'
import { tokenFingerprint } from './fingerprint.js'
import { auditAuthentication, auditAuthorization } from './gate-audit.js'
import { denyListHealth, type GateHealth, summariseHealth, verifierHealth } from './health.js'
import {
  protectedResourceMetadata,
  protectedResourceMetadataPaths,
  protectedResourceMetadataUrl,
} from './metadata.js'
import { parseOptions } from './options.js'
import { canonicalResource, secureUrlProblem } from './resource.js'
import {
  OFFLINE_ACCESS,
  type ScopePolicy,
  type ScopeRequirement,
  scopePolicy,
  scopeRequirementSchema,
  scopeTokenSchema,
} from './scopes.js'

export interface GateScopeOptions {
  /** Scope implications (a broader scope grants narrower ones), e.g. `{ 'notes:admin': ['notes:write'] }`. */
  implies?: Record<string, readonly string[]>
  /**
   * The minimal scopes for basic use. They go in the `scope` of every 401 challenge and, unless
   * `supported` is given, in `scopes_supported` (MCP 2026-07-28 §Scope Selection Strategy).
   */
  base?: readonly string[]
  /** `scopes_supported` of the metadata document, when it should differ from `base`. */
  supported?: readonly string[]
}

export interface GateOptions {
  /** The protected resource's URL, e.g. `https://mcp.example.com/mcp`. Canonicalised (RFC 8707 §2). */
  resource: string | URL
  /** Issuer identifiers of the authorization servers, exactly as their metadata spells `issuer` (>= 1). */
  authorizationServers: readonly string[]
  /** Verifies access tokens: `jwtVerifier`, `introspectionVerifier`, `issuerRouter` or your own. */
  verifier: TokenVerifier
  scopes?: GateScopeOptions
  /** Longest access token accepted, in characters. Default 8192. */
  maxTokenLength?: number
  /** `resource_name` of the metadata document (RFC 9728 §2). */
  resourceName?: string
  /** `resource_documentation` of the metadata document (RFC 9728 §2). */
  resourceDocumentation?: string
  /** CORS for browser clients on protected routes: `true` (default, any origin), `false`, or options. */
  cors?: boolean | CorsOptions
  /** Seconds clients and caches may keep the metadata document (`Cache-Control: max-age`). Default 3600. */
  metadataMaxAge?: number
  /** Longest a verifier may take before the request is answered 503. Default 10000 ms. */
  verifyTimeoutMs?: number
  /**
   * A plain description of where tokens come from and how they are checked, as an `@portcullis/idp`
   * preset gives it (issuer, audience strategy, claim paths). The gate verifies nothing with it
   * (`verifier` does); it is kept as `gate.idp` for start-up diagnostics and logs.
   */
  idp?: Readonly<Record<string, unknown>>
  /**
   * Revoked tokens to refuse (401 `invalid_token`, reason `token_revoked`) even while their
   * signature or introspection answer is good: asked on every request, cache hits included. A
   * `MemoryDenyList`, or a shared one such as `@portcullis/redis`'s `redisDenyList`.
   */
  denyList?: DenyList
  /**
   * Limits refused tokens per client address: past the limit, requests that carry a token get 429
   * with `Retry-After` before the token is verified. Needs the adapter to pass `clientAddress`.
   * An `AttemptWindows`, or a shared one such as `@portcullis/redis`'s `redisAttemptLimiter`.
   */
  attemptLimiter?: AttemptLimiter
}

/** An HTTP answer as plain data, for an adapter to send unchanged. */
export interface GateReply {
  status: number
  headers: Record<string, string>
  body: { error: string; error_description: string }
}

/** An answer of the metadata endpoint: `body` is absent for OPTIONS and 405 (and dropped by HTTP for HEAD). */
export interface MetadataReply {
  status: number
  headers: Record<string, string>
  body?: Readonly<Record<string, unknown>>
}

/** What an adapter logs for a rejection. Never the token: `fingerprint` identifies it. */
export interface RejectionLog {
  /** `'error'` for failures of the server itself (a verifier that threw something unexpected). */
  severity: 'rejection' | 'error'
  fields: {
    reason: string
    status: number
    fingerprint?: string
    missingScopes?: readonly string[]
    /**
     * Why the verifier (or deny list) could not decide, for a 503: its error's message and causes,
     * the token replaced by its fingerprint. For the operator; the client only learns what is unavailable.
     */
    detail?: string
    /** The unexpected failure, with the token replaced by its fingerprint in message and stack. */
    err?: { type: string; message: string; stack?: string }
  }
}

/** The caller after a successful `authenticate`: `resource` and `extra.fingerprint` are always set. */
export type VerifiedAuthInfo = AuthInfo & { resource: URL; extra: AuthInfoExtra & { fingerprint: string } }

export type AuthenticateResult =
  | { ok: true; auth: VerifiedAuthInfo }
  | { ok: false; error: PortcullisError; reply: GateReply; log: RejectionLog }

export type AuthorizeResult =
  | { ok: true }
  | { ok: false; error: PortcullisError; reply: GateReply; log: RejectionLog }

export interface AuthenticateInput {
  /** The `Authorization` header(s) as the framework gives them. */
  authorization?: string | string[] | undefined
  /** The `access_token` form-body parameter, when the request has a form body (RFC 6750 §2.2). */
  bodyToken?: unknown
  /** The client's address as the framework resolves it (proxy settings applied), for `attemptLimiter`. */
  clientAddress?: string | undefined
}

/**
 * The adapter-neutral request pipeline of one protected resource. Adapters translate their
 * request into `authenticate` / `authorize` calls and send the `GateReply` they get back; every
 * rule (status, challenge, headers) lives here.
 */
export interface Gate {
  /** The canonical resource URL: the `aud` tokens must carry and the metadata `resource`. */
  readonly resource: string
  /** Where the metadata document is (path-inserted, RFC 9728 §3.1): the `resource_metadata` of challenges. */
  readonly metadataUrl: string
  /** The URL paths to serve the metadata document at. */
  readonly metadataPaths: readonly string[]
  readonly metadataDocument: Readonly<Record<string, unknown>>
  readonly policy: ScopePolicy
  /** CORS rules for protected routes, `undefined` when disabled. */
  readonly cors: CorsPolicy | undefined
  /** The `idp` description given in the options, if any. */
  readonly idp: Readonly<Record<string, unknown>> | undefined
  authenticate(input: AuthenticateInput): Promise<AuthenticateResult>
  /**
   * `authenticate`, answered at once when nothing needs waiting for (a malformed request, a token
   * the verifier remembers), else a promise: an adapter on a hot path spares a promise per request.
   */
  authenticateNow(input: AuthenticateInput): AuthenticateResult | Promise<AuthenticateResult>
  authorize(
    auth: Pick<AuthInfo, 'scopes' | 'token' | 'extra'>,
    requirement: ScopeRequirement,
  ): AuthorizeResult
  reply(error: PortcullisError): GateReply
  /** The answer of the metadata endpoint to a request method. */
  metadataReply(method: string): MetadataReply
  /** Key sets, introspection and deny list as last seen, for a readiness route. Makes no request. */
  health(): GateHealth
  /**
   * False while the deny list cannot vouch for tokens (a shared list not loaded yet, or too
   * stale): every token is answered 503 meanwhile. For readiness checks.
   */
  ready(): boolean
}

const httpsUrl = z.string().superRefine((value, ctx) => {
  const problem = secureUrlProblem(value)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} ${problem}` })
})

// RFC 8414 §2: an issuer identifier is an https URL with no query or fragment. It is kept byte for
// byte: clients compare it with the authorization server's `issuer` (MCP 2026-07-28).
const issuerUrl = httpsUrl.refine((value) => !value.includes('?') && !value.includes('#'), {
  error: 'an issuer identifier has no query or fragment (RFC 8414 §2)',
})

const scopeList = z.array(scopeTokenSchema).readonly()
const advertisedScopeList = scopeList.refine((scopes) => !scopes.includes(OFFLINE_ACCESS), {
  // MCP 2026-07-28 §Refresh Tokens (SEP-2207): a resource server SHOULD NOT advertise it.
  error: 'must not contain offline_access (a resource server does not advertise it, MCP SEP-2207)',
})

const corsOptionsSchema = z.strictObject({
  origin: z
    .union([
      z.literal('*'),
      z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin is scheme://host[:port]')),
    ])
    .optional(),
  maxAge: z.number().int().min(0).max(86400).optional(),
  allowHeaders: z.array(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'not a header name')).optional(),
  exposeHeaders: z.array(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'not a header name')).optional(),
})

/** zod schema of `GateOptions`; adapters extend it with their own options. */
export const gateOptionsSchema = z.strictObject({
  resource: z.union([z.string(), z.instanceof(URL)]).transform((value, ctx) => {
    try {
      return canonicalResource(value)
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message })
      return z.NEVER
    }
  }),
  authorizationServers: z
    .array(issuerUrl)
    .min(1, 'name at least one authorization server (MCP: PRM MUST list one)'),
  verifier: z.custom<TokenVerifier>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      typeof (value as { verifyAccessToken?: unknown }).verifyAccessToken === 'function',
    { error: 'must be a TokenVerifier (an object with verifyAccessToken(token))' },
  ),
  scopes: z
    .strictObject({
      implies: z.record(scopeTokenSchema, scopeList).optional(),
      base: advertisedScopeList.optional(),
      supported: advertisedScopeList.optional(),
    })
    .optional(),
  maxTokenLength: z.number().int().min(64).max(1_000_000).optional(),
  resourceName: z.string().min(1).optional(),
  resourceDocumentation: httpsUrl.optional(),
  cors: z.union([z.boolean(), corsOptionsSchema]).optional(),
  metadataMaxAge: z.number().int().min(0).max(31_536_000).optional(),
  verifyTimeoutMs: z.number().int().min(1).max(120_000).optional(),
  idp: z
    .custom<Readonly<Record<string, unknown>>>(
      (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
      { error: 'must be a plain object describing the token issuer (an @portcullis/idp preset sets it)' },
    )
    .optional(),
  denyList: z
    .custom<DenyList>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        typeof (value as { isDenied?: unknown }).isDenied === 'function',
      { error: 'must be a DenyList (an object with isDenied(auth))' },
    )
    .optional(),
  attemptLimiter: z
    .custom<AttemptLimiter>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        typeof (value as { retryAfter?: unknown }).retryAfter === 'function' &&
        typeof (value as { recordFailure?: unknown }).recordFailure === 'function',
      { error: 'must be an AttemptLimiter (an object with retryAfter(address) and recordFailure(address))' },
    )
    .optional(),
})

/** zod schema of a `Gate` passed as an option (`{ gate }`), so adapters can share one gate. */
export const gateSchema = z.custom<Gate>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Gate).authenticate === 'function' &&
    typeof (value as Gate).metadataReply === 'function',
  { error: 'must be a gate made by createGate()' },
)

const ALLOWED: AuthorizeResult = Object.freeze({ ok: true })
const NO_STORE = 'no-store'
const JSON_TYPE = 'application/json; charset=utf-8'
const METADATA_METHODS = 'GET, HEAD, OPTIONS'

/**
 * Creates the request pipeline of one protected resource: bearer extraction, verification,
 * audience binding, scope checks and every reply, RFC 6750 / RFC 9728 / MCP-correct.
 *
 * Failure policy: token problems are 401 `invalid_token`, request problems 400
 * `invalid_request`, missing scopes 403 `insufficient_scope`, an unreachable key set or
 * introspection endpoint 503 with `Retry-After`. A verifier that throws anything other than a
 * `PortcullisError` (a bug, or a custom verifier's database being down) is answered 503
 * `temporarily_unavailable` with a generic description: the request fails closed, no internal
 * detail leaks, and the client backs off instead of starting a new authorization flow for a token
 * that may be fine. The failure is reported for logging at error severity. A verifier's own 503
 * (key set, introspection endpoint, discovery) tells the client only what is unavailable; why
 * (addresses, statuses, credential problems) is logged as `detail` (CWE-209).
 *
 * @example
 * const gate = createGate({
 *   resource: 'https://mcp.example.com/mcp',
 *   authorizationServers: ['https://idp.example.com/realms/acme'],
 *   verifier: jwtVerifier({ issuer: 'https://idp.example.com/realms/acme', audience: 'https://mcp.example.com/mcp' }),
 *   scopes: { base: ['notes:read'], implies: { 'notes:write': ['notes:read'] } },
 * })
 * const result = await gate.authenticate({ authorization: req.headers.authorization })
 * if (!result.ok) return send(result.reply)
 */
export function createGate(options: GateOptions): Gate {
  const parsed = parseOptions(gateOptionsSchema, options, 'createGate')
  const resource = parsed.resource
  const verifier = parsed.verifier
  const baseScopes = parsed.scopes?.base ?? []
  // The caller's object, not zod's copy, which loses a "__proto__" key (scopePolicy validates it).
  const policy = scopePolicy(options.scopes?.implies ?? {})
  const maxTokenLength = parsed.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH
  const verifyTimeoutMs = parsed.verifyTimeoutMs ?? 10_000
  const metadataUrl = protectedResourceMetadataUrl(resource)
  const metadataPaths = protectedResourceMetadataPaths(resource)
  const supported = parsed.scopes?.supported ?? parsed.scopes?.base
  const metadataDocument = Object.freeze(
    protectedResourceMetadata({
      resource,
      authorizationServers: parsed.authorizationServers,
      ...(supported === undefined ? {} : { scopesSupported: supported }),
      ...(parsed.resourceName === undefined ? {} : { resourceName: parsed.resourceName }),
      ...(parsed.resourceDocumentation === undefined
        ? {}
        : { resourceDocumentation: parsed.resourceDocumentation }),
    }),
  ) as Readonly<Record<string, unknown>>
  const cors = parsed.cors === false ? undefined : corsPolicy(parsed.cors === true ? {} : (parsed.cors ?? {}))
  const metadataCacheControl = `public, max-age=${parsed.metadataMaxAge ?? 3600}`
  const denyList = parsed.denyList
  const limiter = parsed.attemptLimiter

  const reply = (error: PortcullisError): GateReply => {
    const headers: Record<string, string> = { 'Cache-Control': NO_STORE, 'Content-Type': JSON_TYPE }
    const challenge = challengeFor(error)
    if (challenge !== undefined) headers['WWW-Authenticate'] = challenge
    if (error.code === 'temporarily_unavailable') headers['Retry-After'] = String(error.retryAfter ?? 5)
    return { status: error.status, headers, body: { error: error.code, error_description: error.message } }
  }

  const challengeFor = (error: PortcullisError): string | undefined => {
    switch (error.code) {
      case 'invalid_token':
        // RFC 6750 §3.1: a request without (bearer) credentials gets a challenge with no error code.
        if (error.reason === 'credentials_missing' || error.reason === 'scheme_unsupported') {
          return bearerChallenge({ resourceMetadata: metadataUrl, ...scopeParam(baseScopes) })
        }
        // OAuth 2.1 §5.3.1; MCP 2026-07-28 §Scope Selection Strategy: scope SHOULD be in a 401.
        return bearerChallenge({
          error: 'invalid_token',
          errorDescription: error.message,
          resourceMetadata: metadataUrl,
          ...scopeParam(baseScopes),
        })
      case 'insufficient_scope':
        // MCP 2026-07-28 §Runtime Insufficient Scope Errors: every scope the operation needs, in one challenge.
        return bearerChallenge({
          error: 'insufficient_scope',
          errorDescription: error.message,
          resourceMetadata: metadataUrl,
          ...scopeParam(error.scopes ?? []),
        })
      case 'invalid_request':
        return bearerChallenge({
          error: 'invalid_request',
          errorDescription: error.message,
          resourceMetadata: metadataUrl,
        })
      default:
        return undefined
    }
  }

  const reject = (error: PortcullisError, fields: Omit<RejectionLog['fields'], 'reason' | 'status'> = {}) => {
    const severity: RejectionLog['severity'] = fields.err === undefined ? 'rejection' : 'error'
    return {
      ok: false as const,
      error,
      reply: reply(error),
      log: { severity, fields: { reason: error.reason, status: error.status, ...fields } },
    }
  }

  /**
   * The answer at once when nothing needs waiting for (a malformed header, a token the verifier
   * remembers), else a promise. Every check runs on both paths; only real verification work arms
   * the timeout.
   */
  const authenticateNow = (input: AuthenticateInput): AuthenticateResult | Promise<AuthenticateResult> => {
    let token: string
    try {
      const bearer = readBearer({
        authorization: input.authorization,
        bodyToken: input.bodyToken,
        maxTokenLength,
      })
      if (bearer.token === undefined) {
        return reject(
          new PortcullisError(
            'invalid_token',
            bearer.reason,
            bearer.reason === 'credentials_missing'
              ? 'An access token is required in the Authorization header (Bearer scheme)'
              : 'Only Bearer access tokens are accepted',
          ),
        )
      }
      token = bearer.token
    } catch (error) {
      if (isPortcullisError(error)) return reject(error)
      return reject(internalError(), { err: describeFailure(error, undefined) })
    }

    const address =
      limiter === undefined || input.clientAddress === undefined
        ? undefined
        : clientAddressKey(input.clientAddress)
    if (address !== undefined) {
      const wait = retryAfterOf(limiter!, address)
      if (wait > 0) return reject(tooManyAttempts(wait), { fingerprint: tokenFingerprint(token) })
    }

    let cached: CachedOutcome | undefined
    try {
      cached = verifier.cachedOutcome?.(token)
    } catch {
      cached = undefined // a failing shortcut costs the full verification, not the request
    }
    if (cached !== undefined) {
      if (cached.authInfo !== undefined) return admit(cached.authInfo, token, cached.fingerprint, address)
      return failed(cached.error, token, cached.fingerprint, address)
    }
    return verifyAndAdmit(token, address)
  }

  const verifyAndAdmit = async (token: string, address: string | undefined): Promise<AuthenticateResult> => {
    const fingerprint = tokenFingerprint(token)
    let auth: AuthInfo
    try {
      auth = await withTimeout(verifier.verifyAccessToken(token), verifyTimeoutMs)
    } catch (error) {
      if (error === TIMED_OUT) {
        return reject(
          new PortcullisError('temporarily_unavailable', 'internal_error', 'Token verification timed out', {
            retryAfter: 5,
          }),
          { fingerprint },
        )
      }
      return failed(error, token, fingerprint, address)
    }
    return admit(auth, token, fingerprint, address)
  }

  /** The answer to a verifier's failure, thrown now or remembered. */
  const failed = (
    error: unknown,
    token: string,
    fingerprint: string,
    address: string | undefined,
  ): AuthenticateResult | Promise<AuthenticateResult> => {
    if (isPortcullisError(error) && error.code === 'temporarily_unavailable') {
      return reject(unavailableToClient(error), { fingerprint, detail: describeChain(error, token) })
    }
    if (isPortcullisError(error) && error.code !== 'server_error') return refuse(error, fingerprint, address)
    return reject(internalError(), { fingerprint, err: describeFailure(error, token) })
  }

  /** A refused token, counted against its address (when limited) before the answer goes out. */
  const refuse = (
    error: PortcullisError,
    fingerprint: string,
    address: string | undefined,
  ): AuthenticateResult | Promise<AuthenticateResult> => {
    if (address === undefined || error.code !== 'invalid_token') return reject(error, { fingerprint })
    return recordFailure(limiter!, address, verifyTimeoutMs).then(() => reject(error, { fingerprint }))
  }

  /** The checks after the verifier accepted a token (its answer fresh or remembered). */
  const admit = (
    auth: AuthInfo,
    token: string,
    fingerprint: string,
    address: string | undefined,
  ): AuthenticateResult | Promise<AuthenticateResult> => {
    if (!isAuthInfo(auth)) {
      return reject(internalError(), {
        fingerprint,
        err: { type: 'TypeError', message: 'The verifier returned something that is not an AuthInfo' },
      })
    }
    // RFC 8707 §2 / MCP "Token Handling": a token accepted for another resource is not ours to serve.
    if (auth.resource !== undefined && !isOurResource(auth.resource)) {
      return refuse(
        new PortcullisError(
          'invalid_token',
          'audience_mismatch',
          'The access token was issued for another resource',
        ),
        fingerprint,
        address,
      )
    }
    const verified: VerifiedAuthInfo = {
      ...auth,
      resource: auth.resource ?? new URL(resource),
      extra: { ...auth.extra, fingerprint },
    }
    if (denyList !== undefined) {
      // A list that may hold this token and cannot say (not loaded yet, too stale) vouches for none.
      const wait = denyListWait(denyList)
      if (wait > 0) {
        const error = temporarilyUnavailable('revocation_unavailable', 'the deny list cannot vouch yet', wait)
        return reject(unavailableToClient(error), { fingerprint })
      }
      // After the verifier (whose answer may come from a cache), so a revocation counts at once.
      let denied: boolean
      try {
        denied = denyList.isDenied(verified)
      } catch (error) {
        if (isPortcullisError(error) && error.code === 'temporarily_unavailable') {
          return reject(unavailableToClient(error), { fingerprint, detail: describeChain(error, token) })
        }
        if (isPortcullisError(error) && error.code !== 'server_error') return reject(error, { fingerprint })
        return reject(internalError(), { fingerprint, err: describeFailure(error, token) })
      }
      if (denied) {
        return refuse(
          new PortcullisError('invalid_token', 'token_revoked', 'The access token has been revoked'),
          fingerprint,
          address,
        )
      }
    }
    return { ok: true, auth: verified }
  }

  // The verifier's URL usually is the resource itself: its href, compared first, spares a canonicalisation.
  const resourceHref = new URL(resource).href
  const isOurResource = (value: URL | string): boolean =>
    (value instanceof URL && value.href === resourceHref) || sameResource(value, resource)

  const authenticate = (input: AuthenticateInput): Promise<AuthenticateResult> => {
    const result = authenticateNow(input)
    return result instanceof Promise ? result : Promise.resolve(result)
  }

  const authorize = (
    auth: Pick<AuthInfo, 'scopes' | 'token' | 'extra'>,
    requirement: ScopeRequirement,
  ): AuthorizeResult => {
    if (policy.satisfies(requirement, auth.scopes)) return ALLOWED
    const missing = policy.missing(requirement, auth.scopes)
    const anyOf = !Array.isArray(requirement) && 'anyOf' in requirement
    const description = anyOf
      ? `This operation requires one of the scopes: ${(requirement as { anyOf: readonly string[] }).anyOf.join(' ')}`
      : `This operation requires the scope${missing.length === 1 ? '' : 's'}: ${missing.join(' ')}`
    const error = new PortcullisError('insufficient_scope', 'scope_insufficient', description, {
      scopes: missing,
    })
    const fingerprint = auth.extra?.fingerprint ?? tokenFingerprint(auth.token)
    return reject(error, { fingerprint, missingScopes: missing })
  }

  const metadataPreflight = publicDocumentPreflight(
    METADATA_METHODS.split(', '),
    typeof parsed.cors === 'object' ? (parsed.cors.allowHeaders ?? []) : [],
  )
  const metadataReply = (method: string): MetadataReply => {
    const open = { 'Access-Control-Allow-Origin': '*' }
    switch (method) {
      // RFC 9110 §9.3.2: HEAD gets the headers of GET; the HTTP layer drops the body.
      case 'GET':
      case 'HEAD':
        return {
          status: 200,
          headers: { ...open, 'Cache-Control': metadataCacheControl, 'Content-Type': JSON_TYPE },
          body: metadataDocument,
        }
      case 'OPTIONS':
        // A preflight for a public GET: any origin, no credentials needed.
        return { status: 204, headers: { ...metadataPreflight } }
      default:
        // RFC 9110 §15.5.6: a 405 lists the allowed methods.
        return { status: 405, headers: { ...open, Allow: METADATA_METHODS, 'Cache-Control': NO_STORE } }
    }
  }

  return Object.freeze({
    resource,
    metadataUrl,
    metadataPaths: Object.freeze([...metadataPaths]),
    metadataDocument,
    policy,
    cors,
    idp: parsed.idp,
    authenticate: (input: AuthenticateInput) => auditAuthentication(resource, authenticate(input)),
    authenticateNow: (input: AuthenticateInput) => auditAuthentication(resource, authenticateNow(input)),
    authorize: (auth: Pick<AuthInfo, 'scopes' | 'token' | 'extra'>, requirement: ScopeRequirement) =>
      auditAuthorization(resource, auth, authorize(auth, requirement)),
    reply,
    metadataReply,
    health: () =>
      summariseHealth([
        ...verifierHealth(verifier),
        ...(denyList === undefined ? [] : [denyListHealth(denyList)]),
      ]),
    ready: () => denyList === undefined || denyListWait(denyList) === 0,
  })
}

/** Validates a route's or tool's scope requirement at register time, naming the owner in the error. */
export function parseScopeRequirement(value: unknown, owner: string): ScopeRequirement {
  return parseOptions(scopeRequirementSchema, value, owner) as ScopeRequirement
}

/** Scopes as a guard takes them: scope names (all required), or one `ScopeRequirement`. */
export type ScopeArgs = string[] | [ScopeRequirement]

/**
 * The requirement of a guard's arguments (`requireScopes('a', 'b')`, `requireScopes({ anyOf })`),
 * validated, naming the owner in the error.
 *
 * @example
 * parseScopeArgs(['notes:read', 'notes:write'], 'requireScopes') // ['notes:read', 'notes:write']
 * parseScopeArgs([{ anyOf: ['a', 'b'] }], 'requireScopes') // { anyOf: ['a', 'b'] }
 */
export function parseScopeArgs(args: ScopeArgs, owner: string): ScopeRequirement {
  return parseScopeRequirement(args.length === 1 && typeof args[0] !== 'string' ? args[0] : args, owner)
}

/**
 * The `Authorization` header values of a Node.js request, from `rawHeaders`: Node keeps only the
 * first of repeated `Authorization` headers in `headers`, which would hide a second credential
 * (RFC 6750 §3.1 makes two an `invalid_request`).
 *
 * @example
 * gate.authenticate({ authorization: authorizationHeaders(req.rawHeaders) })
 */
export function authorizationHeaders(rawHeaders: readonly string[]): string | string[] | undefined {
  let found: string | string[] | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length !== 13) continue
    // The usual spellings first: no lower-cased copy per request.
    if (name !== 'authorization' && name !== 'Authorization' && name.toLowerCase() !== 'authorization')
      continue
    const value = rawHeaders[i + 1]!
    found = found === undefined ? value : Array.isArray(found) ? [...found, value] : [found, value]
  }
  return found
}

const scopeParam = (scopes: readonly string[]) => (scopes.length === 0 ? {} : { scope: scopes })

// RFC 6585 §4: 429 with Retry-After. The OAuth error stays temporarily_unavailable (RFC 6749
// §4.1.2.1), the one registered code that says "later"; no challenge, the token was not judged.
const tooManyAttempts = (retryAfter: number) =>
  new PortcullisError(
    'temporarily_unavailable',
    'attempts_exceeded',
    `Too many refused access tokens from this client address; retry after ${retryAfter} s`,
    { retryAfter, status: 429 },
  )

/** A limiter that fails never stops a request: it is a brake, not a lock (it logs through its owner). */
function retryAfterOf(limiter: AttemptLimiter, address: string): number {
  try {
    const wait = limiter.retryAfter(address)
    return Number.isFinite(wait) && wait > 0 ? Math.ceil(wait) : 0
  } catch {
    return 0
  }
}

async function recordFailure(limiter: AttemptLimiter, address: string, timeoutMs: number): Promise<void> {
  try {
    await withTimeout(Promise.resolve(limiter.recordFailure(address)), timeoutMs)
  } catch {
    // as above; a slow limiter delays a refusal by at most timeoutMs
  }
}

// CWE-209: what the client is told when a verifier cannot decide. Which endpoint failed and how
// (addresses, HTTP statuses, credential advice) goes to the log as `detail`, never to the client.
const UNAVAILABLE_DESCRIPTIONS: Partial<Record<PortcullisReason, string>> = {
  jwks_unavailable: 'the signing keys of the authorization server are unavailable',
  introspection_unavailable: 'the introspection endpoint of the authorization server is unavailable',
  discovery_failed: 'the metadata of the authorization server is unavailable',
  revocation_unavailable: 'The list of revoked tokens cannot be confirmed right now; retry later',
}

/** The error a client sees for a verifier's `temporarily_unavailable`: same reason, status and wait, a fixed description. */
function unavailableToClient(error: PortcullisError): PortcullisError {
  return new PortcullisError(
    'temporarily_unavailable',
    error.reason,
    UNAVAILABLE_DESCRIPTIONS[error.reason] ?? 'The access token could not be verified right now; retry later',
    { retryAfter: error.retryAfter ?? 5, status: error.status, cause: error },
  )
}

/** An error's message and those of its causes, for the log: the token replaced, the length bounded. */
function describeChain(error: Error, token: string): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    parts.push(current instanceof Error ? current.message : String(current))
    current = current instanceof Error ? current.cause : undefined
  }
  const text = parts
    .join(': ')
    .split(token)
    .join(`[token ${tokenFingerprint(token)}]`)
  return text.length > 1000 ? `${text.slice(0, 1000)}...` : text
}

const internalError = () =>
  new PortcullisError(
    'temporarily_unavailable',
    'internal_error',
    'The access token could not be verified right now; retry later',
    { retryAfter: 5 },
  )

function sameResource(value: URL | string, resource: string): boolean {
  try {
    return canonicalResource(value) === resource
  } catch {
    return false
  }
}

function isAuthInfo(value: unknown): value is AuthInfo {
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

/** An unexpected failure for the log, with the token (if the failure quotes it) replaced by its fingerprint. */
function describeFailure(
  error: unknown,
  token: string | undefined,
): NonNullable<RejectionLog['fields']['err']> {
  const scrub = (text: string) =>
    token === undefined ? text : text.split(token).join(`[token ${tokenFingerprint(token)}]`)
  if (error instanceof Error) {
    return {
      type: error.name,
      message: scrub(error.message),
      ...(error.stack === undefined ? {} : { stack: scrub(error.stack) }),
    }
  }
  return { type: typeof error, message: scrub(String(error)) }
}

const TIMED_OUT = Symbol('timed out')

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(TIMED_OUT), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
