import {
  authorizationServerMetadataUrls,
  createGate,
  discoverAuthorizationServer,
  type FetchFailure,
  IssuerMismatchError,
  jwtVerifier,
  LruCache,
  PortcullisError,
  processDiscoveryCache,
} from '@portcullis/core'
import { loopbackServer, refusedPort, rejectionOf, sendJson, sleep, tokenSigner } from '@portcullis/test-kit'
import t from 'tap'
import type { DiscoveryCacheEntry } from '../src/token/discovery.js'

const reasonOf = async (p: Promise<unknown>) => ((await rejectionOf(p)) as PortcullisError).reason

const freshCache = () => new LruCache<DiscoveryCacheEntry>({ maxEntries: 10 })

/** A metadata server whose documents are set per path; anything else is a 404. */
async function metadataServer(docs: (origin: string) => Record<string, unknown>) {
  let routes: Record<string, unknown> = {}
  const server = await loopbackServer((req, res) => {
    const path = req.url ?? ''
    if (path in routes) {
      const doc = routes[path]
      if (typeof doc === 'function') return doc(req, res)
      return sendJson(res, 200, doc)
    }
    sendJson(res, 404, { error: 'not_found' })
  })
  routes = docs(server.origin)
  return server
}

const doc = (issuer: string, extra: Record<string, unknown> = {}) => ({
  issuer,
  jwks_uri: `${issuer}/jwks`,
  introspection_endpoint: `${issuer}/introspect`,
  token_endpoint: `${issuer}/token`,
  code_challenge_methods_supported: ['S256'],
  ...extra,
})

t.test('metadata URLs follow the MCP probe order', async (t) => {
  t.same(authorizationServerMetadataUrls('https://auth.example.com/tenant1'), [
    'https://auth.example.com/.well-known/oauth-authorization-server/tenant1',
    'https://auth.example.com/.well-known/openid-configuration/tenant1',
    'https://auth.example.com/tenant1/.well-known/openid-configuration',
  ])
  t.same(authorizationServerMetadataUrls('https://auth.example.com'), [
    'https://auth.example.com/.well-known/oauth-authorization-server',
    'https://auth.example.com/.well-known/openid-configuration',
  ])
  t.same(
    authorizationServerMetadataUrls('https://tenant.auth0.com/'),
    authorizationServerMetadataUrls('https://tenant.auth0.com'),
    'a root issuer with a trailing slash has no path',
  )
  // RFC 8414 §3.1: a terminating slash is removed before inserting.
  t.same(authorizationServerMetadataUrls('https://kc.example/realms/r1/'), [
    'https://kc.example/.well-known/oauth-authorization-server/realms/r1',
    'https://kc.example/.well-known/openid-configuration/realms/r1',
    'https://kc.example/realms/r1/.well-known/openid-configuration',
  ])
  t.same(authorizationServerMetadataUrls('http://127.0.0.1:9000/a/b'), [
    'http://127.0.0.1:9000/.well-known/oauth-authorization-server/a/b',
    'http://127.0.0.1:9000/.well-known/openid-configuration/a/b',
    'http://127.0.0.1:9000/a/b/.well-known/openid-configuration',
  ])
})

t.test('an issuer that is not an https URL (or loopback http) is refused', async (t) => {
  const cases: [string, RegExp][] = [
    ['http://auth.example.com', /must use https/],
    ['ftp://auth.example.com', /must use https/],
    ['https://auth.example.com/t?x=1', /query or fragment/],
    ['https://auth.example.com/t#f', /query or fragment/],
    ['https://user:pw@auth.example.com', /credentials/],
    ['auth.example.com', /not an absolute URL/],
    ['', /not an absolute URL/],
  ]
  for (const [issuer, message] of cases) {
    t.throws(() => authorizationServerMetadataUrls(issuer), { name: 'TypeError', message }, issuer)
    await t.rejects(discoverAuthorizationServer(issuer, { cache: freshCache() }), { message }, issuer)
  }
})

t.test('a path issuer served at RFC 8414 path insertion is found first', async (t) => {
  const server = await metadataServer((o) => ({
    '/.well-known/oauth-authorization-server/t1': doc(`${o}/t1`),
  }))
  t.teardown(server.close)
  const issuer = `${server.origin}/t1`
  const found = await discoverAuthorizationServer(issuer, { cache: freshCache() })
  t.equal(found.metadataUrl, `${server.origin}/.well-known/oauth-authorization-server/t1`)
  t.equal(found.metadata.issuer, issuer)
  t.equal(found.metadata.introspection_endpoint, `${issuer}/introspect`)
  t.same(found.metadata.code_challenge_methods_supported, ['S256'])
  t.equal(server.count(), 1, 'nothing else fetched')
})

