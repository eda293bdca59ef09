/**
 * Request headers a browser MCP client sends that are not CORS-safelisted, so a preflight must
 * allow them: the bearer token, JSON bodies, the MCP transport headers (Streamable HTTP
 * 2025-06-18 and later) and the 2026-07-28 routing headers.
 */
export const CORS_ALLOWED_HEADERS: readonly string[] = [
  'Authorization',
  'Content-Type',
  'Mcp-Protocol-Version',
  'Mcp-Session-Id',
  'Last-Event-ID',
  'Mcp-Method',
  'Mcp-Name',
]

/**
 * Request headers a preflight for a public document (RFC 9728 metadata) allows. Browser MCP
 * clients send `MCP-Protocol-Version` on every discovery fetch (MCP 2025-06-18 §Protocol Version
 * Header) and, through the SDK's `requestInit`, whatever their transport sends (`Content-Type`,
 * custom headers). The document is public and needs no credentials, so `*` allows any header for
 * such a request (Fetch standard §3.2.3); `Authorization` is never covered by `*` and is named, as
 * is every MCP header, for browsers that read `*` as a plain name.
 */
export const PUBLIC_DOCUMENT_ALLOWED_HEADERS: readonly string[] = ['*', ...CORS_ALLOWED_HEADERS]

/**
 * The preflight answer for a public document: any origin, the document's methods, and the
 * headers of `PUBLIC_DOCUMENT_ALLOWED_HEADERS` plus `allowHeaders`. Without `Allow-Headers` a
 * browser refuses a fetch that carries `MCP-Protocol-Version`, and the client falls back to
 * probing the MCP server for an authorization server of its own.
 *
 * @example
 * publicDocumentPreflight(['GET', 'HEAD', 'OPTIONS'])['Access-Control-Allow-Headers']
 * // '*, Authorization, Content-Type, Mcp-Protocol-Version, ...'
 */
export function publicDocumentPreflight(
  methods: readonly string[],
  allowHeaders: readonly string[] = [],
): Record<string, string> {
  const list = mergeHeaderList(undefined, methods)
  return {
    'Access-Control-Allow-Origin': '*',
    Allow: list,
    'Access-Control-Allow-Methods': list,
    'Access-Control-Allow-Headers': mergeHeaderList(undefined, [
      ...PUBLIC_DOCUMENT_ALLOWED_HEADERS,
      ...allowHeaders,
    ]),
    'Access-Control-Max-Age': '86400',
    'Content-Length': '0',
  }
}

/**
 * Response headers browser JavaScript must be able to read: without `WWW-Authenticate` a browser
 * client cannot find `resource_metadata` or the step-up `scope` (RFC 9728 §5.1), and without
 * `Retry-After` it cannot tell when to come back after a 429 or 503 (RFC 9110 §10.2.3).
 */
export const CORS_EXPOSED_HEADERS: readonly string[] = [
  'WWW-Authenticate',
  'Mcp-Session-Id',
  'Mcp-Protocol-Version',
  'Retry-After',
]

export interface CorsOptions {
  /**
   * Origins allowed to call protected routes from a browser: `'*'` (default) or a list of exact
   * origins (`https://app.example.com`), which are reflected with `Vary: Origin`. A bearer token is
   * not an ambient credential, so `'*'` exposes nothing a page could not already fetch with a token.
   * Either way a request without `Origin` (not a browser's CORS request) gets no CORS headers, only
   * `Vary: Origin`.
   */
  origin?: '*' | readonly string[]
  /** Seconds a browser may cache a preflight answer (`Access-Control-Max-Age`). Default 7200. */
  maxAge?: number
  /** Request headers to allow in addition to `CORS_ALLOWED_HEADERS`. */
  allowHeaders?: readonly string[]
  /** Response headers to expose in addition to `CORS_EXPOSED_HEADERS`. */
  exposeHeaders?: readonly string[]
}

