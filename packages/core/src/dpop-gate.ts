// The gate's DPoP step (RFC 9449 §7): the `DPoP` Authorization scheme, its proof, the key binding,
// the challenges. gate.ts calls it at three points: the verifier, the challenges, authentication.
import type { AuthInfo, CachedOutcome, TokenVerifier } from './auth-info.js'
import { bearerChallenge, dpopChallenge, parseChallenges } from './challenge.js'
import { DpopKeyCache } from './dpop-key.js'
import { dpopNonces } from './dpop-nonce.js'
import type { ResolvedDpop } from './dpop-options.js'
import { checkDpopProof } from './dpop-proof.js'
import { type DpopReplayCache, dpopProofId, MemoryDpopReplayCache } from './dpop-replay.js'
import { invalidRequest, invalidToken, isPortcullisError, PortcullisError } from './errors.js'
import { tokenFingerprint } from './fingerprint.js'
import type { AuthenticateInput, AuthenticateResult, GateReply, VerifiedAuthInfo } from './gate-types.js'
import { dpopBinding, dpopBoundCaller, senderConstraintProblem } from './sender-constraint.js'

type Authenticate = (input: AuthenticateInput) => AuthenticateResult | Promise<AuthenticateResult>

export interface DpopStepContext {
  /** The canonical resource: its origin is the origin of every `htu` (never the Host header). */
  resource: string
  metadataUrl: string
  baseScopes: readonly string[]
  maxTokenLength: number
  /** Clock in milliseconds (tests). */
  now?: () => number
}

/** What gate.ts asks of DPoP; `undefined` from `dpopStep` when the mode is `'off'`. */
export interface DpopStep {
  /** The `WWW-Authenticate` value of a refusal, given the one the Bearer rules would send. */
  challenge(error: PortcullisError, bearer: string | undefined): string | undefined
  /** Authentication with DPoP: `bearer` is the gate's own pipeline, which it calls with the token. */
  authenticate(bearer: Authenticate, reply: (error: PortcullisError) => GateReply): Authenticate
}

// RFC 9110 §11.2 token68.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * A verifier whose DPoP-bound tokens are callers, not refusals: the gate checks the proof itself.
 * Everything else about the verifier (its health, its caches) is its own. Unchanged when DPoP is off.
 */
export function dpopAwareVerifier<V>(verifier: V, dpop: ResolvedDpop): V {
  if (dpop.mode === 'off') return verifier
  const inner = verifier as unknown as TokenVerifier
  if (typeof inner !== 'object' || inner === null || typeof inner.verifyAccessToken !== 'function') {
    return verifier // the option schema names the problem
  }
  const outcomes = new WeakMap<object, CachedOutcome>()
  const aware: Partial<TokenVerifier> = {
    verifyAccessToken: (token) =>
      inner.verifyAccessToken(token).catch((error: unknown) => {
        const caller = dpopBoundCaller(error)
        if (caller === undefined) throw error
        return caller
      }),
  }
  if (typeof inner.cachedOutcome === 'function') {
    aware.cachedOutcome = (token) => {
      const outcome = inner.cachedOutcome!(token)
      if (outcome?.error === undefined) return outcome
      const known = outcomes.get(outcome.error)
      if (known !== undefined) return known
      const caller = dpopBoundCaller(outcome.error)
      if (caller === undefined) return outcome
      const converted = { authInfo: caller, error: undefined, fingerprint: outcome.fingerprint }
      outcomes.set(outcome.error, converted)
      return converted
    }
  }
  // The verifier's other members (health, stats, issuer) stay reachable through the prototype.
  return Object.assign(Object.create(inner), aware) as V
}

/** The `cnf.jkt` a verified caller's token is bound to, from its claims. */
const boundKey = (auth: AuthInfo): string | undefined => {
  const claims = auth.extra?.claims
  return claims === undefined ? undefined : dpopBinding(claims.cnf)
}

/**
 * The DPoP step of a gate, or `undefined` when DPoP is off (the gate then works as before: a
 * `DPoP` scheme is unsupported and a bound token is refused by its verifier).
 */
