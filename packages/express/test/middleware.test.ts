import { createGate, jwtVerifier, type RejectionLog, type TokenVerifier } from '@portcullis/core'
import { portcullis, protect, requireScopes, verifiedAuth } from '@portcullis/express'
import { ISSUER, METADATA_URL, RESOURCE, tokenKit } from '@portcullis/test-kit'
import cors from 'cors'
import express, { type ErrorRequestHandler } from 'express'
import t from 'tap'
import { listen, notesOptions } from './fixtures/app.js'

// What the Express middleware does beyond the request/response matrix (test/matrix): opting routes
// out and in, several resources, misconfiguration, reporting, other CORS layers, preflight methods.

const kit = await tokenKit()
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const CHALLENGE = `Bearer scope="notes:read", resource_metadata="${METADATA_URL}"`

/** An error handler that answers the error's message, so tests can read what `next(error)` carried. */
const errorMessage: ErrorRequestHandler = (error, _req, res, _next) => {
  res.status(500).json({ message: (error as Error).message })
}

t.test('public: exact paths, regular expressions, or a function of the request', async (t) => {
  const app = express()
  app.use(portcullis(notesOptions(kit, { public: ['/health', /^\/docs\//] })))
  app.get(['/health', '/docs/:page', '/notes'], (req, res) => res.json({ auth: req.auth ?? null }))
  const server = await listen(app)
  t.teardown(server.close)

  const health = await server.request('GET', '/health')
  t.equal(health.status, 200)
  t.same(health.json(), { auth: null }, 'req.auth stays undefined')
  t.equal(health.headers['www-authenticate'], undefined)
  t.equal(health.headers['access-control-expose-headers'], undefined, 'not a protected answer')
  t.equal((await server.request('GET', '/health?probe=1')).status, 200, 'the query is not part of the path')
  t.equal((await server.request('GET', '/docs/intro')).status, 200)
  t.equal((await server.request('GET', '/health/')).status, 401, 'exact: a trailing slash is another path')
  t.equal((await server.request('GET', '/notes')).status, 401)

  const byFunction = express()
  byFunction.use(
    portcullis(notesOptions(kit, { public: (req) => req.method === 'GET' && req.path === '/open' })),
  )
  byFunction.all('/open', (_req, res) => res.send('open'))
  const other = await listen(byFunction)
  t.teardown(other.close)
  t.equal((await other.request('GET', '/open')).body, 'open')
  t.equal((await other.request('POST', '/open')).status, 401)
})

t.test("routes: 'declared' gates only routes with protect() or requireScopes()", async (t) => {
  const app = express()
  app.use(portcullis(notesOptions(kit, { routes: 'declared' })))
  app.get('/', (_req, res) => res.send('home'))
  app.get('/me', protect(), (req, res) => res.send(verifiedAuth(req).extra.sub))
  app.get('/admin', requireScopes('notes:admin'), (_req, res) => res.send('admin'))
  const server = await listen(app)
  t.teardown(server.close)

  t.equal((await server.request('GET', '/')).body, 'home')
  const anonymous = await server.request('GET', '/me', { origin: 'https://inspector.example' })
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers['www-authenticate'], CHALLENGE)
  t.equal(anonymous.headers['access-control-allow-origin'], '*', 'a guard sends the gate CORS headers too')
  t.match(anonymous.headers['access-control-expose-headers'], /WWW-Authenticate/)
  const notBrowser = await server.request('GET', '/me')
  t.equal(notBrowser.status, 401)
  t.equal(notBrowser.headers['access-control-allow-origin'], undefined, 'no Origin: not a CORS request')
  t.equal(notBrowser.headers.vary, 'Origin')
  const token = await kit.mint()
  t.equal((await server.request('GET', '/me', bearer(token))).body, 'alice')
  const admin = await server.request('GET', '/admin', bearer(token))
  t.equal(admin.status, 403)
  t.match(admin.headers['www-authenticate'], /error="insufficient_scope".*scope="notes:admin"/)
  t.equal((await server.request('GET', '/.well-known/oauth-protected-resource/mcp')).status, 200)
})

t.test(
  'the metadata document is served at its path in every form Express dispatches on it, and nowhere else',
  async (t) => {
    const app = express()
    app.use(portcullis(notesOptions(kit)))
    app.get('/mcp', (_req, res) => res.send('reached'))
    const server = await listen(app)
    t.teardown(server.close)
    const path = '/.well-known/oauth-protected-resource/mcp'
    for (const target of [path, `${path}?x=1`, `${server.url}${path}`]) {
      const answer = await server.request('GET', target)
      t.equal(answer.status, 200, `${target}: the document`)
      t.equal(answer.json().resource, 'https://mcp.example.com/mcp')
    }
    // Not the metadata path: gated like any route (Express routes on the raw path, so neither does).
    for (const target of [`/mcp?next=${path}`, '/%2Ewell-known/oauth-protected-resource/mcp', `${path}/`]) {
      const answer = await server.request('GET', target)
      t.equal(answer.status, 401, `${target}: gated`)
      t.equal(answer.body.includes('authorization_servers'), false)
    }
  },
)

t.test('requireScopes on a public path authenticates instead of letting the request through', async (t) => {
  const app = express()
  app.use(portcullis(notesOptions(kit, { public: ['/guarded'] })))
  app.get('/guarded', requireScopes('notes:read'), (req, res) => res.send(verifiedAuth(req).extra.sub))
  const server = await listen(app)
  t.teardown(server.close)
  const none = await server.request('GET', '/guarded')
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], CHALLENGE)
  t.equal((await server.request('GET', '/guarded', bearer(await kit.mint()))).body, 'alice')
})

t.test('requireScopes: names, anyOf and allOf, checked when the guard is made', async (t) => {
  const app = express()
  app.use(portcullis(notesOptions(kit)))
  app.get('/either', requireScopes({ anyOf: ['files:read', 'notes:admin'] }), (_req, res) =>
    res.send('either'),
  )
  app.get('/both', requireScopes({ allOf: ['notes:read', 'files:read'] }), (_req, res) => res.send('both'))
  app.delete('/notes/:id', requireScopes('notes:write'), (_req, res) => res.send('deleted'))
  const server = await listen(app)
  t.teardown(server.close)
  const admin = bearer(await kit.mint({ scope: 'notes:admin' }))
  const reader = bearer(await kit.mint({ scope: 'notes:read' }))
  t.equal((await server.request('GET', '/either', admin)).body, 'either')
  t.equal((await server.request('GET', '/either', reader)).status, 403)
  t.match((await server.request('GET', '/both', reader)).headers['www-authenticate'], /scope="files:read"/)
  t.equal(
    (await server.request('DELETE', '/notes/1', admin)).body,
    'deleted',
    'notes:admin implies notes:write',
  )

  t.throws(() => requireScopes('bad scope'), /requireScopes: option "0": "bad scope" is not a valid scope/)
  t.throws(() => requireScopes({ anyOf: [] }), /anyOf needs at least one scope/)
})

t.test('a request passes one verification, however many guards it meets', async (t) => {
  let verifications = 0
  const jwt = jwtVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    keys: [kit.publicJwk],
  })
  const counting: TokenVerifier = {
    verifyAccessToken: (token) => {
      verifications++
      return jwt.verifyAccessToken(token)
    },
  }
  const auth = portcullis(notesOptions(kit, { verifier: counting }))
  const app = express()
  app.use(auth)
  app.get('/x', auth.protect(), protect(), requireScopes('notes:read'), (_req, res) => res.send('ok'))
  const server = await listen(app)
  t.teardown(server.close)
  t.equal((await server.request('GET', '/x', bearer(await kit.mint()))).body, 'ok')
  t.equal(verifications, 1)
})

