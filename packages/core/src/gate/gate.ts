import { dpopAwareVerifier } from '../dpop/binding.js'
import { dpopStep } from '../dpop/gate-step.js'
import { dpopCors, dpopMetadata, resolveDpop } from '../dpop/options.js'
import { DEFAULT_MAX_TOKEN_LENGTH, readBearer } from '../oauth/bearer.js'
import { bearerChallenge } from '../oauth/challenge.js'
import {
  protectedResourceMetadata,
  protectedResourceMetadataPaths,
  protectedResourceMetadataUrl,
} from '../oauth/metadata.js'
import { sameResource } from '../oauth/resource.js'
import { type ScopeRequirement, scopePolicy } from '../oauth/scopes.js'
import { isPortcullisError, PortcullisError, temporarilyUnavailable } from '../support/errors.js'
import { parseOptions } from '../support/options.js'
import { addedHealthOf, denyListHealth, summariseHealth, verifierHealth } from '../telemetry/health.js'
import { type Freshness, traceAuthentication, traceAuthorization } from '../telemetry/telemetry-channels.js'
import { type AuthInfo, type CachedOutcome, isAuthInfo } from '../token/auth-info.js'
import { denyListWait } from '../token/deny-list.js'
import { tokenFingerprint } from '../token/fingerprint.js'
import { fingerprintOf, isVouchedJwt } from '../token/vouched.js'
import { clientAddressKey } from './attempt-limiter.js'
import { corsPolicy, publicDocumentPreflight } from './cors-policy.js'
import { auditAuthentication, auditAuthorization } from './gate-audit.js'
import { gateOptionsSchema } from './gate-options.js'
import {
  describeChain,
  describeFailure,
  internalError,
  recordFailure,
  retryAfterOf,
  scopeParam,
  TIMED_OUT,
  tooManyAttempts,
  unavailableToClient,
  withTimeout,
} from './gate-support.js'
import type {
  AuthenticateInput,
  AuthenticateResult,
  AuthorizeResult,
  Gate,
  GateOptions,
  GateReply,
  MetadataReply,
  RejectionLog,
  VerifiedAuthInfo,
} from './gate-types.js'
import { describeRequirement, scopeDenial } from './scope-denial.js'

const ALLOWED: AuthorizeResult = Object.freeze({ ok: true })
const NO_STORE = 'no-store'
const JSON_TYPE = 'application/json; charset=utf-8'
const METADATA_METHODS = 'GET, HEAD, OPTIONS'