/** The CORS rules of a protected resource, shared by every adapter. */
export interface CorsPolicy {
  /** Headers for an actual (non-preflight) response to `origin`. Empty when the origin is not allowed. */
  responseHeaders(origin: string | undefined): Record<string, string>
  /** The answer to a preflight from `origin` for a route that accepts `methods`. */
  preflight(
    origin: string | undefined,
    methods: readonly string[],
  ): { status: 204; headers: Record<string, string> }
  /** The `Access-Control-Expose-Headers` names this policy adds. */
  readonly exposeHeaders: readonly string[]
  /** `exposeHeaders` as one header value. */
  readonly fixedExposeList: string
  /** `responseHeaders(origin)` when it is the same for every origin given (`origin: '*'`), made once. */
  readonly fixedResponseHeaders: Readonly<Record<string, string>> | undefined
}

/** A response header's value as Node keeps it (`getHeader`). */
export type HeaderValue = string | number | readonly string[] | undefined

/** The CORS headers already on an answer when the gate writes its own (another CORS layer's). */
export interface CorsHeadersSoFar {
  allowOrigin: HeaderValue
  vary: HeaderValue
  exposeHeaders: HeaderValue
}

const NOTHING: Readonly<Record<string, string>> = Object.freeze({})
const VARY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ Vary: 'Origin' })

/**
 * The CORS headers to set on an actual (non-preflight) answer to `origin`, beside a CORS layer
 * that may have run first; each value already merged with what is there:
 * - nothing set yet (the usual case): the policy's headers;
 * - `Access-Control-Allow-Origin` set: that layer granted the origin and its grant stands; only
 *   `Access-Control-Expose-Headers` gains the gate's names, so the challenge stays readable;
 * - `Vary: Origin` without it: that layer refused this origin and its refusal stands (nothing).
 *
 * @example
 * const set = corsHeadersBeside(gate.cors, req.headers.origin, {
 *   allowOrigin: res.getHeader('access-control-allow-origin'),
 *   vary: res.getHeader('vary'),
 *   exposeHeaders: res.getHeader('access-control-expose-headers'),
 * })
 * for (const name in set) res.setHeader(name, set[name])
 */
export function corsHeadersBeside(
  policy: CorsPolicy,
  origin: unknown,
  soFar: CorsHeadersSoFar,
): Readonly<Record<string, string>> {
  return headersBeside(policy, origin, soFar.allowOrigin, soFar.vary, soFar.exposeHeaders)
}

// `corsHeadersBeside` with the headers so far as arguments: no object per request on the hot path.
function headersBeside(
  policy: CorsPolicy,
  origin: unknown,
  allowOrigin: HeaderValue,
  vary: HeaderValue,
  exposeHeaders: HeaderValue,
): Readonly<Record<string, string>> {
  if (allowOrigin === undefined && vary === undefined && exposeHeaders === undefined) {
    if (typeof origin !== 'string') return VARY_ORIGIN
    return policy.fixedResponseHeaders ?? policy.responseHeaders(origin)
  }
  if (allowOrigin !== undefined) {
    return { 'Access-Control-Expose-Headers': mergeHeaderList(exposeHeaders, policy.exposeHeaders) }
  }
  if (listNames(vary, 'origin')) return NOTHING
  const headers = policy.responseHeaders(typeof origin === 'string' ? origin : undefined)
  if (headers.Vary !== undefined) headers.Vary = mergeHeaderList(vary, [headers.Vary])
  const exposed = headers['Access-Control-Expose-Headers']
  if (exposed !== undefined && exposeHeaders !== undefined) {
    headers['Access-Control-Expose-Headers'] = mergeHeaderList(exposeHeaders, policy.exposeHeaders)
  }
  return headers
}

/**
 * The `Access-Control-Expose-Headers` to set when an answer leaves, after every other layer had
 * its turn (one may have replaced the list): the gate's names merged in, or `undefined` when
 * nothing needs setting (no origin granted, or the list has them already as the gate wrote it).
 */
export function exposeHeadersAtSend(
  policy: CorsPolicy,
  allowOrigin: HeaderValue,
  current: HeaderValue,
): string | undefined {
  if (allowOrigin === undefined || current === policy.fixedExposeList) return undefined
  return mergeHeaderList(current, policy.exposeHeaders)
}