t.test('mounted under a path: an error that says how to serve the metadata', async (t) => {
  const app = express()
  app.use('/api', portcullis(notesOptions(kit)))
  app.get('/api/notes', (_req, res) => res.send('notes'))
  app.use(errorMessage)
  const server = await listen(app)
  t.teardown(server.close)
  const answer = await server.request('GET', '/api/notes', bearer(await kit.mint()))
  t.equal(answer.status, 500)
  t.match(
    answer.json().message,
    /mounted under "\/api".*metadataRoutes: false and mount app\.use\(auth\.metadata\)/,
  )
})

t.test('metadataRoutes: false under a path, with auth.metadata at the root', async (t) => {
  const auth = portcullis(notesOptions(kit, { metadataRoutes: false }))
  const app = express()
  app.use(auth.metadata)
  app.use('/api', auth)
  app.get('/api/notes', (req, res) => res.send(verifiedAuth(req).extra.sub))
  app.get('/open', (_req, res) => res.send('open'))
  const server = await listen(app)
  t.teardown(server.close)
  const metadata = await server.request('GET', '/.well-known/oauth-protected-resource/mcp')
  t.equal(metadata.status, 200)
  t.equal(metadata.json().resource, 'https://mcp.example.com/mcp')
  t.equal((await server.request('GET', '/api/notes')).status, 401)
  t.equal((await server.request('GET', '/api/notes', bearer(await kit.mint()))).body, 'alice')
  t.equal((await server.request('GET', '/open')).body, 'open', 'outside the mount path nothing is gated')
})

