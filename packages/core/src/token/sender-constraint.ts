import { invalidToken, type PortcullisError } from '../support/errors.js'
import type { AuthInfo } from './auth-info.js'

/**
 * Why a token bound to a key may not be used as a Bearer token here, naming the binding; or
 * `undefined` for a plain bearer token. One rule for JWT claims and introspection answers alike:
 * a `cnf` claim (RFC 7800 §3.1) says only the holder of a key may use the token, and this server
 * cannot check that holder yet, so the token fails closed. Auth0: "If you enable sender
 * constraining for a client application, then you must also enforce it for the resource server."
 *
 * - `cnf.jkt`: DPoP (RFC 9449 §6.1), a proof must accompany every request;
 * - `cnf["x5t#S256"]`: mutual TLS (RFC 8705 §3.1), the client certificate must be presented;
 * - any other `cnf` (`jwk`, `kid`, `jku`, `jwe`, RFC 7800 §3.2-3.5) or a malformed one.
 *
 * `tokenType` is an introspection answer's `token_type` (RFC 7662 §2.2): `DPoP` says the same
 * (RFC 9449 §6.2) even without `cnf`.
 *
 * @example
 * const problem = senderConstraintProblem(claims.cnf)
 * if (problem !== undefined) throw problem
 */
export function senderConstraintProblem(cnf: unknown, tokenType?: unknown): PortcullisError | undefined {
  if (cnf === undefined) {
    if (typeof tokenType === 'string' && tokenType.toLowerCase() === 'dpop') return bound(DPOP)
    return undefined
  }
  const members = typeof cnf === 'object' && cnf !== null && !Array.isArray(cnf) ? Object.keys(cnf) : []
  if (members.includes('jkt')) return bound(DPOP)
  if (members.includes('x5t#S256')) return bound(MTLS)
  const named = members.length === 0 ? 'cnf' : `cnf ${members.slice(0, 4).join(', ')}`
  return bound(`a proof-of-possession key (${named}, RFC 7800 §3.1)`)
}

const DPOP = 'a DPoP key (cnf.jkt, RFC 9449 §6.1): it must come with a DPoP proof'
const MTLS = 'a client certificate (cnf x5t#S256, RFC 8705 §3.1): it must come over mutual TLS'

const bound = (binding: string) =>
  invalidToken(
    'token_sender_constrained',
    `token is sender-constrained to ${binding}; this server accepts Bearer tokens only`,
  )

/**
 * The `cnf.jkt` of a token (RFC 9449 §6.1 for JWTs, §6.2 for introspection answers): the RFC 7638
 * thumbprint of the key a DPoP proof must be signed with, or `undefined` when there is none.
 */
export function dpopBinding(cnf: unknown): string | undefined {
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return undefined
  // Bound to a certificate as well: this server cannot check that half (RFC 8705 §3.1).
  if (Object.hasOwn(cnf, 'x5t#S256')) return undefined
  const jkt = (cnf as { jkt?: unknown }).jkt
  return typeof jkt === 'string' && jkt !== '' ? jkt : undefined
}

// Who a DPoP-bound token would be, kept beside its refusal rather than on it: errors get logged,
// and an AuthInfo holds the token.
const boundCallers = new WeakMap<PortcullisError, AuthInfo>()

/**
 * The refusal of a token bound to a DPoP key when it is used as a Bearer token, remembering the
 * caller the token would be. A verifier throws it once every other check passed, so whoever uses
 * the verifier alone (the SDK's bearer middleware) fails closed, and a gate that checks DPoP proofs
 * reads the caller back with `dpopBoundCaller` once the proof's key matches `cnf.jkt`.
 */
export function dpopBoundRefusal(auth: AuthInfo): PortcullisError {
  const error = bound(DPOP)
  boundCallers.set(error, auth)
  return error
}

/** The caller a `dpopBoundRefusal` remembers, or `undefined` for any other error. */
export function dpopBoundCaller(error: unknown): AuthInfo | undefined {
  return typeof error === 'object' && error !== null ? boundCallers.get(error as PortcullisError) : undefined
}
