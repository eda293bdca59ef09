import { parseChallenges } from '@portcullis/core'
import { parseOptions } from '@portcullis/core/adapter'
import { z } from 'zod'
import {
  type AccessToken,
  coversScopes,
  splitScopes,
  type TokenProvider,
  unionScopes,
} from './access-token.js'
import { TokenSource } from './token-source.js'
import { memoryTokenStore, type TokenStore } from './token-store.js'

export interface AuthFetchOptions {
  /** Where tokens and grants are kept. Default: a memory store of this `authFetch`. */
  store?: TokenStore
  /** Seconds before expiry at which a token is renewed (at most half its remaining lifetime). Default 60. */
  refreshBeforeExpiry?: number
  /** Retries of one request after a 401 or a 403 (each renews the token first). Default 2; 0 never retries. */
  maxRetries?: number
  /** The fetch to wrap. Default: the global fetch. */
  fetch?: typeof fetch
  /** The clock, in seconds since the epoch. Default: `Date.now() / 1000`. */
  now?: () => number
}

/** A `fetch` that authenticates its requests, with access to the token it holds. */
export interface AuthFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>
  /** A usable access token (renewed when due): for callers that set the header themselves. */
  token(): Promise<AccessToken>
}

type HeadersInit = NonNullable<RequestInit['headers']>

const isFunction = (v: unknown) => typeof v === 'function'
const optionsSchema = z.strictObject({
  store: z
    .custom<TokenStore>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        ['get', 'set', 'delete', 'lock'].every((m) => isFunction((v as Record<string, unknown>)[m])),
      'must be a TokenStore (get, set, delete, lock): memoryTokenStore(), fileTokenStore(path), redisTokenStore(connection)',
    )
    .optional(),
  refreshBeforeExpiry: z.number().min(0).max(86_400).default(60),
  maxRetries: z.number().int().min(0).max(10).default(2),
  fetch: z.custom<typeof fetch>(isFunction, 'must be a fetch function').optional(),
  now: z.custom<() => number>(isFunction, 'must be a function returning seconds since the epoch').optional(),
})

const providerSchema = z.custom<TokenProvider>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    isFunction((v as TokenProvider).getToken) &&
    isFunction((v as TokenProvider).refreshToken),
  'must be a TokenProvider (getToken, refreshToken): clientCredentials(...), refreshToken(...) or your own',
)

/**
 * Wraps `fetch` so every request carries the provider's access token: as the `fetch` of either MCP
 * SDK line's Streamable HTTP transport, or as a plain HTTP client.
 *
 * - A token due for renewal is renewed before the request (one renewal shared by all requests).
 * - 401 with `error="invalid_token"` (or a Bearer challenge without an error: the token was sent
 *   and not taken): one renewal, then the request again (RFC 6750 §3.1).
 * - 403 with `error="insufficient_scope"`: the provider is asked for the union of the scopes held
 *   and the scopes in the challenge (MCP authorization, step-up), then the request again.
 * - A request whose body cannot be sent twice (a stream) is never sent twice: its 401/403 is
 *   returned as it came, after the token was renewed for the next request.
 * - At most `maxRetries` retries per request; anything else is returned untouched.
 * - Requests to another origin than the provider's `resource` go out without the token.
 *
 * @example
 * const fetch = authFetch(clientCredentials({ issuer, clientId, clientSecret, scopes: ['notes:read'], resource }))
 * const transport = new StreamableHTTPClientTransport(new URL(resource), { fetch })
 */
