import { parseChallenges } from '@portcullis/core'
import portcullis from '@portcullis/fastify'
import { METADATA_URL, tokenKit } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t from 'tap'
import { notesApp, notesOptions, stableHeaders } from './fixtures/app.js'

const kit = await tokenKit()

const challengeParams = (value: unknown) => parseChallenges(String(value))[0]?.params

t.test('route config.scopes: 403 insufficient_scope naming the minimal missing set', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const token = await kit.mint({ scope: 'notes:read' })
  const response = await app.inject({
    method: 'GET',
    url: '/reports',
    headers: { authorization: `Bearer ${token}` },
  })
  const body = {
    error: 'insufficient_scope',
    error_description: 'This operation requires the scope: reports:read',
  }
  t.equal(response.statusCode, 403)
  t.same(stableHeaders(response), {
    vary: 'Origin',
    'cache-control': 'no-store',
    'content-type': 'application/json; charset=utf-8',
    'www-authenticate': `Bearer error="insufficient_scope", error_description="${body.error_description}", scope="reports:read", resource_metadata="${METADATA_URL}"`,
    'content-length': String(JSON.stringify(body).length),
    connection: 'keep-alive',
  })
  t.same(response.json(), body)
})

t.test('implication: a broader scope satisfies a narrower requirement', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const admin = await kit.mint({ scope: 'notes:admin' })
  const post = await app.inject({
    method: 'POST',
    url: '/notes',
    headers: { authorization: `Bearer ${admin}` },
  })
  t.equal(post.statusCode, 200, 'notes:admin implies notes:write')
  t.same(post.json(), { created: 'alice' })

  const reader = await kit.mint({ scope: 'notes:read' })
  const denied = await app.inject({
    method: 'POST',
    url: '/notes',
    headers: { authorization: `Bearer ${reader}` },
  })
  t.equal(denied.statusCode, 403)
  t.equal(challengeParams(denied.headers['www-authenticate'])?.scope, 'notes:write')
})

t.test('one challenge names every missing scope, minus those implied by another missing one', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  app.get('/export', { config: { scopes: ['notes:read', 'notes:write', 'reports:read'] } }, async () => 'ok')
  const token = await kit.mint({ scope: 'profile' })
  const response = await app.inject({
    method: 'GET',
    url: '/export',
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(response.statusCode, 403)
  t.equal(challengeParams(response.headers['www-authenticate'])?.scope, 'notes:write reports:read')
})

t.test('anyOf and allOf requirements', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  app.get('/search', { config: { scopes: { anyOf: ['files:read', 'notes:read'] } } }, async () => 'found')
  app.get('/sync', { config: { scopes: { allOf: ['files:read', 'notes:read'] } } }, async () => 'synced')
  const notes = await kit.mint({ scope: 'notes:read' })
  const files = await kit.mint({ scope: 'files:read' })
  const none = await kit.mint({ scope: 'profile' })
  const get = (url: string, token: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })
  t.equal((await get('/search', notes)).statusCode, 200)
  t.equal((await get('/search', files)).statusCode, 200)
  const denied = await get('/search', none)
  t.equal(denied.statusCode, 403)
  t.equal(challengeParams(denied.headers['www-authenticate'])?.scope, 'files:read')
  t.match(denied.json().error_description, 'one of the scopes: files:read notes:read')
  t.equal((await get('/sync', notes)).statusCode, 403)
  t.equal(challengeParams((await get('/sync', notes)).headers['www-authenticate'])?.scope, 'files:read')
})

