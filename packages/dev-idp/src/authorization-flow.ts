import { createHash, randomBytes } from 'node:crypto'
import { CookieJar } from './cookie-jar.js'

/** A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2). */
export interface PkcePair {
  verifier: string
  challenge: string
  method: 'S256'
}

/**
 * A fresh PKCE pair: a 43-character verifier and `BASE64URL(SHA256(verifier))`.
 *
 * @example
 * const pkce = createPkce() // url.searchParams.set('code_challenge', pkce.challenge)
 */
export function createPkce(): PkcePair {
  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  return { verifier, challenge, method: 'S256' }
}

/** The authorization response that reached the client's redirect URI (RFC 6749 §4.1.2, RFC 9207). */
export interface AuthorizationResponse {
  /** The full redirect URI the IdP sent the browser to. */
  url: URL
  code: string | undefined
  state: string | undefined
  /** RFC 9207 issuer identifier. */
  iss: string | undefined
  error: string | undefined
  errorDescription: string | undefined
}

/** Options of `completeAuthorization`. */
export interface CompleteAuthorizationOptions {
  /** Stop at the first redirect to a URL starting with this. Default: the first redirect off the IdP's origin. */
  redirectUri?: string
  /** Redirects to follow before giving up. Default 20. */
  maxRedirects?: number
  /** Time limit for the whole flow in milliseconds. Default 10000. */
  timeoutMs?: number
}

/**
 * Follows an authorization request through the IdP like a browser would (with a cookie jar, but
 * without running any page), until the IdP redirects to the client. Works with a dev IdP whose
 * `login` is `auto`: the user comes from the request's `login_hint`. Use it to finish the flow an
 * MCP client starts (`redirectToAuthorization(url)`), then hand the code to the client.
 *
 * Throws when a page stops the flow (a sign-in form, an error page) or after too many redirects.
 *
 * @example
 * const { code, iss } = await completeAuthorization(authorizationUrl)
 */
export async function completeAuthorization(
  authorizationUrl: string | URL,
  options: CompleteAuthorizationOptions = {},
): Promise<AuthorizationResponse> {
  const start = new URL(authorizationUrl)
  const maxRedirects = options.maxRedirects ?? 20
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000)
  const cookies = new CookieJar()
  let url = start

  for (let hop = 0; hop <= maxRedirects; hop++) {
    const headers: Record<string, string> = {}
    const cookie = cookies.header(url)
    if (cookie !== undefined) headers.cookie = cookie
    const response = await fetch(url, { redirect: 'manual', headers, signal })
    cookies.store(url, response.headers.getSetCookie())
    const location = response.headers.get('location')
    if (response.status < 300 || response.status > 399 || location === null) {
      const text = await response.text()
      const hint = /<form/i.test(text) ? " (a sign-in form: set the dev IdP's login to 'auto')" : ''
      throw new Error(
        `authorization stopped at ${url.origin}${url.pathname} with status ${response.status}${hint}: ${summary(text)}`,
      )
    }
    await response.body?.cancel()
    const next = new URL(location, url)
    const reachedClient =
      options.redirectUri === undefined
        ? next.origin !== start.origin
        : next.href.startsWith(options.redirectUri)
    if (reachedClient) return readAuthorizationResponse(next)
    url = next
  }
  throw new Error(`authorization did not reach the client after ${maxRedirects} redirects`)
}

/** The authorization response a redirect to the client carries (RFC 6749 §4.1.2, RFC 9207 `iss`). */
export function readAuthorizationResponse(url: URL): AuthorizationResponse {
  // Query response mode (RFC 6749 §4.1.2); the fragment only for clients that asked for it.
  const params = url.searchParams.size > 0 ? url.searchParams : new URLSearchParams(url.hash.slice(1))
  const get = (name: string) => params.get(name) ?? undefined
  return {
    url,
    code: get('code'),
    state: get('state'),
    iss: get('iss'),
    error: get('error'),
    errorDescription: get('error_description'),
  }
}

const summary = (text: string) =>
  text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300)

/** A successful token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string
  token_type: string
  expires_in?: number
  scope?: string
  refresh_token?: string
  id_token?: string
  [name: string]: unknown
}

/**
 * An OAuth error answer: from the token endpoint (RFC 6749 §5.2, or any other non-2xx answer), or
 * from the authorization endpoint through the redirect to the client (RFC 6749 §4.1.2.1), where
 * there is no HTTP status of its own (`status` is then `undefined`).
 */
export class OAuthResponseError extends Error {
  readonly endpoint: 'authorization' | 'token'
  readonly status: number | undefined
  readonly error: string
  readonly errorDescription: string | undefined

  constructor(
    status: number | undefined,
    error: string,
    errorDescription: string | undefined,
    endpoint: 'authorization' | 'token' = 'token',
  ) {
    const answer = status === undefined ? error : `${status} ${error}`
    super(`${endpoint} request failed with ${answer}${errorDescription ? `: ${errorDescription}` : ''}`)
    this.name = 'OAuthResponseError'
    this.endpoint = endpoint
    this.status = status
    this.error = error
    this.errorDescription = errorDescription
  }
}

/** Client authentication for a token request: HTTP Basic for a secret (RFC 6749 §2.3.1), else `client_id` alone. */
export interface ClientAuthentication {
  client_id: string
  client_secret?: string
}

/**
 * Posts a token request and returns the parsed success response; throws `OAuthResponseError` otherwise.
 *
 * @example
 * const tokens = await requestToken(idp.endpoints.token, { grant_type: 'client_credentials' }, idp.clients.machine)
 */
export async function requestToken(
  tokenEndpoint: string,
  params: Record<string, string | undefined>,
  client: ClientAuthentication,
): Promise<TokenResponse> {
  const body = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) if (value !== undefined) body.set(name, value)
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (client.client_secret === undefined) {
    body.set('client_id', client.client_id)
  } else {
    // RFC 6749 §2.3.1: form-urlencode id and secret before Base64.
    const credentials = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`
  }
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  })
  const json = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined
  if (!response.ok || typeof json?.access_token !== 'string') {
    const error = typeof json?.error === 'string' ? json.error : 'invalid_response'
    const description = typeof json?.error_description === 'string' ? json.error_description : undefined
    throw new OAuthResponseError(response.status, error, description)
  }
  return json as TokenResponse
}
