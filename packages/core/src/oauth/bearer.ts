import { invalidRequest, invalidToken } from '../support/errors.js'

/** Longest access token accepted by default, in characters. Large enough for JWTs with many claims. */
export const DEFAULT_MAX_TOKEN_LENGTH = 8192

/**
 * What a request carries: a bearer token, or a reason it carries none. "None" is not an error: the
 * adapter answers 401 with a challenge that has no `error` attribute (RFC 6750 §3.1).
 */
export type BearerResult =
  | { token: string }
  | { token: undefined; reason: 'credentials_missing' | 'scheme_unsupported' }

export interface ReadBearerInput {
  /** The `Authorization` request header as the framework gives it (a string, or an array when repeated). */
  authorization?: string | string[] | undefined
  /**
   * The `access_token` form-body parameter (RFC 6750 §2.2), if the adapter saw one. A body token is
   * never accepted on its own: it only matters because header plus body is two methods (400).
   * Any value other than `undefined` or `null` counts as present.
   */
  bodyToken?: unknown
  /** Longest token accepted; longer ones fail with `token_too_large`. Default `DEFAULT_MAX_TOKEN_LENGTH`. */
  maxTokenLength?: number
  /**
   * Says that this exact credential was accepted before (a remembered verification that proves it
   * is a token68), so its character-by-character check can be skipped: the largest cost of
   * reading a header that carries a token seen before. Only asked about a credential that passed
   * every other rule.
   */
  acceptedBefore?: (token: string) => boolean
}

// Room for the scheme, separating spaces and surrounding whitespace before the quick size check
// decides a header is too large without looking at it.
const HEADER_OVERHEAD = 256
// How much of an oversized header is looked at to name its scheme.
const SCHEME_WINDOW = 64

// RFC 9110 §5.6.2 tchar, for the auth-scheme.
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/
// RFC 6750 §2.1 b64token (= RFC 9110 §11.2 token68): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

const isOws = (code: number) => code === 0x20 || code === 0x09

const isTchar = (char: string) => TCHAR.test(char)

/** Length of the auth-scheme at the start of `value` (0 when it does not start with a tchar). */
function schemeLength(value: string, limit: number): number {
  let i = 0
  while (i < value.length && i < limit && isTchar(value[i]!)) i++
  return i
}

/**
 * Reads the bearer access token of a request from its `Authorization` header (RFC 6750 §2.1,
 * OAuth 2.1 §5.1). Tokens in the URL query are never read: OAuth 2.1 §5.1 requires a resource
 * server to ignore them, so there is no input for them at all.
 *
 * Rules:
 * - The scheme is matched case-insensitively (`bearer`, `BEARER`).
 * - One or more spaces separate scheme and token (RFC 9110 §11.4 `1*SP`); a tab there is malformed.
 *   Whitespace around the whole field value is ignored, as HTTP parsers strip it (RFC 9110 §5.5).
 * - The credential is exactly one token68; anything else (`Bearer` alone, auth-params, commas,
 *   control or non-ASCII characters) is `invalid_request` / `header_malformed`.
 * - Another scheme (`Basic`, `DPoP`, ...) means "no bearer credentials": `scheme_unsupported`.
 * - Two `Authorization` headers, or a header token plus a body token, is `invalid_request` /
 *   `multiple_credentials` (RFC 6750 §3.1).
 * - A token longer than `maxTokenLength` is `invalid_token` / `token_too_large`, decided from the
 *   header length before any parsing so an oversized header costs nothing (a Bearer header more
 *   than 256 characters longer than the limit is too large whatever its padding).
 * - Node's `IncomingMessage.headers` keeps only the first of repeated `Authorization` headers:
 *   pass `req.headersDistinct.authorization` to detect them.
 *
 * Error messages never contain the token.
 *
 * @example
 * const result = readBearer({ authorization: request.headers.authorization })
 * if (result.token === undefined) return challenge(result.reason)
 * const auth = await verifier.verifyAccessToken(result.token)
 */