export function dpopStep(dpop: ResolvedDpop, context: DpopStepContext): DpopStep | undefined {
  if (dpop.mode === 'off') return undefined
  const required = dpop.mode === 'required'
  const now = context.now ?? Date.now
  const algs = dpop.algorithms
  const algorithms: ReadonlySet<string> = new Set(algs)
  const keys = new DpopKeyCache()
  const replays: DpopReplayCache = dpop.replayCache ?? new MemoryDpopReplayCache()
  const nonces =
    dpop.nonce === undefined
      ? undefined
      : dpopNonces(dpop.nonce.secret, dpop.nonce.periodSeconds, context.resource)
  const origin = new URL(context.resource).origin
  const resourceUrl = new URL(context.resource)
  const common = {
    resourceMetadata: context.metadataUrl,
    ...(context.baseScopes.length === 0 ? {} : { scope: context.baseScopes }),
  }
  const bareBearer = bearerChallenge(common)

  /** Both challenges, DPoP's first and carrying `params`, for a refusal of a DPoP request. */
  const dpopFirst = (params: Record<string, string>): string => {
    const dpopHeader = dpopChallenge({ ...fromParsed(params), algs })
    return required ? dpopHeader : `${dpopHeader}, ${bareBearer}`
  }

  const challenge = (error: PortcullisError, bearer: string | undefined): string | undefined => {
    if (error.code === 'invalid_dpop_proof' || error.code === 'use_dpop_nonce') {
      return dpopFirst({ error: error.code, error_description: error.message, ...paramsOf(bareBearer) })
    }
    if (bearer === undefined) return undefined
    // RFC 9449 §7.1: a resource that takes DPoP-bound tokens only challenges with DPoP alone.
    if (required) return dpopChallenge({ ...fromParsed(paramsOf(bearer)), algs })
    // A missing scope is missing whichever scheme the token came with: both challenges name it.
    if (error.code === 'insufficient_scope') {
      return `${bearer}, ${dpopChallenge({ ...fromParsed(paramsOf(bearer)), algs })}`
    }
    return `${bearer}, ${dpopChallenge({ algs })}`
  }

  const authenticate = (bearer: Authenticate, reply: (error: PortcullisError) => GateReply): Authenticate => {
    const refuse = (
      error: PortcullisError,
      token?: string,
      headers?: Record<string, string>,
    ): AuthenticateResult & { ok: false } => {
      const answer = reply(error)
      const result = {
        ok: false as const,
        error,
        reply: headers === undefined ? answer : { ...answer, headers: { ...answer.headers, ...headers } },
        log: {
          severity: 'rejection' as const,
          fields: {
            reason: error.reason,
            status: error.status,
            ...(token === undefined ? {} : { fingerprint: tokenFingerprint(token) }),
          },
        },
      }
      // A refusal of a DPoP request challenges with DPoP first (RFC 9449 §7.1).
      return token === undefined ? result : asDpopRefusal(result)
    }

    /** A refusal of the bearer pipeline, answered to a DPoP request: its challenge in DPoP's name. */
    const asDpopRefusal = (
      result: AuthenticateResult & { ok: false },
    ): AuthenticateResult & { ok: false } => {
      const header = result.reply.headers['WWW-Authenticate']
      if (header === undefined || !header.startsWith('Bearer ')) return result
      const first = parseChallenges(header)[0]
      const headers = { ...result.reply.headers, 'WWW-Authenticate': dpopFirst(first?.params ?? {}) }
      return { ...result, reply: { ...result.reply, headers } }
    }

    /** A Bearer request: DPoP-bound tokens are not Bearer tokens (RFC 9449 §7.2). */
    const bearerOnly = (result: AuthenticateResult): AuthenticateResult => {
      if (!result.ok || boundKey(result.auth) === undefined) return result
      const error =
        senderConstraintProblem(result.auth.extra.claims?.cnf) ??
        invalidToken('token_sender_constrained', 'token is sender-constrained to a DPoP key')
      return {
        ...refuse(error),
        log: {
          severity: 'rejection',
          fields: { reason: error.reason, status: error.status, fingerprint: result.auth.extra.fingerprint },
        },
      }
    }

    return (input) => {
      const credential = readDpopCredential(input.authorization)
      if (credential.kind === 'malformed') return asDpopRefusal(refuse(credential.error))
      if (credential.kind !== 'dpop') {
        if (required && credential.kind === 'bearer') {
          return refuse(
            invalidToken('dpop_required', 'This resource accepts DPoP-bound access tokens only (RFC 9449)'),
          )
        }
        const result = bearer(input)
        return result instanceof Promise ? result.then(bearerOnly) : bearerOnly(result)
      }
      const token = credential.token
      if (token.length > context.maxTokenLength) {
        return refuse(
          invalidToken(
            'token_too_large',
            `The access token is longer than ${context.maxTokenLength} characters`,
          ),
        )
      }
      const nowMs = now()
      let checked: ReturnType<typeof checkDpopProof>
      try {
        const proof = singleProof(input.dpop)
        checked = checkDpopProof(
          proof,
          {
            method: input.method ?? '',
            url: targetUrl(input.path),
            accessToken: token,
            algorithms,
            nowSeconds: Math.floor(nowMs / 1000),
            maxAgeSeconds: dpop.maxAgeSeconds,
            maxSkewSeconds: dpop.maxSkewSeconds,
          },
          keys,
        )
        // RFC 9449 §9: a nonce this server did not hand out recently is answered with a fresh one.
        if (nonces !== undefined && (checked.nonce === undefined || !nonces.isValid(checked.nonce, nowMs))) {
          const error = new PortcullisError(
            'use_dpop_nonce',
            'dpop_nonce_required',
            checked.nonce === undefined
              ? 'Resource server requires a nonce in the DPoP proof'
              : 'The DPoP proof nonce is not a current one of this server',
          )
          return refuse(error, token, { 'DPoP-Nonce': nonces.current(nowMs), 'Cache-Control': 'no-store' })
        }
      } catch (error) {
        if (isPortcullisError(error)) return refuse(error, token)
        throw error
      }
      const proven = checked
      const afterToken = (result: AuthenticateResult): AuthenticateResult | Promise<AuthenticateResult> => {
        if (!result.ok) return asDpopRefusal(result)
        const jkt = boundKey(result.auth)
        // RFC 9449 §7.1: the DPoP scheme is for bound tokens only; §6: bound to this proof's key.
        if (jkt === undefined) {
          return refuse(
            invalidToken('token_not_bound', 'The access token is not bound to a DPoP key; send it as Bearer'),
            token,
          )
        }
        if (jkt !== proven.jkt) {
          return refuse(
            invalidToken('dpop_key_mismatch', 'The access token is bound to another key than the DPoP proof'),
            token,
          )
        }
        // §11.1: a proof is good once. Checked last, so a refused request does not use a proof up.
        const expiresAtMs = (proven.iat + dpop.maxAgeSeconds + 1) * 1000
        const admitted = (first: boolean): AuthenticateResult => {
          if (!first) {
            return refuse(
              new PortcullisError(
                'invalid_dpop_proof',
                'dpop_proof_replayed',
                'Invalid DPoP proof: it was used before (jti)',
              ),
              token,
            )
          }
          const auth: VerifiedAuthInfo = { ...result.auth, extra: { ...result.auth.extra, dpopJkt: jkt } }
          return { ok: true, auth }
        }
        const unavailable = (error: unknown): AuthenticateResult => {
          if (isPortcullisError(error) && error.code === 'temporarily_unavailable')
            return refuse(error, token)
          return refuse(
            new PortcullisError(
              'temporarily_unavailable',
              'internal_error',
              'The DPoP proof could not be checked right now; retry later',
              {
                retryAfter: 5,
                cause: error,
              },
            ),
            token,
          )
        }
        try {
          const first = replays.firstUse(dpopProofId(jkt, proven.jti), expiresAtMs)
          return typeof first === 'boolean' ? admitted(first) : first.then(admitted, unavailable)
        } catch (error) {
          return unavailable(error)
        }
      }
      const result = bearer({ ...input, authorization: `Bearer ${token}` })
      return result instanceof Promise ? result.then(afterToken) : afterToken(result)
    }
  }

  /** The URL the client used: the resource's origin and the request path, query and fragment dropped. */
  const targetUrl = (path: string | undefined): URL => {
    if (path === undefined) return new URL('/\0unknown', origin) // matches no htu: fail closed
    let end = path.length
    const query = path.indexOf('?')
    if (query >= 0) end = query
    const fragment = path.indexOf('#')
    if (fragment >= 0 && fragment < end) end = fragment
    const pathname = path.slice(0, end)
    if (pathname === resourceUrl.pathname) return resourceUrl
    // Absolute-form request targets (RFC 9112 §3.2.2) name their path after the authority.
    if (!pathname.startsWith('/'))
      return URL.canParse(pathname)
        ? new URL(new URL(pathname).pathname, origin)
        : new URL('/\0unknown', origin)
    // Concatenated, not resolved: "//host/x" is a path here, never another authority.
    return new URL(`${origin}${pathname}`)
  }

  return { challenge, authenticate }
}

