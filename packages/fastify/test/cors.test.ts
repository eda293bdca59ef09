import cors from '@fastify/cors'
import portcullis from '@portcullis/fastify'
import { tokenKit } from '@portcullis/test-kit'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { notesApp, notesOptions, stableHeaders } from './fixtures/app.js'

const kit = await tokenKit()
const ORIGIN = 'https://inspector.example'
const ALLOW_HEADERS =
  'Authorization, Content-Type, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name'
const EXPOSE = 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After'

const preflight = (method = 'POST', origin = ORIGIN) => ({
  origin,
  'access-control-request-method': method,
  'access-control-request-headers': 'authorization, content-type, mcp-protocol-version',
})

t.test('a preflight on a protected route is answered, never gated', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'OPTIONS', url: '/notes', headers: preflight() })
  t.equal(response.statusCode, 204)
  t.equal(response.body, '')
  t.same(stableHeaders(response), {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, OPTIONS, HEAD, POST',
    'access-control-allow-headers': ALLOW_HEADERS,
    'access-control-max-age': '7200',
    'content-length': '0',
    connection: 'keep-alive',
  })
})

t.test('a plain OPTIONS request is an ordinary protected request', async (t) => {
  const app = await notesApp(kit)
  t.teardown(() => app.close())
  const anonymous = await app.inject({ method: 'OPTIONS', url: '/notes' })
  t.equal(anonymous.statusCode, 401)
  const token = await kit.mint()
  const allowed = await app.inject({
    method: 'OPTIONS',
    url: '/notes',
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(allowed.statusCode, 204)
  t.equal(allowed.headers.allow, 'GET, OPTIONS, HEAD, POST')
})

t.test('a route that handles OPTIONS itself still gets its preflight answered by the gate', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  app.route({ method: ['GET', 'POST', 'DELETE', 'OPTIONS'], url: '/mcp', handler: async () => 'handled' })
  const response = await app.inject({ method: 'OPTIONS', url: '/mcp', headers: preflight('DELETE') })
  t.equal(response.statusCode, 204)
  t.equal(response.headers['access-control-allow-methods'], 'GET, POST, DELETE, OPTIONS, HEAD')
})

t.test('restricted origins are reflected with Vary: Origin; others get no grant', async (t) => {
  const app = await notesApp(kit, {
    cors: { origin: [ORIGIN], maxAge: 600, exposeHeaders: ['X-Request-Id'] },
  })
  t.teardown(() => app.close())
  const allowed = await app.inject({ method: 'OPTIONS', url: '/notes', headers: preflight('GET') })
  t.equal(allowed.headers['access-control-allow-origin'], ORIGIN)
  t.equal(allowed.headers.vary, 'Origin')
  t.equal(allowed.headers['access-control-max-age'], '600')

  const other = await app.inject({
    method: 'OPTIONS',
    url: '/notes',
    headers: preflight('GET', 'https://evil.example'),
  })
  t.equal(other.statusCode, 204)
  t.equal(other.headers['access-control-allow-origin'], undefined)
  t.equal(other.headers['access-control-allow-headers'], undefined)

  const rejected = await app.inject({ method: 'GET', url: '/notes', headers: { origin: ORIGIN } })
  t.equal(rejected.statusCode, 401)
  t.equal(rejected.headers['access-control-allow-origin'], ORIGIN)
  t.equal(rejected.headers['access-control-expose-headers'], `${EXPOSE}, X-Request-Id`)
  t.equal(rejected.headers.vary, 'Origin')

  const foreign = await app.inject({
    method: 'GET',
    url: '/notes',
    headers: { origin: 'https://evil.example' },
  })
  t.equal(foreign.statusCode, 401)
  t.equal(foreign.headers['access-control-allow-origin'], undefined)
})

t.test('cors: false leaves CORS entirely to the application', async (t) => {
  const app = await notesApp(kit, { cors: false })
  t.teardown(() => app.close())
  const rejected = await app.inject({ method: 'GET', url: '/notes', headers: { origin: ORIGIN } })
  t.equal(rejected.statusCode, 401)
  t.equal(rejected.headers['access-control-allow-origin'], undefined)
  t.equal(rejected.headers['access-control-expose-headers'], undefined)
  const pre = await app.inject({ method: 'OPTIONS', url: '/notes', headers: preflight() })
  t.equal(pre.statusCode, 404, 'no OPTIONS route is added, and the preflight is not gated')
})

t.test(
  'with @fastify/cors registered first: it answers preflights, the gate only adds exposed headers',
  async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(cors, { origin: [ORIGIN], exposedHeaders: ['X-Trace', 'mcp-session-id'] })
    await app.register(portcullis, notesOptions(kit))
    app.post('/mcp', async (request) => request.auth.extra.sub)

    const pre = await app.inject({ method: 'OPTIONS', url: '/mcp', headers: preflight() })
    t.equal(pre.statusCode, 204)
    t.equal(pre.headers['access-control-allow-origin'], ORIGIN)
    t.equal(pre.headers['access-control-allow-headers'], 'authorization, content-type, mcp-protocol-version')
    t.equal(pre.headers['access-control-max-age'], undefined, "@fastify/cors's answer, not the gate's")

    const rejected = await app.inject({ method: 'POST', url: '/mcp', headers: { origin: ORIGIN } })
    t.equal(rejected.statusCode, 401)
    for (const [name, value] of Object.entries(rejected.headers)) {
      t.notOk(Array.isArray(value), `${name} is sent once`)
    }
    t.equal(rejected.headers['access-control-allow-origin'], ORIGIN)
    t.equal(
      rejected.headers['access-control-expose-headers'],
      'X-Trace, mcp-session-id, WWW-Authenticate, Mcp-Protocol-Version, Retry-After',
      'merged without duplicates',
    )
    t.match(rejected.headers['www-authenticate'], /^Bearer /)

    const token = await kit.mint()
    const ok = await app.inject({
      method: 'POST',
      url: '/mcp',
      headers: { origin: ORIGIN, authorization: `Bearer ${token}` },
    })
    t.equal(ok.body, 'alice')
    t.equal(ok.headers['access-control-allow-origin'], ORIGIN)
    t.match(ok.headers['access-control-expose-headers'], 'WWW-Authenticate')

    const foreign = await app.inject({
      method: 'POST',
      url: '/mcp',
      headers: { origin: 'https://evil.example' },
    })
    t.equal(
      foreign.headers['access-control-allow-origin'],
      undefined,
      "@fastify/cors's origin decision stands",
    )

    const metadata = await app.inject({
      method: 'GET',
      url: '/.well-known/oauth-protected-resource/mcp',
      headers: { origin: 'https://evil.example' },
    })
    t.equal(metadata.headers['access-control-allow-origin'], '*', 'metadata is public to every origin')
  },
)

