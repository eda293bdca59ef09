import { parseChallenges } from '@portcullis/core'
import { bearerChallenge, MAX_ERROR_DESCRIPTION_LENGTH } from '@portcullis/core/adapter'
import fc from 'fast-check'
import t from 'tap'

const PRM = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp'

t.test('no credentials: no error attribute (RFC 6750 §3.1)', async (t) => {
  t.equal(
    bearerChallenge({ resourceMetadata: PRM, scope: ['mcp:basic'] }),
    `Bearer scope="mcp:basic", resource_metadata="${PRM}"`,
  )
  t.equal(bearerChallenge({ resourceMetadata: PRM }), `Bearer resource_metadata="${PRM}"`)
})

t.test('a bad token: error, description, scope, metadata in a stable order', async (t) => {
  t.equal(
    bearerChallenge({
      resourceMetadata: PRM,
      scope: ['mcp:basic'],
      errorDescription: 'The access token expired',
      error: 'invalid_token',
    }),
    `Bearer error="invalid_token", error_description="The access token expired", scope="mcp:basic", resource_metadata="${PRM}"`,
  )
})

t.test('step-up: insufficient_scope with every missing scope in one challenge', async (t) => {
  t.equal(
    bearerChallenge({
      error: 'insufficient_scope',
      scope: ['files:write', 'files:read'],
      resourceMetadata: PRM,
    }),
    `Bearer error="insufficient_scope", scope="files:write files:read", resource_metadata="${PRM}"`,
  )
})

t.test('realm comes first', async (t) => {
  t.equal(
    bearerChallenge({ realm: 'notes', error: 'invalid_request', resourceMetadata: PRM }),
    `Bearer realm="notes", error="invalid_request", resource_metadata="${PRM}"`,
  )
  t.equal(bearerChallenge({ realm: 'example realm' }), 'Bearer realm="example realm"')
})

t.test('scope: offline_access dropped, duplicates dropped, empty list omitted', async (t) => {
  t.equal(
    bearerChallenge({ realm: 'r', scope: ['a', 'offline_access', 'b', 'a'] }),
    'Bearer realm="r", scope="a b"',
  )
  t.equal(bearerChallenge({ realm: 'r', scope: ['offline_access'] }), 'Bearer realm="r"')
  t.equal(bearerChallenge({ realm: 'r', scope: [] }), 'Bearer realm="r"')
})

t.test('scope: an invalid scope-token is a TypeError', async (t) => {
  for (const scope of ['a b', 'a"b', 'a\\b', '', 'caf\u00e9', 'a\nb']) {
    t.throws(
      () => bearerChallenge({ scope: [scope] }),
      { name: 'TypeError', message: /is not a valid scope/ },
      JSON.stringify(scope),
    )
  }
})

t.test('error: characters outside RFC 6750 §3 are a TypeError', async (t) => {
  for (const error of ['', 'a"b', 'a\\b', 'invalid_token\r\nSet-Cookie: x=1', 'caf\u00e9']) {
    t.throws(
      () => bearerChallenge({ error }),
      { name: 'TypeError', message: /not a valid error code/ },
      error,
    )
  }
})

t.test('realm: quotes, backslashes and controls are a TypeError', async (t) => {
  for (const realm of ['a"b', 'a\\b', 'a\nb', '', '\u00e9']) {
    t.throws(() => bearerChallenge({ realm }), { name: 'TypeError', message: /realm/ }, JSON.stringify(realm))
  }
})

t.test('resourceMetadata: must be an absolute URL that needs no escaping', async (t) => {
  for (const resourceMetadata of [
    '',
    '/relative',
    'https://a.example/a b',
    'https://a.example/"',
    'https://a.example/\n',
  ]) {
    t.throws(
      () => bearerChallenge({ resourceMetadata }),
      { name: 'TypeError', message: /resourceMetadata must be an absolute URL/ },
      JSON.stringify(resourceMetadata),
    )
  }
  t.equal(
    bearerChallenge({
      resourceMetadata: 'http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp?x=1',
    }),
    'Bearer resource_metadata="http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp?x=1"',
  )
})

