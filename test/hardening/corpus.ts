import { BASE_SCOPE, BODY_LIMIT } from './hardening-stack.js'
import type { TokenRecipe } from './token-forge.js'

// The bad-input corpus: named requests and what every adapter must answer. Each case is data: the
// request (header lines as sent on the wire, body, query) with `$TOKEN` standing for the token
// its recipe makes, and the expected status and challenge parameters. The runner also checks, for
// every answer: no 500, no invalid token accepted, a strictly parseable challenge whose
// `resource_metadata` is the resource's metadata URL, Retry-After on 503, no token echoed.
//
// Apps (corpus-apps.ts): GET /notes any valid token, GET /reports reports:read, POST /notes
// notes:write, POST /mcp with tools ping (any token), read_notes (notes:read), write_note
// (notes:write), export_reports (reports:read), purge_notes (notes:admin). Implication:
// notes:admin → notes:write → notes:read. Trusted issuers: $ACME (".../realms/acme"), $PARTNER
// (".../partner/", trailing slash), the dev IdP. Keys es-1 (ES256) and rs-1 (RS256).

/** The parameters a challenge must carry besides `resource_metadata` (always checked). */
export interface ExpectedChallenge {
  /** Absent: no `error` (nor `error_description`) attribute, as for a request without credentials. */
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope'
  /** Absent: no `scope` attribute. */
  scope?: string
}

export interface Expectation {
  status: number
  /** `null`: no WWW-Authenticate at all (an answer of Node, the framework or the MCP SDK). */
  challenge: ExpectedChallenge | null
  /** Text the `error_description` of the answer contains: why the request is refused. */
  because?: string
}

export type CorpusBody = { json: unknown } | { form: Record<string, string> } | { text: string; type: string }

export interface CorpusCase {
  name: string
  request: {
    method?: 'GET' | 'HEAD' | 'POST' | 'DELETE' | 'OPTIONS'
    /** Default `/notes`. */
    path?: string
    /** Query string without `?`; `$TOKEN` is replaced. */
    query?: string
    /** Header lines exactly as sent (names may repeat); `$TOKEN` is replaced. */
    headers?: Array<[string, string]>
    body?: CorpusBody
    token?: TokenRecipe
  }
  expect: Expectation
  /** MCP tools this request must not have run (checked on the app's tool-run counters). */
  mustNotRun?: string[]
}

// Expected challenges.
const NO_CREDENTIALS: ExpectedChallenge = { scope: BASE_SCOPE }
const INVALID_TOKEN: ExpectedChallenge = { error: 'invalid_token', scope: BASE_SCOPE }
const INVALID_REQUEST: ExpectedChallenge = { error: 'invalid_request' }
const stepUp = (scope: string): ExpectedChallenge => ({ error: 'insufficient_scope', scope })

const BEARER: [string, string] = ['Authorization', 'Bearer $TOKEN']
const ok: Expectation = { status: 200, challenge: null }
const unauthenticated: Expectation = { status: 401, challenge: NO_CREDENTIALS }
const badToken: Expectation = { status: 401, challenge: INVALID_TOKEN }
const badRequest: Expectation = { status: 400, challenge: INVALID_REQUEST }
/** 401 invalid_token, for the reason the error_description gives. */
const refused = (because: string): Expectation => ({ status: 401, challenge: INVALID_TOKEN, because })
const TWO_HEADERS: Expectation = { ...badRequest, because: 'more than one Authorization header' }
const TWO_METHODS: Expectation = { ...badRequest, because: 'more than one method' }
const NOT_TOKEN68: Expectation = { ...badRequest, because: 'single token68 value' }

const VALID: TokenRecipe = { jwt: {} }

/** GET /notes with `Authorization: <value>`. */
const header = (name: string, value: string, expect: Expectation, token?: TokenRecipe): CorpusCase => ({
  name,
  request: { headers: [['Authorization', value]], ...(token === undefined ? {} : { token }) },
  expect,
})

/** GET /notes with a Bearer token made by `token`. */
const bearerCase = (name: string, token: TokenRecipe, expect: Expectation = badToken): CorpusCase => ({
  name,
  request: { headers: [BEARER], token },
  expect,
})

/** A token signed with the trusted ES256 key, with claims (or header members) changed. */
const claims = (values: Record<string, unknown>, drop: string[] = []): TokenRecipe => ({
  jwt: { claims: values, drop },
})
const joseHeader = (
  values: Record<string, unknown>,
  key?: 'es256' | 'rs256' | 'attacker-es256',
): TokenRecipe => ({
  jwt: { header: values, ...(key === undefined ? {} : { key }) },
})

const VALID_PAYLOAD =
  '{"iss":"$ACME","aud":"$RESOURCE","sub":"alice","client_id":"notes-client","scope":"notes:read","iat":$IAT,"exp":$EXP}'
const ES_HEADER = '{"alg":"ES256","kid":"es-1","typ":"at+jwt"}'
const raw = (
  header: string,
  payload: string,
  sign: 'es256' | 'empty' | 'garbage' = 'es256',
): TokenRecipe => ({
  raw: { header, payload, sign },
})

