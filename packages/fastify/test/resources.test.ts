import { createGate, jwtVerifier } from '@portcullis/core'
import portcullis, { portcullisMetadata } from '@portcullis/fastify'
import { ISSUER, tokenKit } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t from 'tap'
import { notesOptions } from './fixtures/app.js'

const kit = await tokenKit()

const A = 'https://mcp.example.com/a/mcp'
const B = 'https://mcp.example.com/b/mcp'

const optionsFor = (resource: string) => ({
  resource,
  authorizationServers: [ISSUER],
  verifier: jwtVerifier({ issuer: ISSUER, audience: resource, keys: [kit.publicJwk] }),
  scopes: { base: [resource === A ? 'a:read' : 'b:read'] },
})

t.test('two resources in one app: each scope has its own gate and metadata document', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(async (scope) => {
    await scope.register(portcullis, optionsFor(A))
    scope.post('/a/mcp', async (request) => ({ resource: request.auth.resource.href }))
  })
  await app.register(async (scope) => {
    await scope.register(portcullis, optionsFor(B))
    scope.post('/b/mcp', async (request) => ({ resource: request.auth.resource.href }))
  })
  app.get('/', async (request) => ({ public: true, auth: request.auth ?? null }))

  const forA = await kit.mint({ aud: A })
  const forB = await kit.mint({ aud: B })
  const post = (url: string, token?: string) =>
    app.inject({
      method: 'POST',
      url,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    })

  t.same((await post('/a/mcp', forA)).json(), { resource: A })
  t.same((await post('/b/mcp', forB)).json(), { resource: B })
  const crossed = await post('/a/mcp', forB)
  t.equal(crossed.statusCode, 401, 'a token for B is refused by A')
  t.match(crossed.headers['www-authenticate'], /error="invalid_token"/)
  t.match(
    (await post('/b/mcp')).headers['www-authenticate'],
    'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/b/mcp"',
  )
  t.match((await post('/b/mcp')).headers['www-authenticate'], 'scope="b:read"')
  t.equal((await app.inject('/')).statusCode, 200, 'the root scope stays public')

  const docA = await app.inject('/.well-known/oauth-protected-resource/a/mcp')
  const docB = await app.inject('/.well-known/oauth-protected-resource/b/mcp')
  t.same(docA.json(), {
    resource: A,
    authorization_servers: [ISSUER],
    scopes_supported: ['a:read'],
    bearer_methods_supported: ['header'],
  })
  t.equal(docB.json().resource, B)
})

t.test('registering twice in one scope, or below a protected scope, is an error', async (t) => {
  const same = Fastify()
  t.teardown(() => same.close())
  await same.register(portcullis, optionsFor(A))
  await t.rejects(
    async () => same.register(portcullis, optionsFor(B)),
    /already registered in this scope or a parent scope/,
  )

  const nested = Fastify()
  t.teardown(() => nested.close())
  await nested.register(portcullis, optionsFor(A))
  nested.register(async (child) => {
    await child.register(portcullis, optionsFor(B))
  })
  await t.rejects(async () => nested.ready(), /already registered in this scope or a parent scope/)
})

t.test('a "prefix" option is refused: fastify-plugin would ignore it', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(
    async () => app.register(portcullis, { ...optionsFor(A), prefix: '/a' } as never),
    /option "prefix" has no effect/,
  )
})

t.test(
  'under a route prefix: metadata served at the root with portcullisMetadata and a shared gate',
  async (t) => {
    const refused = Fastify()
    t.teardown(() => refused.close())
    refused.register(
      async (api) => {
        await api.register(portcullis, optionsFor(A))
      },
      { prefix: '/a' },
    )
    await t.rejects(async () => refused.ready(), /route prefix "\/a".*metadataRoutes: false/)

    const app = Fastify()
    t.teardown(() => app.close())
    const gate = createGate(optionsFor(A))
    await app.register(portcullisMetadata, { gate })
    await app.register(
      async (api) => {
        await api.register(portcullis, { gate, metadataRoutes: false })
        api.post('/mcp', async (request) => request.auth.extra.sub)
      },
      { prefix: '/a' },
    )
    const token = await kit.mint({ aud: A })
    t.equal(
      (await app.inject({ method: 'POST', url: '/a/mcp', headers: { authorization: `Bearer ${token}` } }))
        .body,
      'alice',
    )
    t.equal((await app.inject({ method: 'POST', url: '/a/mcp' })).statusCode, 401)
    const doc = await app.inject('/.well-known/oauth-protected-resource/a/mcp')
    t.equal(doc.statusCode, 200)
    t.equal(doc.json().resource, A)
    t.equal(app.hasRoute({ method: 'GET', url: '/a/.well-known/oauth-protected-resource/a/mcp' }), false)
  },
)

t.test('under a route prefix: the OPTIONS route the gate adds is at the prefixed URL once', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const gate = createGate({ ...optionsFor(A), cors: { origin: ['https://app.example.com'] } })
  await app.register(portcullisMetadata, { gate })
  await app.register(
    async (api) => {
      await api.register(portcullis, { gate, metadataRoutes: false })
      api.post('/mcp', async () => 'ok')
    },
    { prefix: '/a' },
  )
  await app.ready()
  // Fastify's onRoute `routePath` is the URL without the prefix; `this.route` adds it back.
  t.equal(app.hasRoute({ method: 'OPTIONS', url: '/a/mcp' }), true)
  t.equal(app.hasRoute({ method: 'OPTIONS', url: '/a/a/mcp' }), false)
  const token = await kit.mint({ aud: A })
  const reply = await app.inject({
    method: 'OPTIONS',
    url: '/a/mcp',
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(reply.statusCode, 204)
  t.match(reply.headers.allow, /POST/)
})

t.test('options are validated at register time with errors naming the option', async (t) => {
  const cases: Array<[object, RegExp]> = [
    [
      { ...notesOptions(kit), resource: 'http://mcp.example.com/mcp' },
      /@portcullis\/fastify: option "resource": .*https/,
    ],
    [{ ...notesOptions(kit), authorizationServers: [] }, /option "authorizationServers": name at least one/],
    [{ ...notesOptions(kit), verifier: undefined }, /option "verifier"/],
    [{ ...notesOptions(kit), routes: 'some' }, /option "routes"/],
    [{ ...notesOptions(kit), onRejection: 'loud' }, /option "onRejection"/],
    [{ ...notesOptions(kit), logLevel: 'info' }, /option "logLevel" is now "onRejection"/],
    [{ ...notesOptions(kit), cors: { origin: ['not an origin'] } }, /option "cors/],
    [
      { ...notesOptions(kit), scopes: { base: ['offline_access'] } },
      /option "scopes\.base": must not contain offline_access/,
    ],
    [{ ...notesOptions(kit), scope: {} }, /Unrecognized key: "scope"/],
    [{ gate: {} }, /option "gate": must be a gate made by createGate/],
  ]
  for (const [options, error] of cases) {
    const app = Fastify()
    await t.rejects(async () => app.register(portcullis, options as never), error)
    await app.close()
  }
})

t.test('app.gate exposes the gate of the scope', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, optionsFor(A))
  t.equal(app.gate.resource, A)
  t.equal(app.gate.metadataUrl, 'https://mcp.example.com/.well-known/oauth-protected-resource/a/mcp')
})