t.test('at least one parameter is required (RFC 6750 §3)', async (t) => {
  t.throws(() => bearerChallenge({}), { name: 'TypeError', message: /at least one parameter/ })
  t.throws(() => bearerChallenge({ scope: ['offline_access'] }), { name: 'TypeError' })
  t.throws(() => bearerChallenge({ errorDescription: '  ' }), { name: 'TypeError' })
})

t.test('error_description is sanitised, never rejected', async (t) => {
  const described = (errorDescription: string) =>
    parseChallenges(bearerChallenge({ error: 'invalid_token', errorDescription }))[0]!.params
      .error_description
  t.equal(described('plain text'), 'plain text')
  t.equal(described('say "hi"'), "say 'hi'")
  t.equal(described('back\\slash'), 'back?slash')
  t.equal(described('line\r\nbreak\ttab'), 'line  break tab')
  t.equal(described('caf\u00e9 \u{1F511}'), 'caf? ?', 'one ? per code point')
  t.equal(described('nul\u0000del\u007f'), 'nul?del?')
  t.equal(described('  padded  '), 'padded')
  t.equal(bearerChallenge({ error: 'invalid_token', errorDescription: '' }), 'Bearer error="invalid_token"')
  t.equal(bearerChallenge({ error: 'invalid_token', errorDescription: '\n' }), 'Bearer error="invalid_token"')
  // Header injection attempts stay inside the quoted value.
  const header = bearerChallenge({ error: 'invalid_token', errorDescription: 'x"\r\nSet-Cookie: a=b' })
  t.notMatch(header, /[\r\n]/)
  t.equal(parseChallenges(header).length, 1)
})

t.test('error_description is bounded', async (t) => {
  const long = bearerChallenge({ error: 'invalid_token', errorDescription: 'x'.repeat(1024 * 1024) })
  const description = parseChallenges(long)[0]!.params.error_description!
  t.equal(description.length, MAX_ERROR_DESCRIPTION_LENGTH)
  t.ok(description.endsWith('...'))
  const exact = 'y'.repeat(MAX_ERROR_DESCRIPTION_LENGTH)
  t.equal(
    parseChallenges(bearerChallenge({ error: 'e', errorDescription: exact }))[0]!.params.error_description,
    exact,
  )
})

t.test('parseChallenges: one challenge with params', async (t) => {
  t.same(parseChallenges('Bearer error="invalid_token", scope="a b"'), [
    { scheme: 'Bearer', params: { error: 'invalid_token', scope: 'a b' } },
  ])
  t.same(
    parseChallenges('Bearer realm=example'),
    [{ scheme: 'Bearer', params: { realm: 'example' } }],
    'token value',
  )
  t.same(parseChallenges('Bearer'), [{ scheme: 'Bearer', params: {} }], 'scheme alone')
  t.same(
    parseChallenges('Bearer a = "x" , b= y'),
    [{ scheme: 'Bearer', params: { a: 'x', b: 'y' } }],
    'BWS and OWS',
  )
  t.same(parseChallenges('Bearer    a="x"'), [{ scheme: 'Bearer', params: { a: 'x' } }], '1*SP after scheme')
  t.same(
    parseChallenges('Bearer Realm="x"'),
    [{ scheme: 'Bearer', params: { realm: 'x' } }],
    'names lower-cased',
  )
  t.same(parseChallenges('Bearer a=""'), [{ scheme: 'Bearer', params: { a: '' } }], 'empty quoted-string')
})

t.test('parseChallenges: quoted-pair unescaping', async (t) => {
  t.same(parseChallenges('Bearer a="x\\"y\\\\z"'), [{ scheme: 'Bearer', params: { a: 'x"y\\z' } }])
  t.same(
    parseChallenges('Bearer a="a, b=c"'),
    [{ scheme: 'Bearer', params: { a: 'a, b=c' } }],
    'commas inside quotes',
  )
})

t.test('parseChallenges: several challenges', async (t) => {
  t.same(parseChallenges('Basic realm="x", Bearer error="invalid_token", scope="a"'), [
    { scheme: 'Basic', params: { realm: 'x' } },
    { scheme: 'Bearer', params: { error: 'invalid_token', scope: 'a' } },
  ])
  t.same(parseChallenges('Negotiate, Bearer realm="r"'), [
    { scheme: 'Negotiate', params: {} },
    { scheme: 'Bearer', params: { realm: 'r' } },
  ])
  t.same(parseChallenges('Bearer a=1,Basic'), [
    { scheme: 'Bearer', params: { a: '1' } },
    { scheme: 'Basic', params: {} },
  ])
  t.same(parseChallenges('DPoP algs="ES256", Bearer resource_metadata="https://a/x"'), [
    { scheme: 'DPoP', params: { algs: 'ES256' } },
    { scheme: 'Bearer', params: { resource_metadata: 'https://a/x' } },
  ])
})