export function authFetch(provider: TokenProvider, options: AuthFetchOptions = {}): AuthFetch {
  parseOptions(providerSchema, provider, 'authFetch: provider')
  const o = parseOptions(optionsSchema, options, 'authFetch')
  const base = o.fetch ?? fetch
  const source = new TokenSource(provider, {
    store: o.store ?? memoryTokenStore(),
    refreshBeforeExpiry: o.refreshBeforeExpiry,
    now: o.now ?? (() => Date.now() / 1000),
  })
  const maxRetries = o.maxRetries

  const send = (input: string | URL | Request, init: RequestInit | undefined, token: AccessToken) =>
    base(input, {
      ...init,
      headers: withAuthorization(input, init?.headers, `${token.tokenType} ${token.token}`),
    })

  const resource = provider.grant?.resource
  const origin = resource === undefined ? undefined : new URL(resource).origin

  const authenticated = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (origin !== undefined && !sameOrigin(origin, input)) return base(input, init)
    let token = source.fresh() ?? (await source.token())
    const replayable = canReplay(input, init)
    let renewedAfter401 = false
    for (let retries = 0; ; retries++) {
      const response = await send(input, init, token)
      if (response.status !== 401 && response.status !== 403) return response
      const challenge = bearerChallenge(response.headers.get('www-authenticate'))
      if (challenge === undefined || retries >= maxRetries) return response
      let next: AccessToken
      if (response.status === 401) {
        const error = challenge.error
        // RFC 6750 §3.1: only a refused token is worth renewing, and only once per request.
        if (renewedAfter401 || (error !== undefined && error !== 'invalid_token')) return response
        renewedAfter401 = true
        next = await source.renew(token)
      } else {
        if (challenge.error !== 'insufficient_scope') return response
        const asked = splitScopes(challenge.scope)
        // Nothing named, or everything named already held: a new token would not change the answer.
        if (asked.length === 0 || coversScopes(token, asked)) return response
        next = await source.renew(token, unionScopes(token.scopes, asked))
        // Scopes as granted: the authorization server may grant less than asked.
        if (!coversScopes(next, asked)) return response
      }
      if (!replayable) return response
      await response.body?.cancel().catch(() => {})
      token = next
    }
  }

  return Object.assign(authenticated, { token: () => source.token() })
}

/**
 * The request's headers with `Authorization` set. A plain record (what the SDK transports and most
 * callers pass) is copied as a record, several times cheaper than a `Headers`; any other form goes
 * through `Headers`. `fetch(request, { headers })` replaces a Request's headers: start from them.
 */
function withAuthorization(
  input: string | URL | Request,
  headers: HeadersInit | undefined,
  authorization: string,
): HeadersInit {
  if (headers === undefined && !(input instanceof Request)) return { authorization }
  if (headers !== undefined && !(headers instanceof Headers) && !Array.isArray(headers)) {
    const record: Record<string, string> = {}
    for (const name in headers) {
      // Header names are case-insensitive: drop the caller's own Authorization, whatever its case.
      if (name.length !== 13 || name.toLowerCase() !== 'authorization')
        record[name] = (headers as Record<string, string>)[name]!
    }
    record.authorization = authorization
    return record
  }
  const copy = new Headers(headers ?? (input as Request).headers)
  copy.set('authorization', authorization)
  return copy
}

/** The error and scope of the response's Bearer challenge, if it has one (parsed by core's RFC 9110 parser). */
function bearerChallenge(value: string | null): { error?: string; scope?: string } | undefined {
  if (value === null) return undefined
  try {
    const bearer = parseChallenges(value).find((c) => c.scheme.toLowerCase() === 'bearer')
    return bearer === undefined ? undefined : { error: bearer.params.error, scope: bearer.params.scope }
  } catch {
    return undefined // a challenge a server must not send is not a reason to retry
  }
}

/** A body fetch can send again: none, or one held in memory (not a stream consumed by the first send). */
function canReplay(input: string | URL | Request, init: RequestInit | undefined): boolean {
  const body = init?.body
  if (body !== undefined && body !== null) {
    return (
      !(body instanceof ReadableStream) &&
      typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function'
    )
  }
  return !(input instanceof Request && input.body !== null)
}

/**
 * Whether a request goes to the origin of the token's resource. A token is sent nowhere else: an
 * audience-bound token is useless elsewhere, and a plain HTTP client must not leak it to any host.
 */
function sameOrigin(origin: string, input: string | URL | Request): boolean {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
  if (url.startsWith(origin)) {
    const next = url.charCodeAt(origin.length)
    // '/', '?', '#' or the end: not a longer host or port that merely starts the same.
    if (Number.isNaN(next) || next === 47 || next === 63 || next === 35) return true
  }
  return URL.canParse(url) && new URL(url).origin === origin
}
