import type { AuthInfo } from '../token/auth-info.js'

/**
 * Who a caller is, for binding state to them: the issuer, the subject and the client. Two tokens
 * of the same user through the same client (a refreshed token, a token after step-up) are the
 * same principal; the same user through another client is not.
 */
export interface Principal {
  /** `iss` of the token, when the verifier reports it. */
  issuer: string | undefined
  /** `sub` of the token, when the verifier reports it. */
  subject: string | undefined
  clientId: string
}

/**
 * The principal of a verified caller.
 *
 * @example
 * principalOf(request.auth) // { issuer: 'https://idp.example', subject: 'alice', clientId: 'notes-app' }
 */
export function principalOf(auth: Pick<AuthInfo, 'clientId' | 'extra'>): Principal {
  const issuer = auth.extra?.iss
  const subject = auth.extra?.sub
  return {
    issuer: typeof issuer === 'string' ? issuer : undefined,
    subject: typeof subject === 'string' ? subject : undefined,
    clientId: auth.clientId,
  }
}

/**
 * A string that is equal for two callers exactly when they are the same principal, to key state
 * by (MCP security best practices, "Session Hijacking" / "State Handle Hijacking": bind session IDs
 * and state handles to the user, `<user_id>:<handle>`, the user id taken from the token). The
 * parts are JSON-encoded, so no choice of values can make two principals collide.
 *
 * @example
 * sessions.set(sessionId, principalKey(request.auth))
 * if (sessions.get(sessionId) !== principalKey(request.auth)) return notFound()
 */
export function principalKey(auth: Pick<AuthInfo, 'clientId' | 'extra'>): string {
  const { issuer, subject, clientId } = principalOf(auth)
  return JSON.stringify([issuer ?? null, subject ?? null, clientId])
}

/**
 * A string equal for two callers exactly when they are the same user (issuer and subject),
 * whatever client they come through: what per-user limits count by, so registering more clients
 * buys no more. A caller without a subject (a client acting for itself) is its own principal.
 *
 * @example
 * subjectKey(request.auth) // '["https://idp.example","alice"]'
 */
export function subjectKey(auth: Pick<AuthInfo, 'clientId' | 'extra'>): string {
  const { issuer, subject } = principalOf(auth)
  if (subject === undefined) return principalKey(auth)
  return JSON.stringify([issuer ?? null, subject])
}