/**
 * Reads and writes the headers of a framework's answer: `get` as Node's `getHeader`, `set` one
 * header. Adapters keep one per kind of answer as a constant, so applying costs no closure per request.
 */
export interface HeaderAccess<T> {
  get(target: T, name: string): HeaderValue
  set(target: T, name: string, value: string): void
}

/**
 * `corsHeadersBeside`, applied: reads what another CORS layer set on `target` and sets the gate's
 * headers for an actual (non-preflight) answer to `origin`.
 *
 * @example
 * if (gate.cors !== undefined) applyCorsBeside(gate.cors, req.headers.origin, res, nodeAnswering)
 */
export function applyCorsBeside<T>(
  policy: CorsPolicy,
  origin: unknown,
  target: T,
  access: HeaderAccess<T>,
): void {
  const allowOrigin = access.get(target, 'access-control-allow-origin')
  // Without Origin the exposed list matters only beside another layer's grant: one read fewer.
  const exposed =
    typeof origin === 'string' || allowOrigin !== undefined
      ? access.get(target, 'access-control-expose-headers')
      : undefined
  const set = headersBeside(policy, origin, allowOrigin, access.get(target, 'vary'), exposed)
  // The usual answer to a request without Origin, set without enumerating a frozen object.
  if (set === VARY_ORIGIN) access.set(target, 'Vary', 'Origin')
  else for (const name in set) access.set(target, name, set[name]!)
}

/** `exposeHeadersAtSend`, applied to `target` as the answer leaves. */
export function applyExposeHeadersAtSend<T>(policy: CorsPolicy, target: T, access: HeaderAccess<T>): void {
  const allowOrigin = access.get(target, 'access-control-allow-origin')
  const merged = exposeHeadersAtSend(policy, allowOrigin, access.get(target, 'access-control-expose-headers'))
  if (merged !== undefined) access.set(target, 'Access-Control-Expose-Headers', merged)
}

/** Whether a comma-separated header value names `name` (lower case), field names being case-insensitive. */
function listNames(value: HeaderValue, name: string): boolean {
  if (value === undefined || typeof value === 'number') return false
  const values = typeof value === 'string' ? [value] : value
  return values.some((entry) => entry.split(',').some((item) => item.trim().toLowerCase() === name))
}

/**
 * A CORS preflight is an OPTIONS request naming the method it asks for (Fetch standard §3.2.2).
 * It never carries credentials, so it must never be authenticated.
 *
 * @example
 * isPreflight(request.method, request.headers['access-control-request-method']) // true for a preflight
 */
export function isPreflight(method: string, accessControlRequestMethod: unknown): boolean {
  return (
    method === 'OPTIONS' &&
    typeof accessControlRequestMethod === 'string' &&
    accessControlRequestMethod !== ''
  )
}

/**
 * Whether the gate answers this request as a preflight with its own CORS policy, without
 * authenticating it: only when it is a preflight, the gate has a policy, and no other CORS layer
 * has taken the request (one that ran first and set `Access-Control-Allow-Origin`, or answers
 * preflights itself and passed this one on, e.g. `preflightContinue`). Every other request, a
 * preflight-shaped one included, is authenticated: an unauthenticated request never reaches a
 * protected handler, whatever its method and headers. A preflight is either answered and ended
 * by a CORS layer, or gated.
 *
 * @example
 * if (answersPreflight(req.method, req.headers['access-control-request-method'], gate.cors, false)) {
 *   return send(gate.cors.preflight(origin, methods))
 * }
 */
export function answersPreflight(
  method: string,
  accessControlRequestMethod: unknown,
  cors: CorsPolicy | undefined,
  otherCorsLayer: boolean,
): cors is CorsPolicy {
  return cors !== undefined && !otherCorsLayer && isPreflight(method, accessControlRequestMethod)
}

