import {
  audienceMatches,
  authorizationServerMetadataUrls,
  canonicalResource,
  createGate,
  jwksKeySet,
} from '@portcullis/core'
import { isLoopbackHost, resourceUrlSchema, secureUrlProblem } from '@portcullis/core/adapter'
import t from 'tap'

t.test('canonical form: lower-case scheme and host, no default port, no trailing slash', async (t) => {
  const cases: Array<[string, string]> = [
    ['https://a.example', 'https://a.example'],
    ['https://a.example/', 'https://a.example'],
    ['https://A.example:443/', 'https://a.example'],
    ['HTTPS://MCP.EXAMPLE.COM/mcp', 'https://mcp.example.com/mcp'],
    ['https://a.example/mcp/', 'https://a.example/mcp'],
    ['https://a.example/mcp//', 'https://a.example/mcp'],
    ['https://a.example/server/mcp', 'https://a.example/server/mcp'],
    ['https://a.example:8443', 'https://a.example:8443'],
    ['https://a.example:8443/', 'https://a.example:8443'],
    ['https://a.example:0443/x', 'https://a.example/x'],
    ['https://a.example/MCP', 'https://a.example/MCP'],
    ['https://a.example/a/../mcp', 'https://a.example/mcp'],
    ['https://a.example/./mcp/.', 'https://a.example/mcp'],
    ['https://xn--caf-dma.example/', 'https://xn--caf-dma.example'],
    ['https://caf\u00e9.example/', 'https://xn--caf-dma.example'],
    ['https://a.example/caf\u00e9', 'https://a.example/caf%C3%A9'],
    ['https://[2001:DB8::1]:443/mcp', 'https://[2001:db8::1]/mcp'],
    ['https://a.example./mcp', 'https://a.example./mcp'],
  ]
  for (const [input, expected] of cases) t.equal(canonicalResource(input), expected, input)
})

t.test('keeps the query, drops an empty one', async (t) => {
  t.equal(canonicalResource('https://a.example/mcp?tenant=1'), 'https://a.example/mcp?tenant=1')
  t.equal(canonicalResource('https://a.example/mcp/?tenant=1'), 'https://a.example/mcp?tenant=1')
  t.equal(canonicalResource('https://a.example/?x=Y'), 'https://a.example?x=Y')
  t.equal(canonicalResource('https://a.example/mcp?'), 'https://a.example/mcp')
  t.equal(
    canonicalResource('https://a.example/mcp?a=/'),
    'https://a.example/mcp?a=/',
    'a slash in the query stays',
  )
})

t.test('accepts a URL object', async (t) => {
  t.equal(canonicalResource(new URL('https://A.example:443/mcp/')), 'https://a.example/mcp')
})

t.test('is idempotent', async (t) => {
  for (const input of ['https://A.example:443/mcp/', 'http://localhost:3000/', 'https://a.example/?q=1']) {
    const once = canonicalResource(input)
    t.equal(canonicalResource(once), once, input)
  }
})

t.test('rejects a fragment, even an empty one (RFC 9728 §1.2)', async (t) => {
  for (const input of [
    'https://a.example/mcp#x',
    'https://a.example/mcp#',
    'https://a.example#',
    'https://a.example/?q#f',
  ]) {
    t.throws(
      () => canonicalResource(input),
      { name: 'TypeError', message: /must not contain a fragment/ },
      input,
    )
  }
  t.throws(() => canonicalResource(new URL('https://a.example/#')), { message: /fragment/ })
  // Twin: an encoded "#" in the path is not a fragment.
  t.equal(canonicalResource('https://a.example/a%23b'), 'https://a.example/a%23b')
})

t.test('rejects userinfo without echoing the password', async (t) => {
  for (const input of [
    'https://user:hunter2@a.example/mcp',
    'https://user@a.example',
    'https://:hunter2@a.example',
  ]) {
    const error = t.throws(() => canonicalResource(input), {
      name: 'TypeError',
      message: /must not contain credentials/,
    }) as Error
    t.notMatch(error.message, 'hunter2', input)
    t.match(error.message, 'a.example')
  }
})

t.test('rejects schemes other than https, naming the scheme', async (t) => {
  for (const [input, scheme] of [
    ['ftp://a.example/x', 'ftp'],
    ['ws://a.example/mcp', 'ws'],
    ['wss://a.example/mcp', 'wss'],
    ['file:///etc/passwd', 'file'],
    ['urn:example:mcp', 'urn'],
    ['api://notes', 'api'],
    ['javascript:alert(1)', 'javascript'],
  ] as const) {
    t.throws(
      () => canonicalResource(input),
      { name: 'TypeError', message: `must use https (got ${scheme})` },
      input,
    )
  }
})