const ignore = (): void => {}

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
export function createGate(options: GateOptions, owner = 'createGate'): Gate {
  const parsed = parseOptions(gateOptionsSchema, options, owner)
  const resource = parsed.resource
  const dpopSetting = resolveDpop(parsed.dpop)
  const verifier = dpopAwareVerifier(parsed.verifier, dpopSetting)
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
      ...dpopMetadata(dpopSetting),
    }),
  ) as Readonly<Record<string, unknown>>
  const cors =
    parsed.cors === false
      ? undefined
      : corsPolicy(dpopCors(parsed.cors === true ? {} : (parsed.cors ?? {}), dpopSetting))
  const metadataCacheControl = `public, max-age=${parsed.metadataMaxAge ?? 3600}`
  const denyList = parsed.denyList
  const limiter = parsed.attemptLimiter?.forResource?.(resource) ?? parsed.attemptLimiter

  const dpop = dpopStep(dpopSetting, { resource, metadataUrl, baseScopes, maxTokenLength })
  const reply = (error: PortcullisError): GateReply => {
    const headers: Record<string, string> = { 'Cache-Control': NO_STORE, 'Content-Type': JSON_TYPE }
    const challenge = dpop === undefined ? challengeFor(error) : dpop.challenge(error, challengeFor(error))
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

  /** The verifier's remembered outcome for a token, `undefined` when unknown or the shortcut fails. */
  const lookUp = (token: string): CachedOutcome | undefined => {
    try {
      return verifier.cachedOutcome?.(token)
    } catch {
      return undefined // a failing shortcut costs the full verification, not the request
    }
  }
  // The outcome readBearer's question looked up, for authenticateNow to use (no second lookup).
  let looked: CachedOutcome | undefined
  // Whether the answer at once came from a verification just made (telemetry: a miss, not a hit).
  const freshness: Freshness = { verified: false }
  // A token a jwtVerifier accepted is a compact JWS, all base64url: a token68 (RFC 6750 §2.1).
  const acceptedBefore = (token: string): boolean => {
    looked = lookUp(token)
    return looked?.authInfo !== undefined && isVouchedJwt(looked.authInfo)
  }

  /**
   * The answer at once when nothing needs waiting for (a malformed header, a remembered token, a
   * verifier that decided at once), else a promise. Only waiting for a verifier arms the timeout.
   */
  const authenticateBearer = (input: AuthenticateInput): AuthenticateResult | Promise<AuthenticateResult> => {
    let token: string
    looked = undefined
    freshness.verified = false
    try {
      const bearer = readBearer({
        authorization: input.authorization,
        bodyToken: input.bodyToken,
        maxTokenLength,
        acceptedBefore,
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

    const client =
      limiter === undefined || typeof input.clientAddress !== 'function'
        ? input.clientAddress
        : input.clientAddress()
    const address = limiter === undefined || typeof client !== 'string' ? undefined : clientAddressKey(client)
    if (address !== undefined) {
      const wait = retryAfterOf(limiter!, address)
      if (wait > 0) return reject(tooManyAttempts(wait), { fingerprint: tokenFingerprint(token) })
    }

    // Looked up while the header was read (before the limiter, which a remembered answer still meets).
    const cached = looked as CachedOutcome | undefined
    if (cached !== undefined) {
      if (cached.authInfo !== undefined) return admit(cached.authInfo, token, cached.fingerprint, address)
      return failed(cached.error, token, cached.fingerprint, address)
    }
    return verifyAndAdmit(token, address)
  }
  // RFC 9449: the DPoP scheme and its proof around the bearer pipeline, when DPoP is on.
  const authenticateNow =
    dpop === undefined ? authenticateBearer : dpop.authenticate(authenticateBearer, reply)

  const verifyAndAdmit = (token: string, address: string | undefined): ReturnType<typeof authenticateNow> => {
    let pending: Promise<AuthInfo>
    try {
      pending = verifier.verifyAccessToken(token)
    } catch (error) {
      pending = Promise.reject(error)
    }
    // A verifier that decided at once (a held key on the event loop) has remembered its answer
    // before returning: take it now, with no promise or deadline, as a cache hit would be taken.
    const decided = lookUp(token)
    if (decided !== undefined) {
      freshness.verified = true
      if (decided.authInfo !== undefined) return admit(decided.authInfo, token, decided.fingerprint, address)
      pending.catch(ignore) // the same refusal, answered below
      return failed(decided.error, token, decided.fingerprint, address)
    }
    return settleVerification(pending, token, address)
  }

  const settleVerification = async (pending: Promise<AuthInfo>, token: string, address?: string) => {
    let auth: AuthInfo
    try {
      auth = await withTimeout(pending, verifyTimeoutMs)
    } catch (error) {
      const fingerprint = tokenFingerprint(token)
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
    // The fingerprint a built-in verifier vouched for spares a hash; any other is computed here.
    return admit(
      auth,
      token,
      isAuthInfo(auth) && auth.token === token ? fingerprintOf(auth) : tokenFingerprint(token),
      address,
    )
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

  // The VerifiedAuthInfo of a frozen (remembered) verifier answer, checked and built once; each
  // request gets its own copy of it, which V8 clones fast (a spread that adds members does not).
  const admitted = new WeakMap<AuthInfo, VerifiedAuthInfo>()

  /** The checks after the verifier accepted a token (its answer fresh or remembered). */
  const admit = (
    auth: AuthInfo,
    token: string,
    fingerprint: string,
    address: string | undefined,
  ): AuthenticateResult | Promise<AuthenticateResult> => {
    let template = isOwnTemplate(auth, fingerprint) ? auth : admitted.get(auth)
    if (template === undefined || template.extra.fingerprint !== fingerprint) {
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
      template = {
        ...auth,
        resource: auth.resource ?? new URL(resource),
        extra: { ...auth.extra, fingerprint },
      }
      // A frozen answer cannot change under the template; any other is checked on every request.
      if (Object.isFrozen(auth)) admitted.set(auth, template)
    }
    const verified: VerifiedAuthInfo = { ...template, extra: { ...template.extra } }
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
  // A jwtVerifier's answer naming this resource is a template as it is (frozen, fingerprint vouched).
  const isOwnTemplate = (auth: AuthInfo, fingerprint: string): auth is VerifiedAuthInfo => {
    if (auth.resource === undefined || auth.extra?.fingerprint !== fingerprint) return false
    return isVouchedJwt(auth) && isOurResource(auth.resource)
  }

  // Telemetry (traces, metrics) and audit observe every answer; both cost nothing unsubscribed.
  const observed = (input: AuthenticateInput) =>
    auditAuthentication(resource, traceAuthentication(resource, authenticateNow, input, freshness))

  const authorize = (
    auth: Pick<AuthInfo, 'scopes' | 'token' | 'extra'>,
    requirement: ScopeRequirement,
  ): AuthorizeResult => {
    if (policy.satisfies(requirement, auth.scopes)) return ALLOWED
    const missing = policy.missing(requirement, auth.scopes)
    const fingerprint = auth.extra?.fingerprint ?? tokenFingerprint(auth.token)
    const { error, log } = scopeDenial(missing, describeRequirement(requirement, missing), fingerprint)
    return { ok: false as const, error, reply: reply(error), log }
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

  const gate: Gate = Object.freeze({
    resource,
    metadataUrl,
    metadataPaths: Object.freeze([...metadataPaths]),
    metadataDocument,
    policy,
    cors,
    authenticate: (input: AuthenticateInput): Promise<AuthenticateResult> => {
      const result = observed(input)
      return result instanceof Promise ? result : Promise.resolve(result)
    },
    authenticateNow: observed,
    authorize: (auth: Pick<AuthInfo, 'scopes' | 'token' | 'extra'>, requirement: ScopeRequirement) =>
      auditAuthorization(resource, auth, traceAuthorization(resource, authorize, auth, requirement)),
    reply,
    metadataReply,
    health: () =>
      summariseHealth([
        ...verifierHealth(verifier),
        ...(denyList === undefined ? [] : [denyListHealth(denyList)]),
        ...addedHealthOf(gate),
      ]),
    ready: () => denyList === undefined || denyListWait(denyList) === 0,
  })
  return gate
}
