import { startDevIdp } from '@portcullis/dev-idp'
import t from 'tap'

// First in this file: oidc-provider prints its runtime notice on the first import in a process.
t.test('quiet by default: no oidc-provider notices while starting and serving', async (t) => {
  const seen: string[] = []
  const { warn, info } = console
  console.warn = (...args: unknown[]) => void seen.push(String(args[0]))
  console.info = (...args: unknown[]) => void seen.push(String(args[0]))
  try {
    const idp = await startDevIdp()
    t.teardown(idp.close)
    await idp.userToken()
    await idp.machineToken({ resource: 'http://localhost:3001/mcp' })
    const registration = await fetch(idp.endpoints.registration!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://localhost:6274' },
      body: JSON.stringify({
        redirect_uris: ['http://localhost:6274/cb'],
        token_endpoint_auth_method: 'none',
      }),
    })
    t.equal(registration.status, 201)
  } finally {
    console.warn = warn
    console.info = info
  }
  t.same(seen, [])
})

t.test('bad options are TypeErrors naming the option and the problem', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ realm: 'acme' }, /option "realm": applies to shape "keycloak" only/],
    [
      { shape: 'auth0', keycloakAudience: 'account' },
      /option "keycloakAudience": applies to shape "keycloak" only/,
    ],
    [{ auth0Dialect: 'access_token_authz' }, /option "auth0Dialect": applies to shape "auth0" only/],
    [{ shape: 'keycloak', realm: 'a/b' }, /option "realm": must be letters/],
    [{ shape: 'okta' }, /option "shape"/],
    [{ resources: [{ resource: 'http://example.com/mcp' }] }, /option "resources.0.resource": .*https/],
    [{ resources: [{ resource: 'https://a.example/mcp#x' }] }, /option "resources.0.resource": .*fragment/],
    [
      { resources: [{ resource: 'https://a.example/mcp' }, { resource: 'https://a.example/mcp/' }] },
      /option "resources.1.resource": is listed twice/,
    ],
    [{ resources: [{ resource: 'https://a.example/mcp', scopes: ['has space'] }] }, /resources.0.scopes.0/],
    [{ port: 70000 }, /option "port"/],
    [{ host: '0.0.0.0' }, /option "host"/],
    [{ users: {} }, /option "users": must name at least one user/],
    [{ corsOrigins: ['http://a.example/path'] }, /option "corsOrigins.0": must be an origin/],
    [{ accessTokenTtl: 0 }, /option "accessTokenTtl"/],
    [{ clients: { public: { redirectUris: [] } } }, /option "clients.public.redirectUris"/],
    [{ colour: 'blue' }, /colour/],
  ]
  for (const [options, message] of cases) {
    await t.rejects(startDevIdp(options as never), { name: 'TypeError', message }, JSON.stringify(options))
  }
})

t.test('the defaults: notes resources, alice, bob and carol, random loopback port', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)
  t.equal(idp.shape, 'generic')
  t.equal(idp.url, `http://127.0.0.1:${idp.port}`)
  t.same(idp.users, ['alice', 'bob', 'carol'])
  t.equal(idp.defaultUser, 'alice')
  t.same(idp.resources, [
    {
      resource: 'http://localhost:3000/mcp',
      scopes: ['notes:read', 'notes:write', 'notes:admin'],
      baseScopes: ['notes:read'],
      format: 'jwt',
      accessTokenTtl: 600,
    },
    {
      resource: 'http://localhost:3001/mcp',
      scopes: ['notes:read', 'notes:write', 'notes:admin'],
      baseScopes: ['notes:read'],
      format: 'opaque',
      accessTokenTtl: 600,
    },
  ])
  t.same(Object.keys(idp.clients), ['machine', 'resourceServer', 'public'])
  t.equal(idp.clients.machine.client_id, 'dev-machine')
  t.equal(idp.clients.resourceServer.client_id, 'dev-resource-server')
  t.equal(idp.clients.public.client_id, 'dev-public')
})

t.test('client ids and secrets can be fixed', async (t) => {
  const idp = await startDevIdp({
    clients: {
      machine: { clientId: 'bot', clientSecret: 'bot-secret' },
      resourceServer: { clientId: 'api' },
    },
  })
  t.teardown(idp.close)
  t.same(idp.clients.machine, { client_id: 'bot', client_secret: 'bot-secret' })
  t.equal(idp.clients.resourceServer.client_id, 'api')
  const { access_token } = await idp.machineToken()
  t.type(access_token, 'string')
})

t.test('IPv6 loopback', async (t) => {
  const idp = await startDevIdp({ host: '::1' })
  t.teardown(idp.close)
  t.equal(idp.issuer, `http://[::1]:${idp.port}`)
  const doc = (await (await fetch(idp.discoveryUrl)).json()) as { issuer: string }
  t.equal(doc.issuer, idp.issuer)
})