t.test('two resources in one app: bound guards, each with its own gate and document', async (t) => {
  const A = 'https://mcp.example.com/a/mcp'
  const B = 'https://mcp.example.com/b/mcp'
  const optionsFor = (resource: string) =>
    notesOptions(kit, {
      resource,
      verifier: jwtVerifier({ issuer: ISSUER, audience: resource, keys: [kit.publicJwk] }),
      routes: 'declared',
    })
  const authA = portcullis(optionsFor(A))
  const authB = portcullis(optionsFor(B))
  const app = express()
  app.use(authA, authB)
  app.post('/a/mcp', authA.protect(), (req, res) => res.send(verifiedAuth(req).resource.href))
  app.post('/b/mcp', authB.requireScopes('notes:read'), (req, res) =>
    res.send(verifiedAuth(req).resource.href),
  )
  app.post('/ambiguous', protect(), (_req, res) => res.send('?'))
  app.use(errorMessage)
  const server = await listen(app)
  t.teardown(server.close)

  const forA = bearer(await kit.mint({ aud: A }))
  const forB = bearer(await kit.mint({ aud: B }))
  t.equal((await server.request('POST', '/a/mcp', forA)).body, A)
  t.equal((await server.request('POST', '/b/mcp', forB)).body, B)
  const crossed = await server.request('POST', '/a/mcp', forB)
  t.equal(crossed.status, 401, 'a token for B is refused by A')
  t.match(crossed.headers['www-authenticate'], /error="invalid_token"/)
  t.match(
    (await server.request('POST', '/b/mcp')).headers['www-authenticate'],
    'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/b/mcp"',
  )
  for (const path of ['/a/mcp', '/b/mcp']) {
    const document = await server.request('GET', `/.well-known/oauth-protected-resource${path}`)
    t.equal(document.json().resource, `https://mcp.example.com${path}`)
  }
  const ambiguous = await server.request('POST', '/ambiguous', forA)
  t.equal(ambiguous.status, 500)
  t.match(ambiguous.json().message, /went through 2 portcullis\(\) middlewares; use the bound guard/)
})