const MCP_HEADERS: Array<[string, string]> = [BEARER, ['Accept', 'application/json, text/event-stream']]
const rpc = (id: number, method: string, params?: unknown) => ({
  jsonrpc: '2.0',
  id,
  method,
  ...(params === undefined ? {} : { params }),
})
const call = (id: number, name: unknown, args: unknown = {}) =>
  rpc(id, 'tools/call', { name, arguments: args })

/** POST /mcp with a JSON body and a token (default: notes:read). */
const mcp = (
  name: string,
  body: unknown,
  expect: Expectation,
  options: { token?: TokenRecipe; mustNotRun?: string[] } = {},
): CorpusCase => ({
  name,
  request: {
    method: 'POST',
    path: '/mcp',
    headers: MCP_HEADERS,
    body: { json: body },
    token: options.token ?? VALID,
  },
  expect,
  ...(options.mustNotRun === undefined ? {} : { mustNotRun: options.mustNotRun }),
})

const ALL_TOOLS = ['ping', 'read_notes', 'write_note', 'export_reports', 'purge_notes']
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`

// Over Node's default max header size (16 KiB): Node answers 431 itself and closes the connection.
const ONE_MIB_TOKEN = 'A'.repeat(1024 * 1024)

export const CORPUS: CorpusCase[] = [
  // ---------------------------------------------------------------- the Authorization header
  {
    name: 'no Authorization header: 401 without error (RFC 6750 §3.1)',
    request: {},
    expect: unauthenticated,
  },
  header('an empty Authorization header: no credentials', '', unauthenticated),
  header('a header of spaces only: no credentials', '   ', unauthenticated),
  header('Bearer alone: 400 invalid_request', 'Bearer', badRequest),
  header('Bearer and trailing spaces (Node strips them): 400', 'Bearer    ', badRequest),
  header('lower-case scheme: accepted (OAuth 2.1 §5.1.1)', 'bearer $TOKEN', ok, VALID),
  header('upper-case scheme: accepted', 'BEARER $TOKEN', ok, VALID),
  header('doubled space between scheme and token: accepted (RFC 9110 1*SP)', 'Bearer  $TOKEN', ok, VALID),
  header('leading whitespace before the scheme (Node strips it): accepted', '  Bearer $TOKEN', ok, VALID),
  header('a tab between scheme and token: 400', 'Bearer\t$TOKEN', badRequest, VALID),
  header('a colon after the scheme: 400', 'Bearer: $TOKEN', badRequest, VALID),
  header(
    'scheme glued to the token is another scheme: no bearer credentials',
    'Bearer$TOKEN',
    unauthenticated,
    VALID,
  ),
  header(
    'Basic credentials: no bearer credentials, 401 without error',
    'Basic YWxpY2U6c2VjcmV0',
    unauthenticated,
  ),
  header(
    'DPoP scheme (not supported) with a valid token: 401 without error',
    'DPoP $TOKEN',
    unauthenticated,
    VALID,
  ),
  header(
    'Negotiate token68: no bearer credentials',
    'Negotiate YIIBzQYGKwYBBQUCoIIBwTCCAb0=',
    unauthenticated,
  ),
  header('Digest auth-params: no bearer credentials', 'Digest username="alice", realm="x"', unauthenticated),
  header('Bearer with an auth-param instead of a token: 400', 'Bearer token="abc"', NOT_TOKEN68),
  header('Bearer token followed by a comma: 400', 'Bearer $TOKEN,', NOT_TOKEN68, VALID),
  header('Bearer token followed by a second word: 400', 'Bearer $TOKEN extra', NOT_TOKEN68, VALID),
  header('two Bearer credentials in one header: 400', 'Bearer $TOKEN, Bearer $TOKEN', NOT_TOKEN68, VALID),
  header('a token of padding only: 400', 'Bearer ===', NOT_TOKEN68),
  header('padding inside the token: 400', 'Bearer abc=def', NOT_TOKEN68),
  header('non-ASCII token (UTF-8 on the wire): 400', 'Bearer tökén-ünïcode', NOT_TOKEN68),
  header('a no-break space (U+00A0) as separator: 400', 'Bearer\u00a0$TOKEN', badRequest, VALID),
  header('an emoji in the scheme: 400', '🔑 $TOKEN', badRequest, VALID),
  // Node's HTTP parser refuses control characters in field values with its own 400 and closes.
  header('a control character (U+0001) inside the token: 400 from Node', 'Bearer abc\u0001def', {
    status: 400,
    challenge: null,
  }),
  header('a NUL inside the token: 400 from Node', 'Bearer abc\u0000def', { status: 400, challenge: null }),
  header('DEL (U+007F) inside the token: 400 from Node', 'Bearer abc\u007fdef', {
    status: 400,
    challenge: null,
  }),
  header('an escape sequence (ESC [) in the header: 400 from Node', 'Bearer \u001b[31mred', {
    status: 400,
    challenge: null,
  }),
  {
    name: 'a CR LF in the value starts a new (bogus) header line: 400 from Node',
    request: { headers: [['Authorization', 'Bearer $TOKEN\r\n bogus-continuation']], token: VALID },
    expect: { status: 400, challenge: null },
  },
  {
    name: 'two Authorization header lines with the same valid token: 400 multiple_credentials',
    request: { headers: [BEARER, BEARER], token: VALID },
    expect: TWO_HEADERS,
  },
  {
    name: 'Bearer plus Basic on two header lines: 400',
    request: { headers: [BEARER, ['Authorization', 'Basic YWxpY2U6c2VjcmV0']], token: VALID },
    expect: TWO_HEADERS,
  },
  {
    name: 'a valid Bearer line plus an empty Authorization line: 400 (two header lines)',
    request: { headers: [BEARER, ['Authorization', '']], token: VALID },
    expect: TWO_HEADERS,
  },
  {
    name: 'header name in capitals (AUTHORIZATION): accepted, names are case-insensitive',
    request: { headers: [['AUTHORIZATION', 'Bearer $TOKEN']], token: VALID },
    expect: ok,
  },
  {
    name: 'two header lines spelled differently (authorization, AUTHORIZATION): 400',
    request: {
      headers: [
        ['authorization', 'Bearer $TOKEN'],
        ['AUTHORIZATION', 'Bearer $TOKEN'],
      ],
      token: VALID,
    },
    expect: TWO_HEADERS,
  },
  {
    name: 'Proxy-Authorization with a Bearer token is not Authorization: 401 without error',
    request: { headers: [['Proxy-Authorization', 'Bearer $TOKEN']], token: VALID },
    expect: unauthenticated,
  },
  // ---------------------------------------------------------------- other places a token might be
  {
    name: 'query-string access_token alone: ignored, 401 without error (OAuth 2.1 §5.1)',
    request: { query: 'access_token=$TOKEN', token: VALID },
    expect: unauthenticated,
  },
  {
    name: 'query-string access_token plus a valid header: the query is ignored, 200',
    request: { query: 'access_token=$TOKEN', headers: [BEARER], token: VALID },
    expect: ok,
  },
  {
    name: 'query-string junk token plus a valid header: 200',
    request: { query: 'access_token=junk&token=x', headers: [BEARER], token: VALID },
    expect: ok,
  },
  {
    name: 'header token plus form-body access_token: 400 (RFC 6750 §3.1, two methods)',
    request: {
      method: 'POST',
      headers: [BEARER],
      body: { form: { access_token: '$TOKEN', title: 'x' } },
      token: { jwt: { claims: { scope: 'notes:write' } } },
    },
    expect: TWO_METHODS,
  },
  {
    name: 'form-body access_token alone: not an accepted method, 401 without error',
    request: {
      method: 'POST',
      body: { form: { access_token: '$TOKEN' } },
      token: { jwt: { claims: { scope: 'notes:write' } } },
    },
    expect: unauthenticated,
  },
  {
    // RFC 6750 §2.2: the form-body method is never used with GET, so there is one method here.
    name: 'GET with a header token and a form body holding access_token: the body is no method, 200',
    request: {
      method: 'GET',
      headers: [BEARER],
      body: { form: { access_token: '$TOKEN' } },
      token: VALID,
    },
    expect: ok,
  },
  {
    name: 'header token plus an access_token member in a JSON body: JSON is no form, 200',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: MCP_HEADERS,
      body: { json: rpc(1, 'ping', { access_token: 'other' }) },
      token: VALID,
    },
    expect: ok,
  },
  // ---------------------------------------------------------------- sizes
  bearerCase(
    'a token of 8193 characters (limit 8192): 401 token_too_large',
    { text: 'A'.repeat(8193) },
    refused('longer than 8192 characters'),
  ),
  bearerCase('a token of exactly 8192 characters of junk: 401', { text: 'A'.repeat(8192) }),
  bearerCase(
    'a 12 KiB token (within Node header limits): 401',
    { text: 'A'.repeat(12 * 1024) },
    refused('longer than 8192 characters'),
  ),
  {
    name: 'a 1 MiB token: 431 from Node (default max header size 16 KiB), before any hook',
    request: { headers: [BEARER], token: { text: ONE_MIB_TOKEN } },
    expect: { status: 431, challenge: null },
  },
  header('a 20 KiB Basic header: 431 from Node', `Basic ${'B'.repeat(20 * 1024)}`, {
    status: 431,
    challenge: null,
  }),
  bearerCase(
    'a giant scope claim (10 KiB token): 401 token_too_large',
    claims({ scope: 'notes:read '.repeat(1000) }),
    refused('longer than 8192 characters'),
  ),
  {
    name: 'a scope claim of 500 scopes (7 KiB token) without reports:read: /reports 403',
    request: {
      path: '/reports',
      headers: [BEARER],
      token: claims({ scope: Array.from({ length: 500 }, (_, i) => `s${i}:x`).join(' ') }),
    },
    expect: { status: 403, challenge: stepUp('reports:read') },
  },
  // ---------------------------------------------------------------- token shape
  bearerCase('an opaque token (no JWT, no introspection configured): 401', { text: 'mF_9.B5f-4.1JqM' }),
  bearerCase('a two-part JWT (no signature part): 401', { reshape: 'two-parts' }),
  bearerCase('a four-part JWT: 401', { reshape: 'four-parts' }),
  bearerCase(
    'a JWE (five parts) encrypted to the issuer: 401 token_encrypted',
    { special: 'jwe' },
    refused('encrypted tokens (JWE) are not accepted'),
  ),
  bearerCase(
    'an empty signature on an ES256 token: 401',
    { reshape: 'empty-signature' },
    refused('signature does not verify'),
  ),
  bearerCase(
    'the signature of another valid token: 401',
    { reshape: 'signature-of-another-token' },
    refused('signature does not verify'),
  ),
  bearerCase('header and payload swapped: 401', { reshape: 'swap-header-payload' }),
  // token68 allows "=" only at its end: padding inside is a malformed header before any JWT check.
  bearerCase('a padded header part: not token68, 400', { reshape: 'padded-header' }, badRequest),
  bearerCase('a padded signature part (token68, but base64url has no padding): 401', {
    reshape: 'padded-signature',
  }),
  bearerCase('a header in standard base64 (+ and /): 401', { reshape: 'standard-base64-header' }),
  bearerCase('a header with non-canonical trailing bits: 401', {
    reshape: 'non-canonical-header',
    of: { jwt: { header: { typ: 'at+jwt', x: 'ab' } } },
  }),
  bearerCase('a header that is a JSON array: 401', raw('[]', VALID_PAYLOAD)),
  bearerCase('a header that is a JSON string: 401', raw('"ES256"', VALID_PAYLOAD)),
  bearerCase('a header that is JSON null: 401', raw('null', VALID_PAYLOAD)),
  bearerCase('a payload that is a JSON number: 401', raw(ES_HEADER, '1795000000')),
  bearerCase('a payload that is a JSON array of claims: 401', raw(ES_HEADER, `[${VALID_PAYLOAD}]`)),
  bearerCase('a payload that is not JSON: 401', raw(ES_HEADER, '{"iss":"$ACME",')),
  bearerCase(
    'a payload in Latin-1, not UTF-8 (RFC 8725 §3.7): 401',
    {
      raw: {
        header: ES_HEADER,
        payload: VALID_PAYLOAD.replace('alice', 'alic\u00e9'),
        sign: 'es256',
        encoding: 'latin1',
      },
    },
    refused('payload is not UTF-8'),
  ),
  bearerCase(
    'a header without alg: 401',
    raw('{"kid":"es-1","typ":"at+jwt"}', VALID_PAYLOAD),
    refused('alg is missing'),
  ),
  // ---------------------------------------------------------------- algorithms and keys
  bearerCase(
    'alg none, unsigned: 401',
    raw('{"alg":"none","typ":"at+jwt"}', VALID_PAYLOAD, 'empty'),
    refused('alg "none" is not allowed'),
  ),
  bearerCase(
    'alg None: 401',
    raw('{"alg":"None","typ":"at+jwt"}', VALID_PAYLOAD, 'empty'),
    refused('alg "None" is not allowed'),
  ),
  bearerCase(
    'alg NONE: 401',
    raw('{"alg":"NONE","typ":"at+jwt"}', VALID_PAYLOAD, 'empty'),
    refused('alg "NONE" is not allowed'),
  ),
  bearerCase(
    'alg none with the kid of a trusted key and a junk signature: 401',
    raw('{"alg":"none","kid":"es-1"}', VALID_PAYLOAD, 'garbage'),
    refused('alg "none" is not allowed'),
  ),
  bearerCase(
    'HS256 keyed with the issuer RSA public key (PEM): 401',
    { special: 'hs256-with-rsa-pem' },
    refused('alg "HS256" is not allowed'),
  ),
  bearerCase(
    'HS256 keyed with the issuer RSA public JWK text: 401',
    { special: 'hs256-with-rsa-jwk' },
    refused('alg "HS256" is not allowed'),
  ),
  bearerCase(
    'HS256 keyed with the EC key x coordinate: 401',
    { special: 'hs256-with-ec-x' },
    refused('alg "HS256" is not allowed'),
  ),
  bearerCase(
    'RS256 in the header, kid of the ES256 key: 401 key_unsuitable',
    {
      raw: { header: '{"alg":"RS256","kid":"es-1","typ":"at+jwt"}', payload: VALID_PAYLOAD, sign: 'rs256' },
    },
    refused('is bound to ES256, not RS256'),
  ),
  bearerCase(
    'ES384 in the header with the ES256 key: 401',
    raw('{"alg":"ES384","kid":"es-1","typ":"at+jwt"}', VALID_PAYLOAD),
    refused('is bound to ES256, not ES384'),
  ),
  bearerCase(
    'PS256 with the RS256 key: 401',
    {
      raw: { header: '{"alg":"PS256","kid":"rs-1","typ":"at+jwt"}', payload: VALID_PAYLOAD, sign: 'rs256' },
    },
    refused('is bound to RS256, not PS256'),
  ),
  bearerCase(
    'signed by an attacker key under the trusted kid: 401',
    joseHeader({ kid: 'es-1' }, 'attacker-es256'),
    refused('signature does not verify'),
  ),
  bearerCase('an unknown kid (attacker key): 401', joseHeader({}, 'attacker-es256'), refused('unknown key')),
  bearerCase(
    'kid with path traversal: 401',
    joseHeader({ kid: '../../../../etc/passwd' }),
    refused('unknown key'),
  ),
  bearerCase('kid with SQL: 401', joseHeader({ kid: "es-1' OR '1'='1" }), refused('unknown key')),
  bearerCase('kid "__proto__": 401', joseHeader({ kid: '__proto__' }), refused('unknown key')),
  bearerCase('kid "constructor": 401', joseHeader({ kid: 'constructor' }), refused('unknown key')),
  bearerCase(
    'kid as a number: 401',
    raw('{"alg":"ES256","kid":1,"typ":"at+jwt"}', VALID_PAYLOAD),
    refused('kid is not a string'),
  ),
  bearerCase(
    'jku pointing to the attacker key set, signed by the attacker: 401, no fetch',
    {
      jwt: { key: 'attacker-es256', header: { jku: '$ATTACKER/jwks' } },
    },
    refused('unknown key'),
  ),
  bearerCase(
    'x5u pointing to the attacker, signed by the attacker: 401, no fetch',
    {
      jwt: { key: 'attacker-es256', header: { x5u: '$ATTACKER/cert.pem' } },
    },
    refused('unknown key'),
  ),
  bearerCase(
    'jku to the attacker under the trusted kid: 401, no fetch',
    {
      jwt: { key: 'attacker-es256', header: { kid: 'es-1', jku: '$ATTACKER/jwks' } },
    },
    refused('signature does not verify'),
  ),
  bearerCase(
    'an embedded jwk header holding the attacker public key: 401',
    { special: 'embedded-jwk' },
    refused('signature does not verify'),
  ),
  bearerCase(
    'an embedded jwk header plus the trusted kid, signed by the attacker: 401',
    { special: 'embedded-jwk-trusted-kid' },
    refused('signature does not verify'),
  ),
  bearerCase(
    'a critical header the verifier does not know (crit ["exp"]): 401',
    raw('{"alg":"ES256","kid":"es-1","typ":"at+jwt","crit":["exp"],"exp":1}', VALID_PAYLOAD),
    refused('critical header extensions are not supported'),
  ),
  bearerCase(
    'crit b64 false (unencoded payload): 401',
    raw('{"alg":"ES256","kid":"es-1","b64":false,"crit":["b64"]}', VALID_PAYLOAD),
    refused('critical header extensions are not supported'),
  ),
  bearerCase(
    'typ of an explicitly typed ID token (id_token+jwt): 401',
    joseHeader({ typ: 'id_token+jwt' }),
    refused('not an access token type'),
  ),
  bearerCase(
    'typ of a logout token (logout+jwt): 401',
    joseHeader({ typ: 'logout+jwt' }),
    refused('not an access token type'),
  ),
  bearerCase(
    'typ of a security event token (secevent+jwt): 401',
    joseHeader({ typ: 'secevent+jwt' }),
    refused('not an access token type'),
  ),
  bearerCase('typ JWT (lenient default, Entra and Auth0 send it): accepted', joseHeader({ typ: 'JWT' }), ok),
  bearerCase(
    'a nested JWT (cty JWT): 401, its payload is no claim set',
    { special: 'nested-cty' },
    refused('no issuer'),
  ),
  bearerCase(
    'a nested JWT without cty (payload is a token, not an object): 401',
    { special: 'nested-no-cty' },
    refused('no issuer'),
  ),
  bearerCase(
    'duplicate alg in the header: 401',
    raw('{"alg":"none","alg":"ES256","kid":"es-1","typ":"at+jwt"}', VALID_PAYLOAD),
    refused('header repeats a member name'),
  ),
  bearerCase(
    'duplicate kid in the header: 401',
    raw('{"alg":"ES256","kid":"zzz","kid":"es-1","typ":"at+jwt"}', VALID_PAYLOAD),
    refused('header repeats a member name'),
  ),
  bearerCase(
    'duplicate aud in the payload (last one ours): 401',
    raw(
      ES_HEADER,
      '{"iss":"$ACME","aud":"https://evil.example/mcp","aud":"$RESOURCE","sub":"alice","scope":"notes:read","iat":$IAT,"exp":$EXP}',
    ),
    refused('payload repeats a member name'),
  ),
  bearerCase(
    'duplicate exp in the payload: 401',
    raw(
      ES_HEADER,
      '{"iss":"$ACME","aud":"$RESOURCE","sub":"alice","scope":"notes:read","iat":$IAT,"exp":1,"exp":$EXP}',
    ),
    refused('payload repeats a member name'),
  ),
  bearerCase(
    'a duplicate member spelled with a unicode escape (\\u0061ud): 401',
    raw(
      ES_HEADER,
      '{"iss":"$ACME","aud":"https://evil.example/mcp","\\u0061ud":"$RESOURCE","sub":"alice","iat":$IAT,"exp":$EXP}',
    ),
    refused('payload repeats a member name'),
  ),
  {
    name: 'a __proto__ member carrying reports:read grants nothing: /reports 403',
    request: {
      path: '/reports',
      headers: [BEARER],
      token: raw(
        ES_HEADER,
        '{"iss":"$ACME","aud":"$RESOURCE","sub":"alice","scope":"notes:read","__proto__":{"scope":"reports:read"},"iat":$IAT,"exp":$EXP}',
      ),
    },
    expect: { status: 403, challenge: stepUp('reports:read') },
  },
  // ---------------------------------------------------------------- claims
  bearerCase('exp as a string: 401', claims({ exp: '9999999999' }), refused('claim "exp" must be a number')),
  bearerCase('exp missing: 401', claims({}, ['exp']), refused('required claim "exp" is missing')),
  bearerCase('exp null: 401', claims({ exp: null }), refused('claim "exp" must be a number')),
  bearerCase('exp far in the past (1970): 401', claims({ exp: 1 }), refused('token has expired')),
  bearerCase('exp negative: 401', claims({ exp: -1 }), refused('token has expired')),
  bearerCase(
    'exp 1e400 (Infinity once parsed): 401',
    raw(
      ES_HEADER,
      '{"iss":"$ACME","aud":"$RESOURCE","sub":"alice","scope":"notes:read","iat":$IAT,"exp":1e400}',
    ),
    refused('claim "exp" must be a number'),
  ),
  bearerCase(
    'exp 120 s ago (beyond the 60 s leeway): 401',
    claims({ exp: { $now: -120 } }),
    refused('token has expired'),
  ),
  bearerCase('exp 20 s ago (within the 60 s leeway): accepted', claims({ exp: { $now: -20 } }), ok),
  bearerCase(
    'exp far in the future (year 5138): accepted, the issuer decides lifetimes',
    claims({ exp: 99_999_999_999 }),
    ok,
  ),
  bearerCase('nbf an hour ahead: 401', claims({ nbf: { $now: 3600 } }), refused('not valid yet')),
  bearerCase('nbf 20 s ahead (within leeway): accepted', claims({ nbf: { $now: 20 } }), ok),
  bearerCase('iat an hour ahead: 401', claims({ iat: { $now: 3600 } }), refused('issued in the future')),
  bearerCase('iat as a string: 401', claims({ iat: 'now' }), refused('claim "iat" must be a number')),
  bearerCase('aud missing: 401', claims({}, ['aud']), refused('required claim "aud" is missing')),
  bearerCase('aud empty string: 401', claims({ aud: '' }), refused('another audience')),
  bearerCase('aud empty array: 401', claims({ aud: [] }), refused('another audience')),
  bearerCase(
    'aud array without this resource: 401',
    claims({ aud: ['https://other.example.test/mcp', 'account'] }),
    refused('another audience'),
  ),
  bearerCase(
    'aud array with this resource and others: accepted',
    claims({ aud: ['account', '$RESOURCE'] }),
    ok,
  ),
  bearerCase('aud with a trailing slash: accepted (canonical form)', claims({ aud: '$RESOURCE/' }), ok),
  bearerCase(
    'aud with an upper-case host: accepted (canonical form)',
    claims({ aud: 'https://MCP.EXAMPLE.TEST/mcp' }),
    ok,
  ),
  bearerCase(
    'aud of the origin only: 401',
    claims({ aud: 'https://mcp.example.test' }),
    refused('another audience'),
  ),
  bearerCase('aud of a sub-path: 401', claims({ aud: '$RESOURCE/admin' }), refused('another audience')),
  bearerCase('aud with a fragment: 401', claims({ aud: '$RESOURCE#x' }), refused('another audience')),
  bearerCase(
    'aud with userinfo: 401',
    claims({ aud: 'https://evil@mcp.example.test/mcp' }),
    refused('another audience'),
  ),
  bearerCase(
    'aud over http: 401',
    claims({ aud: 'http://mcp.example.test/mcp' }),
    refused('another audience'),
  ),
  bearerCase(
    'aud as a number: 401',
    claims({ aud: 42 }),
    refused('claim "aud" must be a string or a list of strings'),
  ),
  bearerCase(
    'aud array holding a non-string: 401',
    claims({ aud: ['$RESOURCE', 42] }),
    refused('claim "aud" must be a string or a list of strings'),
  ),
  bearerCase('iss with a trailing slash added: 401', claims({ iss: '$ACME/' }), refused('is not trusted')),
  bearerCase(
    'iss with its trailing slash removed: 401',
    claims({ iss: '$PARTNER_WITHOUT_SLASH' }),
    refused('is not trusted'),
  ),
  bearerCase('iss of the partner issuer, exactly: accepted', claims({ iss: '$PARTNER' }), ok),
  bearerCase(
    'iss with an upper-case scheme: 401 (exact match, no canonicalising)',
    claims({ iss: '$ACME_UPPER_SCHEME' }),
    refused('is not trusted'),
  ),
  bearerCase('iss missing: 401', claims({}, ['iss']), refused('token has no issuer')),
  bearerCase('iss as a number: 401', claims({ iss: 1 }), refused('token has no issuer')),
  bearerCase(
    'iss of the attacker, signed by the attacker: 401, no discovery',
    {
      jwt: { key: 'attacker-es256', claims: { iss: '$ATTACKER' } },
    },
    refused('is not trusted'),
  ),
  bearerCase('sub as a number: 401', claims({ sub: 7 }), refused('claim "sub" must be a string')),
  bearerCase(
    'client_id as an object: 401',
    claims({ client_id: { id: 'x' } }),
    refused('claim "client_id" must be a string'),
  ),
  {
    name: 'scope as a list is read as scopes too, but cannot widen: /reports 403',
    request: { path: '/reports', headers: [BEARER], token: claims({ scope: ['notes:read'] }) },
    expect: { status: 403, challenge: stepUp('reports:read') },
  },
  {
    name: 'scope with a newline smuggling reports:read: /reports 403',
    request: { path: '/reports', headers: [BEARER], token: claims({ scope: 'notes:read\nreports:read' }) },
    expect: { status: 403, challenge: stepUp('reports:read') },
  },
  {
    name: 'scope in another case (REPORTS:READ): /reports 403, scopes are case-sensitive',
    request: { path: '/reports', headers: [BEARER], token: claims({ scope: 'REPORTS:READ' }) },
    expect: { status: 403, challenge: stepUp('reports:read') },
  },
  // ---------------------------------------------------------------- real tokens of the dev IdP
  bearerCase('a dev IdP access token for this resource: accepted', { idp: 'access' }, ok),
  bearerCase('a dev IdP refresh token: 401', { idp: 'refresh' }, refused('not a JWT')),
  bearerCase('a dev IdP ID token (aud is the client): 401', { idp: 'id' }, refused('another audience')),
  bearerCase(
    'a dev IdP access token for another resource: 401',
    { idp: 'other-resource' },
    refused('another audience'),
  ),
  bearerCase(
    'a dev IdP client-credentials token without resource: 401',
    { idp: 'machine-no-resource' },
    refused('not a JWT'),
  ),
  {
    name: 'a dev IdP access token without reports:read on /reports: 403 step-up',
    request: { path: '/reports', headers: [BEARER], token: { idp: 'access' } },
    expect: { status: 403, challenge: stepUp('reports:read') },
  },
  // ---------------------------------------------------------------- methods and routes
  {
    name: 'HEAD with a bad token: 401 (no body)',
    request: { method: 'HEAD', headers: [['Authorization', 'Bearer x.y.z']] },
    expect: badToken,
  },
  {
    name: 'a preflight carrying a junk Authorization header is never gated: 204',
    request: {
      method: 'OPTIONS',
      headers: [
        ['Authorization', 'Bearer junk'],
        ['Origin', 'https://inspector.example'],
        ['Access-Control-Request-Method', 'GET'],
      ],
    },
    expect: { status: 204, challenge: null },
  },
  {
    name: 'the metadata document with a junk token: 200, never gated',
    request: {
      path: '/.well-known/oauth-protected-resource/mcp',
      headers: [['Authorization', 'Bearer \u0080junk']],
    },
    expect: ok,
  },
  {
    name: 'a public route with a junk token: 200',
    request: { path: '/health', headers: [['Authorization', 'Bearer']] },
    expect: ok,
  },
  {
    name: 'POST /notes with notes:read only: 403 notes:write',
    request: { method: 'POST', headers: [BEARER], body: { json: {} }, token: VALID },
    expect: { status: 403, challenge: stepUp('notes:write') },
  },
  {
    name: 'POST /notes with notes:admin (implies notes:write): 200',
    request: {
      method: 'POST',
      headers: [BEARER],
      body: { json: {} },
      token: claims({ scope: 'notes:admin' }),
    },
    expect: ok,
  },
  // ---------------------------------------------------------------- the MCP route: JSON-RPC bodies
  {
    name: 'MCP: no token: 401 without error',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: [['Accept', 'application/json, text/event-stream']],
      body: { json: rpc(1, 'ping') },
    },
    expect: unauthenticated,
  },
  mcp('MCP: an expired token: 401 invalid_token', rpc(1, 'ping'), badToken, { token: claims({ exp: 1 }) }),
  mcp('MCP: ping with a valid token: 200', rpc(1, 'ping'), ok),
  mcp('MCP: a tool open to any token: 200', call(1, 'ping'), ok),
  mcp('MCP: a notes:read tool with notes:read: 200', call(1, 'read_notes'), ok),
  mcp(
    'MCP: a reports:read tool with notes:read: 403 step-up, not run',
    call(1, 'export_reports'),
    {
      status: 403,
      challenge: stepUp('reports:read'),
    },
    { mustNotRun: ['export_reports'] },
  ),
  mcp(
    'MCP: a notes:write tool with notes:read: 403 notes:write',
    call(1, 'write_note', { text: 'x' }),
    {
      status: 403,
      challenge: stepUp('notes:write'),
    },
    { mustNotRun: ['write_note'] },
  ),
  mcp(
    'MCP: a notes:write tool with notes:admin (implication): 200',
    call(1, 'write_note', { text: 'x' }),
    ok,
    {
      token: claims({ scope: 'notes:admin' }),
    },
  ),
  mcp(
    'MCP: a batch mixing an allowed and a forbidden tool: 403 for the whole batch, neither runs',
    [call(1, 'ping'), call(2, 'export_reports')],
    { status: 403, challenge: stepUp('reports:read') },
    { mustNotRun: ['ping', 'export_reports'] },
  ),
  mcp(
    'MCP: a batch needing two missing scopes: one challenge naming both',
    [call(1, 'export_reports'), call(2, 'purge_notes'), call(3, 'write_note', { text: 'x' })],
    { status: 403, challenge: stepUp('reports:read notes:admin') },
    { mustNotRun: ALL_TOOLS },
  ),
  mcp(
    'MCP: a forbidden tool hidden after a notification in a batch: 403',
    [{ jsonrpc: '2.0', method: 'notifications/initialized' }, call(7, 'purge_notes')],
    { status: 403, challenge: stepUp('notes:admin') },
    { mustNotRun: ['purge_notes'] },
  ),
  mcp(
    'MCP: a batch of 129 messages (limit 128): 413',
    Array.from({ length: 129 }, (_, i) => rpc(i + 1, 'ping')),
    { status: 413, challenge: null },
    { mustNotRun: ALL_TOOLS },
  ),
  // Nothing to dispatch: the 1.x SDK answers 202 as for notifications; nothing runs.
  mcp(
    'MCP: an empty batch: 202 from the SDK, nothing runs',
    [],
    { status: 202, challenge: null },
    { mustNotRun: ALL_TOOLS },
  ),
  mcp('MCP: an unknown method: JSON-RPC error, HTTP 200', rpc(1, 'tools/destroy_everything'), ok),
  mcp(
    'MCP: tools/call without a name: JSON-RPC error, nothing runs',
    rpc(1, 'tools/call', { arguments: {} }),
    ok,
    {
      mustNotRun: ALL_TOOLS,
    },
  ),
  mcp('MCP: tools/call with a numeric name: JSON-RPC error, nothing runs', call(1, 42), ok, {
    mustNotRun: ALL_TOOLS,
  }),
  mcp('MCP: tools/call of "__proto__": unknown tool, nothing runs', call(1, '__proto__'), ok, {
    mustNotRun: ALL_TOOLS,
  }),
  mcp(
    'MCP: tools/call with params as a string: 400 from the SDK',
    rpc(1, 'tools/call', 'export_reports'),
    { status: 400, challenge: null },
    {
      mustNotRun: ALL_TOOLS,
    },
  ),
  mcp('MCP: a message that is a JSON string: 400 from the SDK', 'tools/call', {
    status: 400,
    challenge: null,
  }),
  mcp(
    'MCP: a message without jsonrpc: 400 from the SDK',
    { id: 1, method: 'ping' },
    { status: 400, challenge: null },
  ),
  mcp(
    'MCP: a method that is a number: 400 from the SDK',
    { jsonrpc: '2.0', id: 1, method: 5 },
    { status: 400, challenge: null },
  ),
  mcp(
    'MCP: a notification only: 202 Accepted',
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    {
      status: 202,
      challenge: null,
    },
  ),
  {
    name: 'MCP: malformed JSON with a valid token: 400 from the framework',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: MCP_HEADERS,
      body: { text: '{"jsonrpc":"2.0",', type: 'application/json' },
      token: VALID,
    },
    expect: { status: 400, challenge: null },
  },
  {
    name: 'MCP: arguments nested 50,000 deep to an allowed tool: no crash, 200',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: MCP_HEADERS,
      body: {
        text: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{"deep":${deepArray(50_000)}}}}`,
        type: 'application/json',
      },
      token: VALID,
    },
    expect: ok,
  },
  {
    name: 'MCP: arguments nested 50,000 deep to a forbidden tool: 403, not run',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: MCP_HEADERS,
      body: {
        text: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"export_reports","arguments":{"deep":${deepArray(50_000)}}}}`,
        type: 'application/json',
      },
      token: VALID,
    },
    expect: { status: 403, challenge: stepUp('reports:read') },
    mustNotRun: ['export_reports'],
  },
  {
    name: 'MCP: a body of 50,000 nested arrays: 400 from the SDK, no stack overflow',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: MCP_HEADERS,
      body: { text: deepArray(50_000), type: 'application/json' },
      token: VALID,
    },
    expect: { status: 400, challenge: null },
  },
  {
    name: 'MCP: a body over the 1 MiB limit with a valid token: 413',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: MCP_HEADERS,
      body: {
        text: JSON.stringify(call(1, 'write_note', { text: 'x'.repeat(BODY_LIMIT + 1024) })),
        type: 'application/json',
      },
      token: claims({ scope: 'notes:write' }),
    },
    expect: { status: 413, challenge: null },
    mustNotRun: ['write_note'],
  },
  {
    name: 'MCP: a body over the limit without a token: 401 before the body is read',
    request: {
      method: 'POST',
      path: '/mcp',
      headers: [['Accept', 'application/json, text/event-stream']],
      body: {
        text: JSON.stringify(call(1, 'ping', { junk: 'x'.repeat(BODY_LIMIT + 1024) })),
        type: 'application/json',
      },
    },
    expect: unauthenticated,
  },
  {
    name: 'MCP: GET without a session on a stateless route: 405',
    request: { method: 'GET', path: '/mcp', headers: MCP_HEADERS, token: VALID },
    expect: { status: 405, challenge: null },
  },
]
