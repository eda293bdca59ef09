/** OAuth error codes a resource server answers with (RFC 6750 §3.1, RFC 6749 §4.1.2.1). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'server_error'
  // RFC 9449 §7.1, §9: a DPoP proof that fails its checks, and a request for a server nonce.
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'

/**
 * Stable, machine-readable reasons. Adapters log them; tests assert them. Never renamed.
 */
export type PortcullisReason =
  // bearer extraction
  | 'credentials_missing'
  | 'header_malformed'
  | 'scheme_unsupported'
  | 'multiple_credentials'
  | 'token_too_large'
  // token shape
  | 'token_malformed'
  | 'token_encrypted'
  | 'token_nested'
  | 'header_invalid'
  | 'typ_invalid'
  | 'crit_unsupported'
  // signature and keys
  | 'alg_not_allowed'
  | 'kid_unknown'
  | 'signature_invalid'
  | 'key_unsuitable'
  // claims
  | 'claims_malformed'
  | 'issuer_untrusted'
  | 'issuer_mismatch'
  | 'audience_mismatch'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'issued_in_future'
  | 'claim_missing'
  | 'token_type_invalid'
  // an ID token (OIDC Core §2) sent where an access token belongs
  | 'id_token_presented'
  // bound to a key (RFC 7800 cnf: DPoP jkt, RFC 9449 §6; mTLS x5t#S256, RFC 8705 §3) yet sent as Bearer
  | 'token_sender_constrained'
  | 'token_inactive'
  | 'token_revoked'
  // DPoP (RFC 9449): the proof, its key binding, the scheme
  | 'dpop_proof_missing'
  | 'dpop_proof_invalid'
  | 'dpop_proof_replayed'
  | 'dpop_nonce_required'
  | 'dpop_key_mismatch'
  | 'dpop_required'
  | 'token_not_bound'
  // abuse limits
  | 'attempts_exceeded'
  // scopes
  | 'scope_insufficient'
  // infrastructure
  | 'jwks_unavailable'
  | 'introspection_unavailable'
  | 'discovery_failed'
  | 'revocation_unavailable'
  | 'internal_error'

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  temporarily_unavailable: 503,
  server_error: 500,
  invalid_dpop_proof: 401,
  use_dpop_nonce: 401,
}

export interface PortcullisErrorOptions {
  /** Scopes the caller is missing (insufficient_scope) or the scopes the resource needs. */
  scopes?: readonly string[]
  /** Seconds a client should wait before retrying (temporarily_unavailable). */
  retryAfter?: number
  /** The HTTP status, when it is not the code's usual one (429 for `temporarily_unavailable` after too many attempts). */
  status?: number
  cause?: unknown
}

/**
 * The one error type of Portcullis. `code` is the OAuth error, `status` the HTTP status an adapter
 * answers with, `reason` a stable identifier for logs and tests. The message is safe to show a
 * client: it never contains a token.
 */
export class PortcullisError extends Error {
  override readonly name = 'PortcullisError'
  readonly code: OAuthErrorCode
  readonly reason: PortcullisReason
  readonly status: number
  readonly scopes: readonly string[] | undefined
  readonly retryAfter: number | undefined

  constructor(
    code: OAuthErrorCode,
    reason: PortcullisReason,
    message: string,
    options: PortcullisErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.reason = reason
    this.status = options.status ?? STATUS[code]
    this.scopes = options.scopes
    this.retryAfter = options.retryAfter
  }
}

export const isPortcullisError = (value: unknown): value is PortcullisError =>
  value instanceof PortcullisError

/** Shorthands: every token failure is `invalid_token` (RFC 9068 §4), every request-shape failure `invalid_request`. */
export const invalidToken = (reason: PortcullisReason, message: string, cause?: unknown) =>
  withoutStack(() => new PortcullisError('invalid_token', reason, message, { cause }))

// Where `Error.stackTraceLimit` can be set (not under frozen intrinsics).
const stackLimitWritable = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')?.writable === true

/**
 * A refused token is the client's doing, an answer rather than a fault: its stack says nothing, and
 * capturing one was most of the CPU and memory of each remembered refusal (a flood of forged tokens
 * fills the cache with them).
 */
function withoutStack<T>(make: () => T): T {
  if (!stackLimitWritable) return make()
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

export const invalidRequest = (reason: PortcullisReason, message: string) =>
  new PortcullisError('invalid_request', reason, message)

export const temporarilyUnavailable = (
  reason: PortcullisReason,
  message: string,
  retryAfter = 5,
  cause?: unknown,
) => new PortcullisError('temporarily_unavailable', reason, message, { retryAfter, cause })