type DpopCredential =
  | { kind: 'dpop'; token: string }
  | { kind: 'bearer' }
  | { kind: 'other' }
  | { kind: 'malformed'; error: PortcullisError }

/**
 * The scheme of an Authorization header, and the token of a `DPoP` one (RFC 9449 §7.1:
 * `Authorization: DPoP <token68>`). Anything that is not one well-formed DPoP credential is left to
 * the bearer rules (absent, repeated, another scheme).
 */
function readDpopCredential(authorization: string | string[] | undefined): DpopCredential {
  let header = authorization
  if (Array.isArray(header)) {
    if (header.length !== 1) return { kind: 'other' }
    header = header[0]
  }
  if (typeof header !== 'string') return { kind: 'other' }
  const value = header.trim()
  const space = value.indexOf(' ')
  const scheme = (space < 0 ? value : value.slice(0, space)).toLowerCase()
  if (scheme === 'bearer') return { kind: 'bearer' }
  if (scheme !== 'dpop') return { kind: 'other' }
  const token = space < 0 ? '' : value.slice(space + 1).replace(/^ +/, '')
  if (!TOKEN68.test(token)) {
    return {
      kind: 'malformed',
      error: invalidRequest(
        'header_malformed',
        'Malformed Authorization header: the DPoP credential must be a single token68 value (RFC 9449 §7.1)',
      ),
    }
  }
  return { kind: 'dpop', token }
}