/**
 * Builds the CORS rules for the protected routes of a resource.
 *
 * @example
 * const cors = corsPolicy({ origin: ['https://inspector.example.com'] })
 * cors.preflight('https://inspector.example.com', ['POST', 'GET', 'DELETE']).headers
 */
export function corsPolicy(options: CorsOptions = {}): CorsPolicy {
  const origin = options.origin ?? '*'
  const allowed = origin === '*' ? undefined : new Set(origin)
  const maxAge = String(options.maxAge ?? 7200)
  const allowHeaders = mergeHeaderList(undefined, [...CORS_ALLOWED_HEADERS, ...(options.allowHeaders ?? [])])
  const exposeHeaders = mergeHeaderList(undefined, [
    ...CORS_EXPOSED_HEADERS,
    ...(options.exposeHeaders ?? []),
  ])
  const exposeList = exposeHeaders.split(', ')

  // A fresh object each call: callers add to it. A request without Origin is not a CORS request
  // (browsers send Origin on every one, Fetch standard §3.1): it gets no grant, only `Vary: Origin`,
  // so a cache never hands that answer to a CORS request (§3.2.5 "CORS protocol and HTTP caches").
  const originHeaders = (requestOrigin: string | undefined): Record<string, string> | undefined => {
    if (requestOrigin === undefined) return undefined
    if (allowed === undefined) return { 'Access-Control-Allow-Origin': '*' }
    // The answer depends on Origin, so caches must key on it (Fetch standard §3.2.5).
    if (!allowed.has(requestOrigin)) return undefined
    return { 'Access-Control-Allow-Origin': requestOrigin, Vary: 'Origin' }
  }

  const policy: CorsPolicy = {
    exposeHeaders: exposeList,
    fixedExposeList: exposeHeaders,
    fixedResponseHeaders:
      allowed === undefined
        ? Object.freeze({
            'Access-Control-Allow-Origin': '*',
            'Access-Control-Expose-Headers': exposeHeaders,
          })
        : undefined,
    responseHeaders(requestOrigin) {
      const headers = originHeaders(requestOrigin)
      if (headers === undefined) return { Vary: 'Origin' }
      headers['Access-Control-Expose-Headers'] = exposeHeaders
      return headers
    },
    preflight(requestOrigin, methods) {
      const headers = originHeaders(requestOrigin)
      if (headers === undefined) {
        // Not an allowed origin: an answer without Allow-Origin, which the browser treats as a refusal.
        return { status: 204, headers: { Vary: 'Origin', 'Content-Length': '0' } }
      }
      headers['Access-Control-Allow-Methods'] = mergeHeaderList(undefined, methods)
      headers['Access-Control-Allow-Headers'] = allowHeaders
      headers['Access-Control-Max-Age'] = maxAge
      headers['Content-Length'] = '0'
      return { status: 204, headers }
    },
  }
  return policy
}

/**
 * Adds names to a comma-separated header list (`Vary`, `Access-Control-Expose-Headers`, ...)
 * without duplicates, comparing case-insensitively (field names are case-insensitive, RFC 9110 §5.1)
 * and keeping the existing entries first.
 *
 * @example
 * mergeHeaderList('Mcp-Session-Id, X-Trace', ['WWW-Authenticate', 'mcp-session-id'])
 * // 'Mcp-Session-Id, X-Trace, WWW-Authenticate'
 */
export function mergeHeaderList(
  existing: string | number | readonly string[] | undefined,
  add: readonly string[],
): string {
  // Node's getHeader() may hold a number (a header set with one); it is one list entry.
  if (typeof existing === 'number') existing = String(existing)
  const out: string[] = []
  const seen = new Set<string>()
  const push = (name: string) => {
    const trimmed = name.trim()
    const key = trimmed.toLowerCase()
    if (trimmed === '' || seen.has(key)) return
    seen.add(key)
    out.push(trimmed)
  }
  const current = existing === undefined ? [] : typeof existing === 'string' ? [existing] : existing
  for (const value of current) for (const name of value.split(',')) push(name)
  for (const name of add) push(name)
  return out.join(', ')
}