t.test('http only on loopback hosts', async (t) => {
  const ok: Array<[string, string]> = [
    ['http://localhost:3000/mcp/', 'http://localhost:3000/mcp'],
    ['http://LOCALHOST/', 'http://localhost'],
    ['http://127.0.0.1:8080/mcp', 'http://127.0.0.1:8080/mcp'],
    ['http://127.255.255.254/', 'http://127.255.255.254'],
    ['http://127.1/', 'http://127.0.0.1'],
    ['http://[::1]:3000/mcp', 'http://[::1]:3000/mcp'],
    ['http://[0:0:0:0:0:0:0:1]/', 'http://[::1]'],
    ['http://localhost:80/', 'http://localhost'],
  ]
  for (const [input, expected] of ok) t.equal(canonicalResource(input), expected, input)
  for (const input of [
    'http://a.example/mcp',
    'http://128.0.0.1/',
    'http://10.0.0.1/',
    'http://0.0.0.0/',
    'http://[::2]/',
    'http://[::ffff:127.0.0.1]/',
    'http://localhost.example/',
    'http://evil.localhost.example/',
    'http://127.0.0.1.example/',
  ]) {
    t.throws(
      () => canonicalResource(input),
      { name: 'TypeError', message: /http is allowed only on loopback hosts/ },
      input,
    )
  }
  // https on loopback is fine too.
  t.equal(canonicalResource('https://localhost:8443/'), 'https://localhost:8443')
})

t.test('rejects what is not an absolute URL', async (t) => {
  for (const input of [
    '',
    'a.example',
    '/mcp',
    'https://',
    'https:// a.example',
    '://a',
    'https://a b.example/',
  ]) {
    t.throws(() => canonicalResource(input), { name: 'TypeError', message: /is not an absolute URL/ }, input)
  }
  t.throws(() => canonicalResource(undefined as never), { name: 'TypeError', message: /string or a URL/ })
  t.throws(() => canonicalResource(42 as never), { name: 'TypeError' })
})

t.test('long inputs are cut in messages', async (t) => {
  const error = t.throws(() => canonicalResource(`x${'a'.repeat(100_000)}`)) as Error
  t.ok(error.message.length < 300, `message length ${error.message.length}`)
})

t.test('isLoopbackHost', async (t) => {
  for (const host of [
    'localhost',
    'LocalHost',
    '127.0.0.1',
    '127.0.0.0',
    '127.255.255.255',
    '127.10.20.30',
    '[::1]',
    '::1',
  ]) {
    t.ok(isLoopbackHost(host), host)
  }
  for (const host of [
    '',
    'localhost.',
    'localhost:3000',
    '127.0.0.1:80',
    '127.0.0',
    '127.0.0.256',
    '127.0.0.01',
    '127.0.0.1.',
    '128.0.0.1',
    '1127.0.0.1',
    '[::2]',
    '::',
    '[::]',
    '0.0.0.0',
    'a.localhost',
    '127.0.0.1\n',
  ]) {
    t.notOk(isLoopbackHost(host), JSON.stringify(host))
  }
})

t.test('audienceMatches: a string aud', async (t) => {
  const expected = ['https://mcp.example.com/mcp']
  t.ok(audienceMatches('https://mcp.example.com/mcp', expected))
  t.ok(audienceMatches('https://mcp.example.com/mcp/', expected), 'trailing slash')
  t.ok(audienceMatches('HTTPS://MCP.example.com:443/mcp', expected), 'case and default port')
  t.notOk(audienceMatches('https://mcp.example.com/MCP', expected), 'path case matters')
  t.notOk(audienceMatches('https://mcp.example.com', expected), 'origin is not the path')
  t.notOk(audienceMatches('https://mcp.example.com/mcp/x', expected), 'no prefix match')
  t.notOk(audienceMatches('https://mcp.example.com/mc', expected))
  t.notOk(audienceMatches('https://mcp.example.com.evil/mcp', expected))
  t.notOk(audienceMatches('http://mcp.example.com/mcp', expected), 'scheme matters')
  t.notOk(audienceMatches('https://mcp.example.com/mcp#x', expected), 'a fragment cannot be canonicalised')
  t.notOk(audienceMatches('https://mcp.example.com:8443/mcp', expected), 'port matters')
  t.notOk(audienceMatches('', expected))
})

t.test('audienceMatches: an array aud matches when any value matches', async (t) => {
  const expected = ['https://mcp.example.com/mcp']
  t.ok(audienceMatches(['account', 'https://mcp.example.com/mcp/'], expected))
  t.ok(audienceMatches(['https://mcp.example.com/mcp'], expected))
  t.notOk(audienceMatches(['account', 'https://other.example/mcp'], expected))
  t.notOk(audienceMatches([], expected))
  t.ok(audienceMatches([42, null, {}, 'https://mcp.example.com/mcp'], expected), 'junk entries are skipped')
  t.notOk(audienceMatches([['https://mcp.example.com/mcp']], expected), 'nested arrays do not count')
})