/** RFC 9449 §4.3 step 1: exactly one `DPoP` header, one value. */
function singleProof(dpop: string | string[] | undefined): string {
  const values = dpop === undefined ? [] : Array.isArray(dpop) ? dpop : [dpop]
  if (values.length === 0 || values[0] === '') {
    throw new PortcullisError(
      'invalid_dpop_proof',
      'dpop_proof_missing',
      'A DPoP proof is required in the DPoP header with the DPoP scheme',
    )
  }
  if (values.length > 1) {
    throw new PortcullisError(
      'invalid_dpop_proof',
      'dpop_proof_invalid',
      'Invalid DPoP proof: more than one DPoP header',
    )
  }
  return values[0]!.trim()
}

const paramsOf = (header: string): Record<string, string> => parseChallenges(header)[0]?.params ?? {}

/** Challenge parameters as `parseChallenges` gives them, back into `dpopChallenge`'s terms. */
function fromParsed(params: Record<string, string>) {
  return {
    ...(params.error === undefined ? {} : { error: params.error }),
    ...(params.error_description === undefined ? {} : { errorDescription: params.error_description }),
    ...(params.scope === undefined ? {} : { scope: params.scope.split(' ') }),
    ...(params.resource_metadata === undefined ? {} : { resourceMetadata: params.resource_metadata }),
  }
}

/**
 * The `DPoP` header values of a Node.js request, from `rawHeaders`: Node joins repeated unknown
 * headers into one with commas, which would hide a second proof (RFC 9449 §4.3 step 1).
 *
 * @example
 * gate.authenticate({ authorization, dpop: dpopHeaders(req.rawHeaders), method: req.method, path: req.url })
 */
export function dpopHeaders(rawHeaders: readonly string[]): string | string[] | undefined {
  let found: string | string[] | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length !== 4 || name.toLowerCase() !== 'dpop') continue
    const value = rawHeaders[i + 1]!
    found = found === undefined ? value : Array.isArray(found) ? [...found, value] : [found, value]
  }
  return found
}