t.test('requireScopes decorator', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  app.delete('/notes/:id', { preHandler: app.requireScopes('notes:write') }, async () => 'deleted')
  app.get(
    '/either',
    { preHandler: app.requireScopes({ anyOf: ['files:read', 'notes:admin'] }) },
    async () => 'ok',
  )
  app.get('/both', { preHandler: app.requireScopes(['notes:read', 'files:read']) }, async () => 'ok')
  const admin = await kit.mint({ scope: 'notes:admin' })
  const reader = await kit.mint({ scope: 'notes:read' })
  const call = (method: 'GET' | 'DELETE', url: string, token: string) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${token}` } })

  t.equal((await call('DELETE', '/notes/1', admin)).body, 'deleted')
  const denied = await call('DELETE', '/notes/1', reader)
  t.equal(denied.statusCode, 403)
  t.same(challengeParams(denied.headers['www-authenticate']), {
    error: 'insufficient_scope',
    error_description: 'This operation requires the scope: notes:write',
    scope: 'notes:write',
    resource_metadata: METADATA_URL,
  })
  t.equal(denied.headers['cache-control'], 'no-store')
  t.equal((await call('GET', '/either', admin)).statusCode, 200)
  t.equal((await call('GET', '/either', reader)).statusCode, 403)
  t.equal(
    challengeParams((await call('GET', '/both', reader)).headers['www-authenticate'])?.scope,
    'files:read',
  )

  t.throws(
    () => app.requireScopes('bad scope'),
    /requireScopes: option "0": "bad scope" is not a valid scope/,
  )
  t.throws(() => app.requireScopes({ anyOf: [] }), /anyOf needs at least one scope/)
})

t.test('requireScopes on a public route authenticates instead of letting the request through', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  app.get(
    '/public-but-guarded',
    { config: { public: true }, preHandler: app.requireScopes('notes:read') },
    async (r) => r.auth.extra.sub,
  )
  const none = await app.inject({ method: 'GET', url: '/public-but-guarded' })
  t.equal(none.statusCode, 401)
  t.match(none.headers['www-authenticate'], /^Bearer scope="notes:read", resource_metadata=/)
  const token = await kit.mint()
  const ok = await app.inject({
    method: 'GET',
    url: '/public-but-guarded',
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(ok.body, 'alice')
})

t.test('opt-out routes are public and have request.auth undefined', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'GET', url: '/health' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { ok: true, auth: 'undefined' })
  t.equal(response.headers['access-control-expose-headers'], undefined, 'not a protected reply')
  t.equal(response.headers['www-authenticate'], undefined)
})

t.test("routes: 'declared' protects only routes that ask for it", async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit, { routes: 'declared' }))
  app.get('/', async () => 'home')
  app.get('/me', { config: { protect: true } }, async (r) => r.auth.extra.sub)
  app.get('/admin', { config: { scopes: ['notes:admin'] } }, async () => 'admin')
  t.equal((await app.inject('/')).body, 'home')
  t.equal((await app.inject('/me')).statusCode, 401)
  t.equal((await app.inject('/admin')).statusCode, 401)
  const token = await kit.mint()
  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.body, 'alice')
  const admin = await app.inject({ url: '/admin', headers: { authorization: `Bearer ${token}` } })
  t.equal(admin.statusCode, 403)
})

t.test('route options are checked when the route is added', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  t.throws(
    () => app.get('/a', { config: { scopes: 'notes:read' as never } }, async () => 'x'),
    /route GET \/a config\.scopes/,
  )
  t.throws(
    () => app.get('/b', { config: { scopes: ['has space'] } }, async () => 'x'),
    /"has space" is not a valid scope/,
  )
  t.throws(
    () => app.get('/c', { config: { public: true, scopes: ['notes:read'] } }, async () => 'x'),
    /config\.scopes on a public route/,
  )
  t.throws(
    () => app.get('/d', { config: { public: 'no' as never } }, async () => 'x'),
    /config\.public must be a boolean/,
  )
  t.throws(
    () => app.get('/e', { config: { auth: false } as never }, async () => 'x'),
    /config\.auth is now config\.public/,
    'the old name is refused with the new one, never silently ignored',
  )
})

t.test('HEAD routes made from GET routes are protected too', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'HEAD', url: '/reports' })
  t.equal(response.statusCode, 401)
  t.match(response.headers['www-authenticate'], /^Bearer /)
})

t.test('unknown routes answer 404, not a challenge', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(response.statusCode, 404)
  t.equal(response.headers['www-authenticate'], undefined)
})

t.test('a route added before the plugin in the same scope is still protected', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/early', { config: { scopes: ['reports:read'] } }, async (request) => request.auth.extra.sub)
  await app.register(portcullis, notesOptions(kit))
  const anonymous = await app.inject({ method: 'GET', url: '/early' })
  t.equal(anonymous.statusCode, 401)
  const reader = await kit.mint({ scope: 'notes:read' })
  const denied = await app.inject({
    method: 'GET',
    url: '/early',
    headers: { authorization: `Bearer ${reader}` },
  })
  t.equal(denied.statusCode, 403, 'its config.scopes apply')
  const reporter = await kit.mint({ scope: 'reports:read' })
  const allowed = await app.inject({
    method: 'GET',
    url: '/early',
    headers: { authorization: `Bearer ${reporter}` },
  })
  t.equal(allowed.statusCode, 200)
  t.equal(allowed.body, 'alice')
})

t.test('a repeated token (a cache hit) gets the same checks and headers as its first request', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const reader = await kit.mint({ scope: 'notes:read' })
  // A browser's requests (with Origin), then the same token without Origin: each kind gets its
  // own CORS headers on every hit, whatever the first request was.
  const browser = { authorization: `Bearer ${reader}`, origin: 'https://inspector.example' }
  for (let i = 0; i < 3; i++) {
    const allowed = await app.inject({ method: 'GET', url: '/notes', headers: browser })
    t.equal(allowed.statusCode, 200, `request ${i + 1}`)
    t.same(allowed.json(), { sub: 'alice', scopes: ['notes:read'] })
    t.equal(allowed.headers['access-control-allow-origin'], '*')
    t.equal(
      allowed.headers['access-control-expose-headers'],
      'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After',
    )
    const denied = await app.inject({ method: 'GET', url: '/reports', headers: browser })
    t.equal(denied.statusCode, 403, `request ${i + 1}: the route's scopes are checked on every hit`)
    t.equal(challengeParams(denied.headers['www-authenticate'])?.scope, 'reports:read')
    t.equal(denied.headers['access-control-allow-origin'], '*', 'the step-up challenge is readable')
    t.match(denied.headers['access-control-expose-headers'], /WWW-Authenticate/)
  }
  const plain = await app.inject({
    method: 'GET',
    url: '/notes',
    headers: { authorization: `Bearer ${reader}` },
  })
  t.equal(plain.statusCode, 200)
  t.equal(plain.headers['access-control-allow-origin'], undefined, 'no Origin: not a CORS request')
  t.equal(plain.headers['access-control-expose-headers'], undefined)
  t.equal(plain.headers.vary, 'Origin')
})

t.test('scope implications with a "__proto__" key reach the gate intact', async (t) => {
  const app = await notesApp(kit, {
    scopes: { implies: JSON.parse('{"__proto__":["reports:read"]}') },
  })
  t.teardown(() => app.close())
  const token = await kit.mint({ scope: '__proto__' })
  const response = await app.inject({
    method: 'GET',
    url: '/reports',
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(response.statusCode, 200, '__proto__ implies reports:read')
})
