import { METADATA_URL } from '@portcullis/test-kit'
import type { JWTPayload } from 'jose'
import type { MatrixOptions } from './app-spec.js'

// Every request/response case both adapters must answer identically: a request, and the exact
// status, headers and body expected. Transport headers (date, connection, keep-alive) are not
// compared; `content-length` is, computed from the expected body unless a case gives it.

/** A token the runner mints (see tokenKit): default claims are a valid token for the resource. */
export interface TokenSpec {
  claims?: JWTPayload
  forged?: boolean
  typ?: string
}

export interface MatrixCase {
  name: string
  /** Gate options of the app that answers (overrides of the notes resource). */
  options?: MatrixOptions
  request: {
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'
    path: string
    /** `$TOKEN` in a value (or in the path or body) is replaced by the minted `token`. */
    headers?: Record<string, string | string[]>
    token?: TokenSpec
    body?: string
  }
  expect: {
    status: number
    headers: Record<string, string>
    /** A JSON value, or `''` for an empty body. */
    body: unknown
  }
}

export const EXPOSE = 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After'
export const ALLOW_HEADERS =
  'Authorization, Content-Type, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name'
export const ORIGIN = 'https://inspector.example'
export const BEARER = { authorization: 'Bearer $TOKEN' }
const now = Math.floor(Date.now() / 1000)

// A request without Origin is not a browser's CORS request (Fetch standard §3.1): a protected
// route answers it with no grant, only `Vary: Origin` (§3.2.5), so most cases below expect that.
// A browser's request (with Origin) gets the grant and the exposed headers: see cors-cases.ts.
export const NO_CORS = { vary: 'Origin' }
export const BROWSER_CORS = { 'access-control-allow-origin': '*', 'access-control-expose-headers': EXPOSE }

export const rejectionHeaders = (
  challenge: string | undefined,
  more: Record<string, string> = {},
  cors: Record<string, string> = NO_CORS,
) => ({
  ...cors,
  'cache-control': 'no-store',
  'content-type': 'application/json; charset=utf-8',
  ...(challenge === undefined ? {} : { 'www-authenticate': challenge }),
  ...more,
})

export const okHeaders = (cors: Record<string, string> = NO_CORS) => ({
  ...cors,
  'content-type': 'application/json; charset=utf-8',
})

export const noCredentials = `Bearer scope="notes:read", resource_metadata="${METADATA_URL}"`
export const invalidToken = (description: string) =>
  `Bearer error="invalid_token", error_description="${description}", scope="notes:read", resource_metadata="${METADATA_URL}"`
export const insufficientScope = (description: string, scope: string) =>
  `Bearer error="insufficient_scope", error_description="${description}", scope="${scope}", resource_metadata="${METADATA_URL}"`
export const invalidRequest = (description: string) =>
  `Bearer error="invalid_request", error_description="${description}", resource_metadata="${METADATA_URL}"`

export const MALFORMED =
  'Malformed Authorization header: the Bearer credential must be a single token68 value (RFC 6750 §2.1)'
export const MISSING = 'An access token is required in the Authorization header (Bearer scheme)'

const rejected = (
  name: string,
  request: MatrixCase['request'],
  status: number,
  challenge: string | undefined,
  body: { error: string; error_description: string },
  options?: MatrixOptions,
): MatrixCase => ({
  name,
  ...(options === undefined ? {} : { options }),
  request,
  expect: { status, headers: rejectionHeaders(challenge), body },
})

const tokenFailure = (name: string, token: TokenSpec, description: string): MatrixCase =>
  rejected(
    name,
    { method: 'GET', path: '/notes', headers: BEARER, token },
    401,
    invalidToken(description.replaceAll('"', "'")),
    { error: 'invalid_token', error_description: description },
  )

const scopeDenied = (name: string, path: string, scope: string, description: string, granted: string) =>
  ({
    name,
    request: { method: 'GET', path, headers: BEARER, token: { claims: { scope: granted } } },
    expect: {
      status: 403,
      headers: rejectionHeaders(insufficientScope(description, scope)),
      body: { error: 'insufficient_scope', error_description: description },
    },
  }) satisfies MatrixCase

