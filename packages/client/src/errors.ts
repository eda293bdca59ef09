/**
 * Why a token could not be had. `timeout`, `network`, `too_large`, `http_status` and `malformed`
 * describe an authorization server that is down, slow or answers junk; `oauth_error` is an RFC
 * 6749 §5.2 error answer; `invalid_grant` is one on a refresh, after which the stored grant is
 * gone; `scope_not_grantable` is a provider that cannot widen its grant; `store` is a token store
 * that failed or stayed locked; `invalid_token_response` is a token answer this client cannot use.
 */
export type TokenErrorKind =
  | 'timeout'
  | 'network'
  | 'too_large'
  | 'http_status'
  | 'malformed'
  | 'oauth_error'
  | 'invalid_grant'
  | 'scope_not_grantable'
  | 'store'
  | 'invalid_token_response'

/** Kinds that say the authorization server may answer if asked again later. */
const TRANSIENT: ReadonlySet<TokenErrorKind> = new Set([
  'timeout',
  'network',
  'http_status',
  'too_large',
  'malformed',
])

export interface TokenRequestErrorDetails {
  /** The issuer (or token endpoint) asked. */
  issuer?: string
  status?: number
  /** The RFC 6749 §5.2 `error` code, when the authorization server sent one. */
  error?: string
  errorDescription?: string
  /** True when the stored grant (refresh token) was deleted because the authorization server refused it. */
  grantCleared?: boolean
  cause?: unknown
}

/** The one error a token provider, a store or `authFetch` throws when no usable token can be had. */
export class TokenRequestError extends Error {
  override readonly name = 'TokenRequestError'
  readonly kind: TokenErrorKind
  readonly issuer: string | undefined
  readonly status: number | undefined
  readonly error: string | undefined
  readonly errorDescription: string | undefined
  readonly grantCleared: boolean

  constructor(kind: TokenErrorKind, message: string, details: TokenRequestErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.kind = kind
    this.issuer = details.issuer
    this.status = details.status
    this.error = details.error
    // The description is the authorization server's text: bounded, never a credential of ours.
    this.errorDescription = details.errorDescription?.slice(0, 300)
    this.grantCleared = details.grantCleared ?? false
  }

  /** True when asking again later may work (the authorization server was down, slow or confused). */
  get transient(): boolean {
    if (this.kind === 'http_status')
      return this.status === undefined || this.status >= 500 || this.status === 429
    return TRANSIENT.has(this.kind)
  }
}
