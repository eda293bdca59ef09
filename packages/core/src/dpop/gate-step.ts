// The gate's DPoP step (RFC 9449 §7): the `DPoP` Authorization scheme, its proof, the key binding,
// the challenges. gate.ts calls it at three points: the verifier (dpop-binding.ts), the challenges,
// authentication.

import type {
  AuthenticateInput,
  AuthenticateResult,
  GateReply,
  VerifiedAuthInfo,
} from '../gate/gate-types.js'
import { bearerChallenge, dpopChallenge, parseChallenges } from '../oauth/challenge.js'
import { invalidToken, isPortcullisError, PortcullisError } from '../support/errors.js'
import { tokenFingerprint } from '../token/fingerprint.js'
import { senderConstraintProblem } from '../token/sender-constraint.js'
import { boundKey } from './binding.js'
import { DpopKeyCache } from './key.js'
import { dpopNonces } from './nonce.js'
import type { ResolvedDpop } from './options.js'
import { checkDpopProof } from './proof.js'
import { type DpopReplayCache, dpopProofId, MemoryDpopReplayCache } from './replay.js'
import { readDpopCredential, requestUrl, singleProof } from './request.js'

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
        // Not hashed for a fingerprint: an oversized token costs nothing more than its length check.
        return asDpopRefusal(
          refuse(
            invalidToken(
              'token_too_large',
              `The access token is longer than ${context.maxTokenLength} characters`,
            ),
          ),
        )
      }
      // An adapter that does not say which request this is cannot have its proofs checked.
      if (typeof input.method !== 'string' || typeof input.path !== 'string') {
        return refuse(
          new PortcullisError(
            'temporarily_unavailable',
            'internal_error',
            'DPoP proofs cannot be checked here',
            {
              retryAfter: 5,
            },
          ),
          token,
        )
      }
      const nowMs = now()
      let checked: ReturnType<typeof checkDpopProof>
      try {
        const proof = singleProof(input.dpop)
        checked = checkDpopProof(
          proof,
          {
            method: input.method,
            url: requestUrl(resourceUrl, input.path),
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
          return refuse(error, token, { 'DPoP-Nonce': nonces.current(nowMs) })
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
          // RFC 9449 §8.2: the current nonce on every answer, so a client moves to the next one
          // without being refused first.
          return nonces === undefined
            ? { ok: true, auth }
            : { ok: true, auth, headers: { 'DPoP-Nonce': nonces.current(nowMs) } }
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

  return { challenge, authenticate }
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