t.test('a guard with no portcullis middleware before it fails closed with a clear error', async (t) => {
  const app = express()
  app.get('/x', requireScopes('notes:read'), (_req, res) => res.send('reached'))
  app.use(errorMessage)
  const server = await listen(app)
  t.teardown(server.close)
  const answer = await server.request('GET', '/x', bearer(await kit.mint()))
  t.equal(answer.status, 500)
  t.match(answer.json().message, /no portcullis\(\) middleware covers/)
})

t.test('a shared gate: portcullis({ gate }) answers like the gate it is given', async (t) => {
  const { resource, authorizationServers, verifier, scopes } = notesOptions(kit) as never
  const gate = createGate({ resource, authorizationServers, verifier, scopes })
  const auth = portcullis({ gate, public: ['/health'] })
  t.equal(auth.gate, gate)
  const app = express()
  app.use(auth)
  app.get('/notes', (req, res) => res.send(verifiedAuth(req).extra.sub))
  const server = await listen(app)
  t.teardown(server.close)
  t.equal((await server.request('GET', '/notes')).headers['www-authenticate'], CHALLENGE)
  t.throws(
    () => portcullis({ gate, resource: 'https://x.example' } as never),
    /@portcullis\/express: .*resource/,
  )
  t.throws(() => portcullis({ gate: {} as never }), /option "gate": must be a gate made by createGate\(\)/)
})

t.test('options are checked at creation, naming the option', async (t) => {
  t.throws(
    () => portcullis(notesOptions(kit, { routes: 'some' as never })),
    /@portcullis\/express: option "routes"/,
  )
  t.throws(
    () => portcullis(notesOptions(kit, { public: ['health'] })),
    /option "public.0": a public path starts with \//,
  )
  t.throws(() => portcullis(notesOptions(kit, { public: 'x' as never })), /option "public"/)
  t.throws(
    () => portcullis(notesOptions(kit, { onRejection: 1 as never })),
    /option "onRejection": must be a function/,
  )
  t.throws(() => portcullis(notesOptions(kit, { prefix: '/x' } as never)), /Unrecognized key: "prefix"/)
})

t.test(
  'onRejection hears every rejection, never the token; a failing listener changes nothing',
  async (t) => {
    const events: RejectionLog[] = []
    const app = express()
    app.use(portcullis(notesOptions(kit, { onRejection: (event) => events.push(event) })))
    app.get('/reports', requireScopes('reports:read'), (_req, res) => res.send('reports'))
    const server = await listen(app)
    t.teardown(server.close)

    await server.request('GET', '/reports')
    const forged = await kit.mint({}, { forged: true })
    await server.request('GET', '/reports', bearer(forged))
    const reader = await kit.mint()
    await server.request('GET', '/reports', bearer(reader))
    t.same(
      events.map((event) => [event.severity, event.fields.reason, event.fields.status]),
      [
        ['rejection', 'credentials_missing', 401],
        ['rejection', 'signature_invalid', 401],
        ['rejection', 'scope_insufficient', 403],
      ],
    )
    t.same(events[2]?.fields.missingScopes, ['reports:read'])
    t.type(events[1]?.fields.fingerprint, 'string')
    const logged = JSON.stringify(events)
    t.notOk(logged.includes(forged) || logged.includes(reader), 'no token in any event')

    const throwing = express()
    throwing.use(
      portcullis(
        notesOptions(kit, {
          onRejection: () => {
            throw new Error('listener bug')
          },
        }),
      ),
    )
    throwing.get('/notes', (_req, res) => res.send('notes'))
    const other = await listen(throwing)
    t.teardown(other.close)
    t.equal((await other.request('GET', '/notes')).status, 401)
  },
)