export const CASES: readonly MatrixCase[] = [
  // The bearer gate (RFC 6750 §3.1, RFC 9728 §5.1).
  rejected(
    'no token: 401 without error, base scope and resource_metadata',
    { method: 'GET', path: '/notes' },
    401,
    noCredentials,
    {
      error: 'invalid_token',
      error_description: MISSING,
    },
  ),
  rejected(
    'another scheme counts as no bearer credentials',
    { method: 'GET', path: '/notes', headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } },
    401,
    noCredentials,
    { error: 'invalid_token', error_description: 'Only Bearer access tokens are accepted' },
  ),
  rejected(
    'a token in the query string is ignored (OAuth 2.1 §5.1)',
    { method: 'GET', path: '/notes?access_token=$TOKEN', token: {} },
    401,
    noCredentials,
    { error: 'invalid_token', error_description: MISSING },
  ),
  rejected(
    'a malformed header: 400 invalid_request',
    { method: 'GET', path: '/notes', headers: { authorization: 'Bearer a b' } },
    400,
    // RFC 6750 §3: the header description is printable ASCII without '"' and '\\'.
    invalidRequest(MALFORMED.replace('§', '?')),
    { error: 'invalid_request', error_description: MALFORMED },
  ),
  rejected(
    'Bearer with no token: 400',
    { method: 'GET', path: '/notes', headers: { authorization: 'Bearer' } },
    400,
    invalidRequest('Malformed Authorization header: the Bearer scheme carries no token'),
    {
      error: 'invalid_request',
      error_description: 'Malformed Authorization header: the Bearer scheme carries no token',
    },
  ),
  rejected(
    'two Authorization headers: 400 invalid_request',
    {
      method: 'GET',
      path: '/notes',
      headers: { authorization: ['Bearer $TOKEN', 'Bearer $TOKEN'] },
      token: {},
    },
    400,
    invalidRequest('The request carries more than one Authorization header'),
    { error: 'invalid_request', error_description: 'The request carries more than one Authorization header' },
  ),
  rejected(
    'an oversized token: 401, decided before verification (within the 16 KiB header limit of Node)',
    { method: 'GET', path: '/notes', headers: { authorization: `Bearer ${'a'.repeat(10_000)}` } },
    401,
    invalidToken('The access token is longer than 8192 characters'),
    { error: 'invalid_token', error_description: 'The access token is longer than 8192 characters' },
  ),
  tokenFailure(
    'an expired token: 401',
    { claims: { exp: now - 3600, iat: now - 7200 } },
    'token has expired',
  ),
  tokenFailure('a forged token: 401', { forged: true }, 'signature does not verify'),
  tokenFailure(
    'a token for another audience: 401',
    { claims: { aud: 'https://other.example.com/mcp' } },
    'token is meant for another audience',
  ),
  tokenFailure(
    'a token from another issuer: 401',
    { claims: { iss: 'https://evil.example.com' } },
    'token issued by another issuer',
  ),
  tokenFailure('an ID token: 401', { typ: 'id_token+jwt' }, 'typ "id_token+jwt" is not an access token type'),
  {
    name: 'a valid token: 200, the caller reaches the handler',
    request: {
      method: 'GET',
      path: '/notes',
      headers: BEARER,
      token: { claims: { scope: 'notes:read notes:write' } },
    },
    expect: {
      status: 200,
      headers: okHeaders(),
      body: { route: 'GET /notes', sub: 'alice', scopes: ['notes:read', 'notes:write'] },
    },
  },
  {
    name: 'the scheme name is case-insensitive (RFC 9110 §11.1)',
    request: { method: 'GET', path: '/notes', headers: { authorization: 'bEaReR $TOKEN' }, token: {} },
    expect: {
      status: 200,
      headers: okHeaders(),
      body: { route: 'GET /notes', sub: 'alice', scopes: ['notes:read'] },
    },
  },
  {
    name: 'HEAD of a protected GET route is gated too',
    request: { method: 'HEAD', path: '/reports' },
    expect: {
      status: 401,
      headers: rejectionHeaders(noCredentials, {
        'content-length': String(
          JSON.stringify({ error: 'invalid_token', error_description: MISSING }).length,
        ),
      }),
      body: '',
    },
  },
  rejected(
    'a form-body token next to a header token: 400 (RFC 6750 §3.1)',
    {
      method: 'POST',
      path: '/notes',
      headers: { ...BEARER, 'content-type': 'application/x-www-form-urlencoded' },
      token: { claims: { scope: 'notes:write' } },
      body: 'access_token=$TOKEN&title=x',
    },
    400,
    invalidRequest(
      'The request sends the access token by more than one method (Authorization header and body)',
    ),
    {
      error: 'invalid_request',
      error_description:
        'The request sends the access token by more than one method (Authorization header and body)',
    },
  ),
  rejected(
    'a form-body token alone is not accepted',
    {
      method: 'POST',
      path: '/notes',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      token: {},
      body: 'access_token=$TOKEN',
    },
    401,
    noCredentials,
    { error: 'invalid_token', error_description: MISSING },
  ),
  {
    name: 'access_token in a JSON body is not a form token: the header token is used',
    request: {
      method: 'POST',
      path: '/notes',
      headers: { ...BEARER, 'content-type': 'application/json' },
      token: { claims: { scope: 'notes:write' } },
      body: '{"access_token":"x"}',
    },
    expect: {
      status: 200,
      headers: okHeaders(),
      body: { route: 'POST /notes', sub: 'alice', scopes: ['notes:write'] },
    },
  },

  // Failures of the verifier: 503, fail closed, nothing internal leaks.
  {
    name: 'a key set that cannot be reached: 503 with Retry-After',
    options: { verifier: 'unreachable' },
    request: { method: 'GET', path: '/notes', headers: BEARER, token: {} },
    expect: {
      status: 503,
      headers: rejectionHeaders(undefined, { 'retry-after': '5' }),
      body: {
        error: 'temporarily_unavailable',
        error_description: 'the signing keys of the authorization server are unavailable',
      },
    },
  },
  {
    name: 'a verifier that throws something unexpected: 503, generic description',
    options: { verifier: 'throws' },
    request: { method: 'GET', path: '/notes', headers: BEARER, token: {} },
    expect: {
      status: 503,
      headers: rejectionHeaders(undefined, { 'retry-after': '5' }),
      body: {
        error: 'temporarily_unavailable',
        error_description: 'The access token could not be verified right now; retry later',
      },
    },
  },

  // Scopes: 403 with the minimal missing set, implication honoured.
  scopeDenied(
    'route scopes: 403 naming the missing scope',
    '/reports',
    'reports:read',
    'This operation requires the scope: reports:read',
    'notes:read',
  ),
  scopeDenied(
    'one challenge names every missing scope, minus those implied by another missing one',
    '/export',
    'notes:write reports:read',
    'This operation requires the scopes: notes:write reports:read',
    'profile',
  ),
  scopeDenied(
    'anyOf: 403 names one scope that would do',
    '/search',
    'files:read',
    'This operation requires one of the scopes: files:read notes:read',
    'profile',
  ),
  scopeDenied(
    'allOf: 403 names what is missing',
    '/sync',
    'files:read',
    'This operation requires the scope: files:read',
    'notes:read',
  ),
  {
    name: 'anyOf: either scope will do',
    request: { method: 'GET', path: '/search', headers: BEARER, token: { claims: { scope: 'files:read' } } },
    expect: {
      status: 200,
      headers: okHeaders(),
      body: { route: 'GET /search', sub: 'alice', scopes: ['files:read'] },
    },
  },
  {
    name: 'implication: notes:admin satisfies notes:write',
    request: { method: 'POST', path: '/notes', headers: BEARER, token: { claims: { scope: 'notes:admin' } } },
    expect: {
      status: 200,
      headers: okHeaders(),
      body: { route: 'POST /notes', sub: 'alice', scopes: ['notes:admin'] },
    },
  },
  {
    name: 'implication does not run backwards: notes:read does not satisfy notes:write',
    request: { method: 'POST', path: '/notes', headers: BEARER, token: { claims: { scope: 'notes:read' } } },
    expect: {
      status: 403,
      headers: rejectionHeaders(
        insufficientScope('This operation requires the scope: notes:write', 'notes:write'),
      ),
      body: {
        error: 'insufficient_scope',
        error_description: 'This operation requires the scope: notes:write',
      },
    },
  },
  {
    name: 'a public route: no token needed, no auth, no CORS of the gate',
    request: { method: 'GET', path: '/health' },
    expect: {
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: { ok: true, auth: null },
    },
  },
  {
    name: 'a public route ignores a bad token',
    request: { method: 'GET', path: '/health', headers: { authorization: 'Bearer a b' } },
    expect: {
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: { ok: true, auth: null },
    },
  },

  rejected(
    'a resource at the origin root: challenges point at the root well-known URL',
    { method: 'GET', path: '/notes' },
    401,
    'Bearer scope="notes:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"',
    { error: 'invalid_token', error_description: MISSING },
    { resource: 'https://mcp.example.com/' },
  ),
]