t.test('OIDC path insertion is tried second', async (t) => {
  const server = await metadataServer((o) => ({ '/.well-known/openid-configuration/t1': doc(`${o}/t1`) }))
  t.teardown(server.close)
  const found = await discoverAuthorizationServer(`${server.origin}/t1`, { cache: freshCache() })
  t.equal(found.metadataUrl, `${server.origin}/.well-known/openid-configuration/t1`)
  t.same(
    server.requests.map((r) => r.url),
    ['/.well-known/oauth-authorization-server/t1', '/.well-known/openid-configuration/t1'],
  )
})

t.test('OIDC path appending (Keycloak before 26.4, Entra, Okta) is tried third', async (t) => {
  const server = await metadataServer((o) => ({
    '/realms/r1/.well-known/openid-configuration': doc(`${o}/realms/r1`),
  }))
  t.teardown(server.close)
  const found = await discoverAuthorizationServer(`${server.origin}/realms/r1`, { cache: freshCache() })
  t.equal(found.metadataUrl, `${server.origin}/realms/r1/.well-known/openid-configuration`)
  t.same(
    server.requests.map((r) => r.url),
    [
      '/.well-known/oauth-authorization-server/realms/r1',
      '/.well-known/openid-configuration/realms/r1',
      '/realms/r1/.well-known/openid-configuration',
    ],
  )
})

t.test('a root issuer: RFC 8414 first, then OpenID configuration', async (t) => {
  const server = await metadataServer((o) => ({
    '/.well-known/openid-configuration': doc(o, { client_id_metadata_document_supported: true }),
  }))
  t.teardown(server.close)
  const found = await discoverAuthorizationServer(server.origin, { cache: freshCache() })
  t.equal(found.metadataUrl, `${server.origin}/.well-known/openid-configuration`)
  t.equal(found.metadata.client_id_metadata_document_supported, true)
  t.same(
    server.requests.map((r) => r.url),
    ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'],
  )
})

t.test('issuer comparison is exact: a trailing slash is a mismatch, explained', async (t) => {
  const server = await metadataServer((o) => ({
    '/.well-known/oauth-authorization-server': doc(`${o}/`),
    '/.well-known/openid-configuration': doc(`${o}/`),
  }))
  t.teardown(server.close)
  const err = await rejectionOf(discoverAuthorizationServer(server.origin, { cache: freshCache() }))
  t.type(err, PortcullisError)
  const e = err as PortcullisError
  t.equal(e.code, 'temporarily_unavailable')
  t.equal(e.reason, 'discovery_failed')
  t.equal(e.status, 503)
  t.ok(e.message.includes(`the document says "${server.origin}/"`), e.message)
  t.ok(e.message.includes(`the configured issuer is "${server.origin}"`))
  t.match(e.message, /differ only by a trailing slash/)
  const causes = (e.cause as AggregateError).errors
  t.equal(causes.length, 2)
  t.ok(causes.every((c) => c instanceof IssuerMismatchError))
  t.equal((causes[0] as IssuerMismatchError).actual, `${server.origin}/`)
  t.equal((causes[0] as IssuerMismatchError).expected, server.origin)

  // The same server is right for the issuer spelled with the slash (Auth0 style).
  const found = await discoverAuthorizationServer(`${server.origin}/`, { cache: freshCache() })
  t.equal(found.metadata.issuer, `${server.origin}/`)
})

t.test('a mismatch at one location does not stop the probe', async (t) => {
  const server = await metadataServer((o) => ({
    '/.well-known/oauth-authorization-server/t1': doc(`${o}/other`),
    '/.well-known/openid-configuration/t1': doc(`${o}/t1`),
  }))
  t.teardown(server.close)
  const found = await discoverAuthorizationServer(`${server.origin}/t1`, { cache: freshCache() })
  t.equal(found.metadataUrl, `${server.origin}/.well-known/openid-configuration/t1`)
})