t.test(
  'by default only unexpected verifier failures are reported, to console.error, token scrubbed',
  async (t) => {
    const printed = t.capture(console, 'error')
    const app = express()
    app.use(
      portcullis(
        notesOptions(kit, {
          verifier: {
            verifyAccessToken: async (token) => {
              throw new Error(`lookup failed for ${token}`)
            },
          },
        }),
      ),
    )
    app.get('/notes', (_req, res) => res.send('notes'))
    const server = await listen(app)
    t.teardown(server.close)
    await server.request('GET', '/notes')
    t.equal(printed().length, 0, 'an ordinary rejection is not printed')
    const token = await kit.mint()
    t.equal((await server.request('GET', '/notes', bearer(token))).status, 503)
    const calls = printed()
    t.equal(calls.length, 1)
    t.notOk(JSON.stringify(calls).includes(token))
    t.match(JSON.stringify(calls), /lookup failed for \[token /)
  },
)

t.test(
  'the cors package mounted first: it answers preflights; the gate adds WWW-Authenticate to the exposed headers',
  async (t) => {
    const ORIGIN = 'https://inspector.example'
    const app = express()
    app.use(cors({ origin: [ORIGIN], exposedHeaders: ['X-Trace', 'mcp-session-id'] }))
    app.use(portcullis(notesOptions(kit)))
    app.post('/mcp', (req, res) => res.send(verifiedAuth(req).extra.sub))
    const server = await listen(app)
    t.teardown(server.close)

    const pre = await server.request('OPTIONS', '/mcp', {
      origin: ORIGIN,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    })
    t.equal(pre.status, 204)
    t.equal(pre.headers['access-control-allow-origin'], ORIGIN)
    t.equal(pre.headers['access-control-max-age'], undefined, "the cors package's answer, not the gate's")

    const rejected = await server.request('POST', '/mcp', { origin: ORIGIN })
    t.equal(rejected.status, 401)
    t.equal(rejected.headers['access-control-allow-origin'], ORIGIN)
    t.equal(
      rejected.headers['access-control-expose-headers'],
      'X-Trace, mcp-session-id, WWW-Authenticate, Mcp-Protocol-Version, Retry-After',
      'merged without duplicates',
    )
    const foreign = await server.request('POST', '/mcp', { origin: 'https://evil.example' })
    t.equal(
      foreign.headers['access-control-allow-origin'],
      undefined,
      "the cors package's origin decision stands",
    )
    t.equal(
      foreign.headers['access-control-expose-headers'],
      'X-Trace,mcp-session-id',
      'no grant: the gate adds nothing to what the cors package sends',
    )
    const ok = await server.request('POST', '/mcp', { origin: ORIGIN, ...bearer(await kit.mint()) })
    t.equal(ok.body, 'alice')
  },
)

t.test("preflights allow the methods of the app's routes at the path", async (t) => {
  const app = express()
  app.use(portcullis(notesOptions(kit)))
  const api = express.Router()
  api
    .route('/items')
    .get((_req, res) => res.send('items'))
    .post((_req, res) => res.send('added'))
  api.delete('/items/:id', (_req, res) => res.send('deleted'))
  app.use('/api', api)
  app.all('/anything', (_req, res) => res.send('any'))
  const server = await listen(app)
  t.teardown(server.close)
  const allowed = async (path: string) =>
    (
      await server.request('OPTIONS', path, {
        origin: 'https://inspector.example',
        'access-control-request-method': 'DELETE',
      })
    ).headers['access-control-allow-methods']
  t.equal(await allowed('/api/items'), 'GET, POST, OPTIONS, HEAD', 'a route of a nested router')
  t.equal(await allowed('/api/items/7'), 'DELETE, OPTIONS', 'a route with a parameter')
  t.equal(await allowed('/anything'), 'GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS', 'app.all()')
  t.equal(
    await allowed('/nowhere'),
    'GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS',
    'no route: the usual methods',
  )
})

t.test('a plain OPTIONS request (no preflight) and an unknown path are gated like any request', async (t) => {
  const app = express()
  app.use(portcullis(notesOptions(kit)))
  app.get('/notes', (_req, res) => res.send('notes'))
  const server = await listen(app)
  t.teardown(server.close)
  t.equal((await server.request('OPTIONS', '/notes')).status, 401)
  // A middleware cannot know which paths exist: every path it sees is protected (Fastify: 404).
  const unknown = await server.request('GET', '/nope')
  t.equal(unknown.status, 401)
  t.equal((await server.request('GET', '/nope', bearer(await kit.mint()))).status, 404)
})

t.test('key set outages are reported: to onKeySetEvent, or printed by default', async (t) => {
  const { createServer } = await import('node:net')
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as { port: number }).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const jwksUri = `http://127.0.0.1:${port}/jwks`
  const unreachable = () =>
    jwtVerifier({
      issuer: ISSUER,
      audience: 'https://mcp.example.com/mcp',
      jwksUri,
      jwks: { fetchTimeoutMs: 2000 },
    })

  const heard: Array<{ type: string; jwksUri: string }> = []
  const printed = t.capture(console, 'warn')
  const app = express()
  app.use(
    portcullis(notesOptions(kit, { verifier: unreachable(), onKeySetEvent: (event) => heard.push(event) })),
  )
  app.get('/notes', (_req, res) => res.send('notes'))
  const server = await listen(app)
  t.teardown(server.close)
  t.equal((await server.request('GET', '/notes', bearer(await kit.mint()))).status, 503)
  t.match(heard, [{ type: 'refresh_failed', jwksUri }])
  printed() // the default printer is process-wide: earlier middlewares of this file subscribed it

  const quiet = express()
  quiet.use(portcullis(notesOptions(kit, { verifier: unreachable() })))
  quiet.get('/notes', (_req, res) => res.send('notes'))
  const other = await listen(quiet)
  t.teardown(other.close)
  t.equal((await other.request('GET', '/notes', bearer(await kit.mint()))).status, 503)
  const lines = printed()
  t.ok(lines.length >= 1)
  t.match(String(lines[0]?.args[0]), 'the signing keys of the authorization server could not be refreshed')
  t.throws(() => portcullis(notesOptions(kit, { onKeySetEvent: 'yes' as never })), /option "onKeySetEvent"/)
})