export function readBearer(input: ReadBearerInput): BearerResult {
  const maxTokenLength = input.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH
  if (!Number.isSafeInteger(maxTokenLength) || maxTokenLength < 1) {
    throw new TypeError('readBearer: maxTokenLength must be a positive integer')
  }
  const bodyTokenPresent = input.bodyToken !== undefined && input.bodyToken !== null

  let header = input.authorization
  if (Array.isArray(header)) {
    // RFC 9110 §11.6.2: Authorization carries one set of credentials; a repeated header is two.
    if (header.length > 1) {
      throw invalidRequest('multiple_credentials', 'The request carries more than one Authorization header')
    }
    header = header[0]
  }
  if (typeof header !== 'string' || header.length === 0)
    return { token: undefined, reason: 'credentials_missing' }

  // Quick size check on the raw header: only a bounded window at its start is looked at.
  if (header.length > maxTokenLength + HEADER_OVERHEAD) {
    const head = trimOws(header.slice(0, SCHEME_WINDOW))
    const length = schemeLength(head, SCHEME_WINDOW)
    if (length > 0 && head.charCodeAt(length) === 0x20) {
      if (head.slice(0, length).toLowerCase() !== 'bearer')
        return { token: undefined, reason: 'scheme_unsupported' }
      if (bodyTokenPresent) throw multipleMethods()
      throw tooLarge(maxTokenLength)
    }
    throw malformed('the Authorization header does not start with an authentication scheme')
  }

  const value = trimOws(header)
  if (value.length === 0) return { token: undefined, reason: 'credentials_missing' }

  // The usual spellings, "Bearer " and "bearer ", are recognised without a scan or a copy.
  const usual = value.startsWith('Bearer ') || value.startsWith('bearer ')
  const length = usual ? 6 : schemeLength(value, value.length)
  if (length === 0) throw malformed('the Authorization header does not start with an authentication scheme')
  const isBearer = usual || value.slice(0, length).toLowerCase() === 'bearer'
  if (length === value.length) {
    if (isBearer) throw malformed('the Bearer scheme carries no token')
    return { token: undefined, reason: 'scheme_unsupported' }
  }
  // RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
  if (value.charCodeAt(length) !== 0x20) {
    throw malformed('the authentication scheme must be followed by a space')
  }
  // Another scheme is not ours to validate: treated as no bearer credentials (RFC 6750 §3.1).
  if (!isBearer) return { token: undefined, reason: 'scheme_unsupported' }
  // RFC 6750 §3.1: more than one method of sending the token is invalid_request.
  if (bodyTokenPresent) throw multipleMethods()

  let start = length
  while (value.charCodeAt(start) === 0x20) start++
  if (value.length - start > maxTokenLength) throw tooLarge(maxTokenLength)
  const token = value.slice(start)
  if (input.acceptedBefore?.(token) !== true && !TOKEN68.test(token)) {
    throw malformed('the Bearer credential must be a single token68 value (RFC 6750 §2.1)')
  }
  return { token }
}

/** Strips leading and trailing SP/HTAB only (not Unicode whitespace), without a regex. */
function trimOws(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

const malformed = (why: string) =>
  invalidRequest('header_malformed', `Malformed Authorization header: ${why}`)

const multipleMethods = () =>
  invalidRequest(
    'multiple_credentials',
    'The request sends the access token by more than one method (Authorization header and body)',
  )

const tooLarge = (max: number) =>
  invalidToken('token_too_large', `The access token is longer than ${max} characters`)

/** The media type of a form-encoded body, the only body that may carry a token (RFC 6750 §2.2). */
export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded'

/** True when a `Content-Type` header value names a form-encoded body, parameters ignored. */
export function isFormContentType(contentType: unknown): boolean {
  if (typeof contentType !== 'string') return false
  const semicolon = contentType.indexOf(';')
  const media = semicolon < 0 ? contentType : contentType.slice(0, semicolon)
  return media.trim().toLowerCase() === FORM_MEDIA_TYPE
}

/**
 * True when a request may carry its token in a form body (RFC 6750 §2.2): form-encoded, and not a
 * GET ("MUST NOT be used") or a HEAD (no body semantics either). Fastify asks it before the body
 * is parsed; `formBodyToken` applies it after.
 */
export function mayCarryFormToken(method: string, contentType: unknown): boolean {
  return mayHaveFormBody(method) && isFormContentType(contentType)
}

// RFC 6750 §2.2: never on a GET; a HEAD has no body semantics either.
const mayHaveFormBody = (method: string) => method !== 'GET' && method !== 'HEAD'

/**
 * `formBodyToken` of a request whose framework parsed its body into `request.body` (Express): the
 * content type and the body are read only for a method that may carry one, so a GET or HEAD costs
 * no header read.
 */
export function requestFormToken(
  method: string,
  request: { readonly headers: { readonly 'content-type'?: unknown }; readonly body?: unknown },
): unknown {
  if (!mayHaveFormBody(method)) return undefined
  const contentType = request.headers['content-type']
  // The body only for a form: on Express's request, a property nobody set is looked up along a
  // long prototype chain.
  return isFormContentType(contentType) ? ownAccessToken(request.body) : undefined
}

/**
 * The `access_token` parameter of a parsed form body (RFC 6750 §2.2), for `readBearer`'s
 * `bodyToken`; `undefined` for any other body, and on a GET or HEAD. Only own properties count.
 */
export function formBodyToken(method: string, contentType: unknown, body: unknown): unknown {
  return mayCarryFormToken(method, contentType) ? ownAccessToken(body) : undefined
}

/** The `access_token` member of a parsed body, its own only (not inherited). */
function ownAccessToken(body: unknown): unknown {
  if (body === null || typeof body !== 'object') return undefined
  return Object.hasOwn(body, 'access_token') ? (body as Record<string, unknown>).access_token : undefined
}