t.test('audienceMatches: non-URL audiences compare exactly', async (t) => {
  t.ok(audienceMatches('account', ['account']))
  t.notOk(audienceMatches('Account', ['account']))
  t.ok(audienceMatches('api://notes', ['api://notes']))
  t.notOk(audienceMatches('api://notes/', ['api://notes']))
  t.ok(
    audienceMatches(['x', '00000000-0000-0000-0000-000000000001'], ['00000000-0000-0000-0000-000000000001']),
  )
  t.ok(audienceMatches('https://a.example/mcp#x', ['https://a.example/mcp#x']), 'exact match still counts')
})

t.test('audienceMatches: any of several expected values', async (t) => {
  const expected = ['https://a.example/mcp', 'api://notes']
  t.ok(audienceMatches('api://notes', expected))
  t.ok(audienceMatches('https://A.example/mcp/', expected))
  t.notOk(audienceMatches('https://b.example/mcp', expected))
})

t.test('audienceMatches: other types and an empty expected list never match', async (t) => {
  for (const aud of [
    undefined,
    null,
    42,
    true,
    {},
    { 0: 'https://a.example' },
    new URL('https://a.example'),
  ]) {
    t.notOk(audienceMatches(aud, ['https://a.example']), String(aud))
  }
  t.notOk(audienceMatches('https://a.example', []))
})

t.test('audienceMatches is cheap enough for the cold verification path', async (t) => {
  const expected = ['https://mcp.example.com/mcp']
  const aud = ['account', 'https://MCP.example.com/mcp/']
  const n = 20_000
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) audienceMatches(aud, expected)
  const perCallUs = Number(process.hrtime.bigint() - started) / 1000 / n
  // Measured at about 2.5 µs (two values, one not a URL); a JWT signature check costs tens of µs, so no memo is needed.
  t.ok(perCallUs < 50, `audienceMatches costs ${perCallUs.toFixed(2)} µs per call`)
})

t.test(
  'secureUrlProblem: https, or plain http on loopback only, for every URL that must be protected',
  async (t) => {
    for (const ok of [
      'https://idp.example.com/jwks',
      'HTTPS://IDP.example.com:8443/x?y=1',
      'http://localhost:8080/jwks',
      'http://127.0.0.1/introspect',
      'http://127.255.0.9:1/',
      'http://[::1]:3000/.well-known/openid-configuration',
    ]) {
      t.equal(secureUrlProblem(ok), undefined, ok)
      t.equal(secureUrlProblem(new URL(ok)), undefined, `${ok} as a URL`)
    }
    for (const [url, problem] of [
      ['http://idp.example.com/jwks', 'must use https (http is allowed only on loopback hosts)'],
      ['http://128.0.0.1/', 'must use https (http is allowed only on loopback hosts)'],
      ['http://localhost.example.com/', 'must use https (http is allowed only on loopback hosts)'],
      ['ftp://idp.example.com/jwks', 'must use https (got ftp)'],
      ['ws://localhost/', 'must use https (got ws)'],
      ['idp.example.com/jwks', 'is not an absolute URL'],
      ['', 'is not an absolute URL'],
    ] as const) {
      t.equal(secureUrlProblem(url), problem, url)
    }
    t.equal(secureUrlProblem(42 as never), 'is not an absolute URL')
  },
)

t.test('the https rule reads the same wherever a URL is checked', async (t) => {
  const plain = 'http://idp.example.com/x'
  t.throws(() => canonicalResource(plain), {
    message: /must use https \(http is allowed only on loopback hosts\)/,
  })
  t.throws(() => jwksKeySet({ jwksUri: plain }), {
    message: /jwksUri must use https \(http is allowed only on loopback hosts\)/,
  })
  t.throws(() => authorizationServerMetadataUrls(plain), {
    message:
      /issuer "http:\/\/idp\.example\.com\/x" must use https \(http is allowed only on loopback hosts\)/,
  })
  t.throws(
    () =>
      createGate({
        resource: 'https://mcp.example.com',
        authorizationServers: [plain],
        verifier: { verifyAccessToken: async () => Promise.reject(new Error('unused')) },
      }),
    {
      message:
        /authorizationServers\.0": "http:\/\/idp\.example\.com\/x" must use https \(http is allowed only/,
    },
  )
  t.doesNotThrow(() => jwksKeySet({ jwksUri: 'http://127.0.0.1:9/jwks' }), 'loopback http is fine')
})

t.test('resourceUrlSchema: canonical form, or an issue naming the problem', async (t) => {
  t.equal(
    resourceUrlSchema.parse('HTTPS://A.example:443/mcp/'),
    canonicalResource('HTTPS://A.example:443/mcp/'),
  )
  const bad = resourceUrlSchema.safeParse('https://a.example/mcp#frag')
  t.equal(bad.success, false, 'a fragment is refused')
  t.match(bad.error?.issues[0]?.message, /fragment/i)
  t.equal(resourceUrlSchema.safeParse(42).success, false, 'a non-string is refused')
})