t.test('@fastify/cors at the root and the gate in a child scope compose', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cors, { origin: [ORIGIN] })
  await app.register(async (scope) => {
    await scope.register(portcullis, notesOptions(kit))
    scope.post('/mcp', async () => 'ok')
  })
  const pre = await app.inject({ method: 'OPTIONS', url: '/mcp', headers: preflight() })
  t.equal(pre.statusCode, 204)
  t.equal(pre.headers['access-control-allow-origin'], ORIGIN)
  t.equal(pre.headers['access-control-max-age'], undefined, "@fastify/cors's answer")
  const rejected = await app.inject({ method: 'POST', url: '/mcp', headers: { origin: ORIGIN } })
  t.equal(rejected.statusCode, 401)
  t.equal(
    rejected.headers['access-control-allow-origin'],
    ORIGIN,
    "@fastify/cors's value, not the gate's '*'",
  )
  t.equal(rejected.headers['access-control-expose-headers'], EXPOSE)
  const foreign = await app.inject({
    method: 'POST',
    url: '/mcp',
    headers: { origin: 'https://evil.example' },
  })
  t.equal(foreign.headers['access-control-allow-origin'], undefined)
})

t.test('@fastify/cors registered after the gate in the same scope is refused at startup', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  await app.register(cors)
  await t.rejects(async () => app.ready(), /@fastify\/cors is registered after @portcullis\/fastify/)
})

/** A browser's GET of /notes from ORIGIN, with the token when given. */
const browserGet = (app: FastifyInstance, token?: string) =>
  app.inject({
    method: 'GET',
    url: '/notes',
    headers: { origin: ORIGIN, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  })

t.test(
  '@fastify/cors in a later hook (preHandler): its list is merged again as the answer leaves',
  async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(cors, { origin: [ORIGIN], exposedHeaders: ['X-Trace'], hook: 'preHandler' })
    await app.register(portcullis, notesOptions(kit))
    app.get('/notes', async (request) => request.auth.extra.sub)
    const token = await kit.mint()
    const ok = await browserGet(app, token)
    t.equal(ok.statusCode, 200)
    t.equal(ok.headers['access-control-allow-origin'], ORIGIN)
    // @fastify/cors set `X-Trace` after the gate's list: the gate's names are added back to it.
    t.equal(ok.headers['access-control-expose-headers'], `X-Trace, ${EXPOSE}`)
  },
)

t.test("without another CORS layer, a handler's own exposed list stands on its answer", async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, notesOptions(kit))
  app.get('/notes', async (_request, reply) => {
    reply.header('access-control-expose-headers', 'X-Page')
    return 'listed'
  })
  const token = await kit.mint()
  const ok = await browserGet(app, token)
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['access-control-allow-origin'], '*')
  t.equal(ok.headers['access-control-expose-headers'], 'X-Page', 'what the handler chose')
  // Every answer of the gate itself exposes the challenge.
  const refused = await browserGet(app)
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['access-control-expose-headers'], EXPOSE)
})