t.test('scope implications with a "__proto__" key reach the gate intact', async (t) => {
  const app = express()
  app.use(
    portcullis(notesOptions(kit, { scopes: { implies: JSON.parse('{"__proto__":["reports:read"]}') } })),
  )
  app.get('/reports', requireScopes('reports:read'), (_req, res) => res.send('reports'))
  const server = await listen(app)
  t.teardown(server.close)
  const answer = await server.request('GET', '/reports', bearer(await kit.mint({ scope: '__proto__' })))
  t.equal(answer.status, 200, '__proto__ implies reports:read')
  t.equal(answer.body, 'reports')
})

t.test('verifiedAuth: the caller a gate verified, never one something else put on req.auth', async (t) => {
  const app = express()
  // Another layer (an SDK middleware, a bug) writes req.auth before the gate on a public path.
  app.use((req, _res, next) => {
    req.auth = { token: 'planted', clientId: 'x', scopes: ['notes:admin'] }
    next()
  })
  app.use(portcullis(notesOptions(kit, { public: ['/health'] })))
  app.get(['/health', '/notes'], (req, res) => {
    const caller = verifiedAuth(req)
    res.json({ sub: caller.extra.sub, fingerprint: caller.extra.fingerprint, same: caller === req.auth })
  })
  app.use(errorMessage)
  const server = await listen(app)
  t.teardown(server.close)

  const open = await server.request('GET', '/health')
  t.equal(open.status, 500, 'a server mistake: the route reads a caller it does not have')
  t.match(open.json(), { message: /verifiedAuth: no gate verified this request/ })
  t.notMatch(open.body, /planted/)

  const verified = await server.request('GET', '/notes', bearer(await kit.mint()))
  t.equal(verified.status, 200)
  t.match(verified.json(), { sub: 'alice', fingerprint: /^[\w-]{16}$/, same: true })
})