t.test('when every location fails, the error lists each URL and what it returned', async (t) => {
  const server = await metadataServer(() => ({
    '/.well-known/openid-configuration/t1': (_req: unknown, res: import('node:http').ServerResponse) =>
      res.end('<html>sign in</html>'),
    '/t1/.well-known/openid-configuration': () => {}, // never answers
  }))
  t.teardown(server.close)
  const issuer = `${server.origin}/t1`
  const started = Date.now()
  const err = (await rejectionOf(
    discoverAuthorizationServer(issuer, { cache: freshCache(), fetchTimeoutMs: 200 }),
  )) as PortcullisError
  t.ok(Date.now() - started < 3000, 'bounded in time')
  t.equal(err.reason, 'discovery_failed')
  t.equal(err.retryAfter, 5)
  const [u1, u2, u3] = authorizationServerMetadataUrls(issuer)
  t.ok(err.message.includes(`"${issuer}"`), 'names the issuer')
  t.ok(err.message.includes(`${u1} -> HTTP 404`), err.message)
  t.ok(err.message.includes(`${u2} -> not JSON`), err.message)
  t.ok(err.message.includes(`${u3} -> timeout`), err.message)
  const kinds = (err.cause as AggregateError).errors.map((c) => (c as FetchFailure).kind)
  t.same(kinds, ['http_status', 'malformed', 'timeout'])
})

t.test('an unreachable authorization server fails with every URL listed', async (t) => {
  const port = await refusedPort()
  const issuer = `http://127.0.0.1:${port}`
  const err = (await rejectionOf(
    discoverAuthorizationServer(issuer, { cache: freshCache() }),
  )) as PortcullisError
  t.equal(err.reason, 'discovery_failed')
  for (const url of authorizationServerMetadataUrls(issuer)) {
    t.ok(err.message.includes(`${url} -> unreachable`), url)
  }
})

t.test('junk documents are refused with the reason, never a crash', async (t) => {
  const cases: [string, (o: string) => unknown, RegExp][] = [
    ['array', () => [1, 2], /not JSON \(body is not a JSON object\)/],
    ['no issuer', () => ({ jwks_uri: 'https://x/jwks' }), /no issuer string/],
    ['issuer number', () => ({ issuer: 42 }), /no issuer string/],
    ['jwks_uri number', (o) => doc(o, { jwks_uri: 7 }), /jwks_uri is not a string/],
    ['relative endpoint', (o) => doc(o, { introspection_endpoint: '/introspect' }), /not an absolute URL/],
    [
      'plain http endpoint off loopback',
      (o) => doc(o, { introspection_endpoint: 'http://idp.example.com/introspect' }),
      /introspection_endpoint "http:\/\/idp.example.com\/introspect" must use https/,
    ],
    [
      'methods not strings',
      (o) => doc(o, { code_challenge_methods_supported: ['S256', 1] }),
      /code_challenge_methods_supported is not a list of strings/,
    ],
    [
      'flag not boolean',
      (o) => doc(o, { client_id_metadata_document_supported: 'yes' }),
      /client_id_metadata_document_supported is not a boolean/,
    ],
  ]
  for (const [name, make, message] of cases) {
    const server = await metadataServer((o) => ({
      '/.well-known/oauth-authorization-server': make(o),
    }))
    const err = await rejectionOf(discoverAuthorizationServer(server.origin, { cache: freshCache() }))
    t.type(err, PortcullisError, name)
    t.match((err as Error).message, message, name)
    await server.close()
  }
})

t.test('an oversized document is refused', async (t) => {
  const server = await metadataServer((o) => ({
    '/.well-known/oauth-authorization-server': doc(o, { pad: 'x'.repeat(10_000) }),
  }))
  t.teardown(server.close)
  const err = await rejectionOf(
    discoverAuthorizationServer(server.origin, { cache: freshCache(), maxBytes: 4096 }),
  )
  t.match((err as Error).message, /-> too large/)
})

t.test('results are cached until the TTL, and shared', async (t) => {
  let now = 0
  const cache = new LruCache<DiscoveryCacheEntry>({ maxEntries: 10, now: () => now })
  const server = await metadataServer((o) => ({ '/.well-known/oauth-authorization-server': doc(o) }))
  t.teardown(server.close)
  const a = await discoverAuthorizationServer(server.origin, { cache, ttlMs: 60_000 })
  const b = await discoverAuthorizationServer(server.origin, { cache, ttlMs: 60_000 })
  t.equal(a, b, 'the same object')
  t.equal(server.count(), 1)
  t.ok(Object.isFrozen(a.metadata), 'a cached document cannot be changed by a caller')
  now += 60_000
  await discoverAuthorizationServer(server.origin, { cache, ttlMs: 60_000 })
  t.equal(server.count(), 2, 'fetched again after the TTL')
})

