import {
  ALLOW_HEADERS,
  BEARER,
  BROWSER_CORS,
  EXPOSE,
  insufficientScope,
  invalidRequest,
  invalidToken,
  MALFORMED,
  type MatrixCase,
  MISSING,
  NO_CORS,
  noCredentials,
  ORIGIN,
  okHeaders,
  rejectionHeaders,
} from './cases.js'

// The matrix's CORS cases: browser clients (a request with Origin) read every answer of a
// protected route, its challenge included; a request without Origin is not a CORS request (Fetch
// standard §3.1) and gets no grant, only `Vary: Origin`, whatever the policy (§3.2.5).

export const CORS_CASES: readonly MatrixCase[] = [
  // With Origin, under the default policy ('*'): the grant and the exposed headers on every answer,
  // so the client reads WWW-Authenticate (RFC 9728 §5.1) and the MCP headers.
  {
    name: 'from a browser, no token: 401 with the grant and WWW-Authenticate exposed',
    request: { method: 'GET', path: '/notes', headers: { origin: ORIGIN } },
    expect: {
      status: 401,
      headers: rejectionHeaders(noCredentials, {}, BROWSER_CORS),
      body: { error: 'invalid_token', error_description: MISSING },
    },
  },
  {
    name: 'from a browser, an invalid token: 401 invalid_token, readable',
    request: {
      method: 'GET',
      path: '/notes',
      headers: { ...BEARER, origin: ORIGIN },
      token: { forged: true },
    },
    expect: {
      status: 401,
      headers: rejectionHeaders(invalidToken('signature does not verify'), {}, BROWSER_CORS),
      body: { error: 'invalid_token', error_description: 'signature does not verify' },
    },
  },
  {
    name: 'from a browser, a token without the route scope: 403 insufficient_scope, readable for step-up',
    request: {
      method: 'GET',
      path: '/reports',
      headers: { ...BEARER, origin: ORIGIN },
      token: { claims: { scope: 'notes:read' } },
    },
    expect: {
      status: 403,
      headers: rejectionHeaders(
        insufficientScope('This operation requires the scope: reports:read', 'reports:read'),
        {},
        BROWSER_CORS,
      ),
      body: {
        error: 'insufficient_scope',
        error_description: 'This operation requires the scope: reports:read',
      },
    },
  },
  {
    name: 'from a browser, a malformed header: 400 invalid_request, readable',
    request: { method: 'GET', path: '/notes', headers: { authorization: 'Bearer a b', origin: ORIGIN } },
    expect: {
      status: 400,
      // RFC 6750 §3: the header description is printable ASCII without '"' and '\\'.
      headers: rejectionHeaders(invalidRequest(MALFORMED.replace('§', '?')), {}, BROWSER_CORS),
      body: { error: 'invalid_request', error_description: MALFORMED },
    },
  },
  {
    name: 'from a browser, a key set that cannot be reached: 503, readable',
    options: { verifier: 'unreachable' },
    request: { method: 'GET', path: '/notes', headers: { ...BEARER, origin: ORIGIN }, token: {} },
    expect: {
      status: 503,
      headers: rejectionHeaders(undefined, { 'retry-after': '5' }, BROWSER_CORS),
      body: {
        error: 'temporarily_unavailable',
        error_description: 'the signing keys of the authorization server are unavailable',
      },
    },
  },
  {
    name: 'from a browser, a valid token: 200 with the grant and the MCP headers exposed',
    request: { method: 'GET', path: '/notes', headers: { ...BEARER, origin: ORIGIN }, token: {} },
    expect: {
      status: 200,
      headers: okHeaders(BROWSER_CORS),
      body: { route: 'GET /notes', sub: 'alice', scopes: ['notes:read'] },
    },
  },
  {
    name: 'a public route from a browser: no CORS of the gate',
    request: { method: 'GET', path: '/health', headers: { origin: ORIGIN } },
    expect: {
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: { ok: true, auth: null },
    },
  },

  // Without Origin: not a CORS request, whatever its shape or the policy.
  {
    name: 'a preflight-shaped OPTIONS without Origin: answered, never gated, no grant',
    request: { method: 'OPTIONS', path: '/notes', headers: { 'access-control-request-method': 'POST' } },
    expect: { status: 204, headers: { ...NO_CORS, 'content-length': '0' }, body: '' },
  },
  {
    name: 'restricted origins, a request without Origin: no grant, Vary only (as with "*")',
    options: { cors: { origin: [ORIGIN] } },
    request: { method: 'GET', path: '/notes', headers: BEARER, token: {} },
    expect: {
      status: 200,
      headers: okHeaders(),
      body: { route: 'GET /notes', sub: 'alice', scopes: ['notes:read'] },
    },
  },

  // Preflights and restricted origins.
  {
    name: 'a preflight on a protected route is answered, never gated',
    request: {
      method: 'OPTIONS',
      path: '/notes',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, mcp-protocol-version',
      },
    },
    expect: {
      status: 204,
      headers: {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET, OPTIONS, HEAD, POST',
        'access-control-allow-headers': ALLOW_HEADERS,
        'access-control-max-age': '7200',
        'content-length': '0',
      },
      body: '',
    },
  },
  {
    name: 'restricted origins: an allowed origin is reflected with Vary on the preflight',
    options: { cors: { origin: [ORIGIN], maxAge: 600, exposeHeaders: ['X-Request-Id'] } },
    request: {
      method: 'OPTIONS',
      path: '/reports',
      headers: { origin: ORIGIN, 'access-control-request-method': 'GET' },
    },
    expect: {
      status: 204,
      headers: {
        'access-control-allow-origin': ORIGIN,
        vary: 'Origin',
        'access-control-allow-methods': 'GET, OPTIONS, HEAD',
        'access-control-allow-headers': ALLOW_HEADERS,
        'access-control-max-age': '600',
        'content-length': '0',
      },
      body: '',
    },
  },
  {
    name: 'restricted origins: another origin gets a preflight answer without a grant',
    options: { cors: { origin: [ORIGIN] } },
    request: {
      method: 'OPTIONS',
      path: '/notes',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    },
    expect: { status: 204, headers: { vary: 'Origin', 'content-length': '0' }, body: '' },
  },
  {
    name: 'restricted origins: a rejection to an allowed origin carries the grant and the exposed headers',
    options: { cors: { origin: [ORIGIN], exposeHeaders: ['X-Request-Id'] } },
    request: { method: 'GET', path: '/notes', headers: { origin: ORIGIN } },
    expect: {
      status: 401,
      headers: {
        'access-control-allow-origin': ORIGIN,
        vary: 'Origin',
        'access-control-expose-headers': `${EXPOSE}, X-Request-Id`,
        'cache-control': 'no-store',
        'content-type': 'application/json; charset=utf-8',
        'www-authenticate': noCredentials,
      },
      body: { error: 'invalid_token', error_description: MISSING },
    },
  },
  {
    name: 'restricted origins: a rejection to another origin carries no grant',
    options: { cors: { origin: [ORIGIN] } },
    request: { method: 'GET', path: '/notes', headers: { origin: 'https://evil.example' } },
    expect: {
      status: 401,
      headers: {
        vary: 'Origin',
        'cache-control': 'no-store',
        'content-type': 'application/json; charset=utf-8',
        'www-authenticate': noCredentials,
      },
      body: { error: 'invalid_token', error_description: MISSING },
    },
  },
  {
    name: 'cors: false leaves CORS to the application',
    options: { cors: false },
    request: { method: 'GET', path: '/notes', headers: { origin: ORIGIN } },
    expect: {
      status: 401,
      headers: {
        'cache-control': 'no-store',
        'content-type': 'application/json; charset=utf-8',
        'www-authenticate': noCredentials,
      },
      body: { error: 'invalid_token', error_description: MISSING },
    },
  },
]