t.test('parseChallenges: token68 challenges', async (t) => {
  t.same(parseChallenges('Negotiate abc=='), [{ scheme: 'Negotiate', params: {}, token68: 'abc==' }])
  t.same(parseChallenges('Negotiate abc=, Bearer a="b"'), [
    { scheme: 'Negotiate', params: {}, token68: 'abc=' },
    { scheme: 'Bearer', params: { a: 'b' } },
  ])
  t.same(parseChallenges('X a/b+c'), [{ scheme: 'X', params: {}, token68: 'a/b+c' }])
  t.same(
    parseChallenges('Bearer a='),
    [{ scheme: 'Bearer', params: {}, token68: 'a=' }],
    'not an empty auth-param',
  )
})

t.test('parseChallenges: duplicates are rejected, case-insensitively (RFC 9110 §11.2)', async (t) => {
  t.throws(() => parseChallenges('Bearer a="1", a="2"'), { name: 'SyntaxError', message: /repeated/ })
  t.throws(() => parseChallenges('Bearer scope="1", SCOPE="2"'), { name: 'SyntaxError', message: /repeated/ })
  // Twin: the same name in two challenges is fine.
  t.equal(parseChallenges('Bearer a="1", Basic a="2"').length, 2)
})

t.test('parseChallenges: malformed input throws', async (t) => {
  for (const value of [
    '',
    ' ',
    ' Bearer',
    'Bearer ',
    'Bearer a="x" ',
    ',Bearer',
    'Bearer,',
    'Bearer, ,Basic',
    'Bearer a="x",',
    'Bearer a="x",, b="y"',
    'Bearer a="unterminated',
    'Bearer a="bad\\',
    'Bearer a="ctl\u0001"',
    'Bearer a="nl\n"',
    'Bearer a= ,b=c',
    'Bearer a=b c',
    'Bearer a="x" b="y"',
    'Bearer\ta="x"',
    'Bearer "x"',
    'Bearer a=b=c',
    'Bearer =x',
    '"Bearer"',
    'Bea(rer a=b',
    'Bearer a="\u0100"',
    'Bearer a=caf\u00e9',
    'Bearer abc==x',
    'Bearer a=1, =2',
  ]) {
    t.throws(() => parseChallenges(value), { name: 'SyntaxError' }, JSON.stringify(value))
  }
  t.throws(() => parseChallenges(undefined as never), { name: 'SyntaxError' })
})

t.test('parseChallenges reads back every challenge bearerChallenge builds', async (t) => {
  const scopeToken = fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,12}$/)
  const printable = fc.stringMatching(/^[\x20\x21\x23-\x5B\x5D-\x7E]{1,20}$/)
  fc.assert(
    fc.property(
      fc.record(
        {
          realm: printable,
          error: printable,
          errorDescription: fc.string({ unit: 'binary', maxLength: 40 }),
          scope: fc.array(scopeToken, { maxLength: 5 }),
          resourceMetadata: fc.webUrl({ withQueryParameters: true }),
        },
        { requiredKeys: ['error'] },
      ),
      (params) => {
        const header = bearerChallenge(params)
        const [challenge, ...rest] = parseChallenges(header)
        t.equal(rest.length, 0)
        t.equal(challenge!.scheme, 'Bearer')
        const p = challenge!.params
        t.equal(p.error, params.error)
        if (params.realm !== undefined) t.equal(p.realm, params.realm)
        if (params.resourceMetadata !== undefined) t.equal(p.resource_metadata, params.resourceMetadata)
        const scopes = [...new Set((params.scope ?? []).filter((s) => s !== 'offline_access'))]
        t.equal(p.scope, scopes.length > 0 ? scopes.join(' ') : undefined)
        t.match(header, /^Bearer [\x20-\x7E]+$/)
      },
    ),
    { numRuns: 200 },
  )
})