t.test('failures are remembered only briefly', async (t) => {
  let now = 0
  const cache = new LruCache<DiscoveryCacheEntry>({ maxEntries: 10, now: () => now })
  let up = false
  const server = await loopbackServer((req, res) => {
    if (up && req.url === '/.well-known/oauth-authorization-server')
      return sendJson(res, 200, doc(server.origin))
    sendJson(res, 503, {})
  })
  t.teardown(server.close)
  t.equal(
    await reasonOf(discoverAuthorizationServer(server.origin, { cache, failureTtlMs: 5000 })),
    'discovery_failed',
  )
  t.equal(server.count(), 2)
  up = true
  t.equal(
    await reasonOf(discoverAuthorizationServer(server.origin, { cache, failureTtlMs: 5000 })),
    'discovery_failed',
  )
  t.equal(server.count(), 2, 'the failure was answered from the cache')
  now += 5000
  const found = await discoverAuthorizationServer(server.origin, { cache, failureTtlMs: 5000 })
  t.equal(found.metadata.issuer, server.origin)
  t.equal(server.count(), 3)
})

t.test('concurrent discoveries of one issuer make one probe', async (t) => {
  const server = await loopbackServer(async (req, res) => {
    await sleep(50)
    if (req.url === '/.well-known/openid-configuration/t1')
      return sendJson(res, 200, doc(`${server.origin}/t1`))
    sendJson(res, 404, {})
  })
  t.teardown(server.close)
  const cache = freshCache()
  const results = await Promise.all(
    Array.from({ length: 25 }, () => discoverAuthorizationServer(`${server.origin}/t1`, { cache })),
  )
  t.ok(results.every((r) => r === results[0]))
  t.equal(server.count('/.well-known/oauth-authorization-server/t1'), 1)
  t.equal(server.count('/.well-known/openid-configuration/t1'), 1)
})

t.test('options are validated and the error names the option', async (t) => {
  await t.rejects(discoverAuthorizationServer('https://a.example', { fetchTimeoutMs: -1 }), {
    name: 'TypeError',
    message: /discoverAuthorizationServer: option "fetchTimeoutMs"/,
  })
  await t.rejects(discoverAuthorizationServer('https://a.example', { cache: 5 as never }), {
    message: /option "cache": must be a cache store/,
  })
  await t.rejects(discoverAuthorizationServer('https://a.example', { timeout: 5 } as never), {
    message: /Unrecognized key: "timeout"/,
  })
})

t.test(
  'separate discovery caches share neither results nor probes; the default is process-wide',
  async (t) => {
    const server = await loopbackServer(async (req, res) => {
      await sleep(30)
      if (req.url === '/.well-known/oauth-authorization-server') return sendJson(res, 200, doc(server.origin))
      sendJson(res, 404, {})
    })
    t.teardown(server.close)
    const a = freshCache()
    const b = freshCache()
    const [fromA, fromB] = await Promise.all([
      discoverAuthorizationServer(server.origin, { cache: a }),
      discoverAuthorizationServer(server.origin, { cache: b }),
    ])
    t.not(fromA, fromB, 'each cache probed for itself')
    t.equal(server.count('/.well-known/oauth-authorization-server'), 2)
    t.equal(a.get(server.origin)?.ok, true)
    t.equal(processDiscoveryCache.get(server.origin), undefined, 'the process-wide cache was not touched')
    await discoverAuthorizationServer(server.origin)
    t.equal(processDiscoveryCache.get(server.origin)?.ok, true, 'no cache given: the process-wide one')
  },
)

t.test('two gates whose verifiers have their own discovery caches discover separately', async (t) => {
  const signer = await tokenSigner({ kid: 'k1' })
  const server = await loopbackServer((req, res) => {
    if (req.url === '/.well-known/oauth-authorization-server')
      return sendJson(res, 200, { issuer: server.origin, jwks_uri: `${server.origin}/jwks` })
    if (req.url === '/jwks') return sendJson(res, 200, { keys: [signer.publicJwk] })
    sendJson(res, 404, {})
  })
  t.teardown(server.close)
  const resource = 'https://mcp.example.com/mcp'
  const gateWith = (cache: ReturnType<typeof freshCache>) =>
    createGate({
      resource,
      authorizationServers: [server.origin],
      verifier: jwtVerifier({ issuer: server.origin, audience: resource, discovery: { cache } }),
    })
  const shared = freshCache()
  const gates = [gateWith(shared), gateWith(freshCache()), gateWith(shared)]
  const token = await signer.mint({ iss: server.origin, aud: resource, sub: 'alice', client_id: 'app' })
  for (const gate of gates) {
    const outcome = await gate.authenticate({ authorization: `Bearer ${token}` })
    t.equal(outcome.ok, true)
  }
  t.equal(server.count('/.well-known/oauth-authorization-server'), 2, 'the third gate reused the first cache')
})
