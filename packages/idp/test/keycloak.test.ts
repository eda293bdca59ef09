import { parseChallenges } from '@portcullis/core'
import { startDevIdp } from '@portcullis/dev-idp'
import portcullis from '@portcullis/fastify'
import { keycloak } from '@portcullis/idp'
import Fastify from 'fastify'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'

// A Keycloak-shaped dev IdP (realm issuer, realm_access / resource_access roles, azp, JOSE typ JWT)
// issues every token here through its real token endpoint.

const RESOURCE = 'http://127.0.0.1:4100/mcp'
const OTHER_API = 'http://127.0.0.1:4101/mcp'
const OPAQUE = 'http://127.0.0.1:4102/mcp'

const idp = await startDevIdp({
  shape: 'keycloak',
  realm: 'acme',
  resources: [{ resource: RESOURCE }, { resource: OTHER_API }, { resource: OPAQUE, format: 'opaque' }],
})
t.teardown(() => idp.close())

// Default dev users: alice has realm roles notes-admin, notes-editor and client role notes-api/admin;
// bob has realm role notes-reader and client role notes-api/reader.
const roles = {
  'notes-admin': ['notes:admin'],
  reader: ['reports:read'],
  admin: ['reports:admin'],
}
const implies = { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] }
const preset = keycloak({
  url: idp.url,
  realm: 'acme',
  audience: RESOURCE,
  clientId: 'notes-api',
  roles,
  scopes: { implies, base: ['notes:read'] },
})

t.test('the preset is its gate options and, apart, its description as plain data', async (t) => {
  t.same(Object.keys(preset).sort(), ['description', 'options'])
  t.same(
    Object.keys(preset.options).sort(),
    ['authorizationServers', 'scopes', 'verifier'],
    'only gate options',
  )
  t.same(preset.options.authorizationServers, [idp.issuer])
  t.equal(idp.issuer, `${idp.url}/realms/acme`, 'issuer has no trailing slash')
  t.match(preset.description, {
    name: 'keycloak',
    issuers: [idp.issuer],
    jwksUri: idp.endpoints.jwks,
    audienceStrategy: { type: 'aud', values: [RESOURCE] },
    claims: {
      scopes: ['scope'],
      roles: [
        ['realm_access', 'roles'],
        ['resource_access', 'notes-api', 'roles'],
      ],
      clientId: ['azp', 'client_id'],
    },
    roles,
    typ: 'lenient',
    realm: 'acme',
  })
  t.equal(JSON.parse(JSON.stringify(preset.description)).name, 'keycloak', 'serialisable as it is')
  t.ok(Object.isFrozen(preset.description.claims), 'the description is read-only')
})

t.test(
  'a token from the authorization-code flow is accepted; realm and client roles grant scopes',
  async (t) => {
    const alice = await idp.userToken({ user: 'alice', scope: 'notes:read' })
    const auth = await preset.options.verifier.verifyAccessToken(alice.access_token)
    t.equal(auth.clientId, idp.clients.public.client_id, 'azp names the client')
    t.equal(auth.extra?.sub, 'alice')
    t.same(auth.scopes, ['notes:read', 'notes:admin', 'reports:admin'], 'scope, realm role, client role')

    const bob = await idp.userToken({ user: 'bob', scope: 'notes:read' })
    t.same((await preset.options.verifier.verifyAccessToken(bob.access_token)).scopes, [
      'notes:read',
      'reports:read',
    ])
  },
)

t.test('a client-credentials token is accepted', async (t) => {
  const machine = await idp.machineToken({ scope: 'notes:read' })
  const auth = await preset.options.verifier.verifyAccessToken(machine.access_token)
  t.equal(auth.clientId, idp.clients.machine.client_id)
  t.same(auth.scopes, ['notes:read'])
})

t.test('per-route scopes through roles, with implication, in the Fastify plugin', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(portcullis, { ...preset.options, resource: RESOURCE })
  app.get('/admin', { config: { scopes: ['notes:admin'] } }, async (req) => ({ sub: req.auth.extra.sub }))
  app.post('/notes', { config: { scopes: ['notes:write'] } }, async () => ({ created: true }))
  app.get('/reports', { config: { scopes: ['reports:read'] } }, async () => ({ reports: [] }))

  const alice = (await idp.userToken({ user: 'alice', scope: 'notes:read' })).access_token
  const bob = (await idp.userToken({ user: 'bob', scope: 'notes:read' })).access_token
  const call = (method: 'GET' | 'POST', url: string, token: string) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${token}` } })

  const admin = await call('GET', '/admin', alice)
  t.equal(
    admin.statusCode,
    200,
    'realm role notes-admin grants notes:admin though scope asked notes:read only',
  )
  t.same(admin.json(), { sub: 'alice' })
  t.equal((await call('POST', '/notes', alice)).statusCode, 200, 'notes:admin implies notes:write')

  const denied = await call('GET', '/admin', bob)
  t.equal(denied.statusCode, 403)
  t.equal(parseChallenges(String(denied.headers['www-authenticate']))[0]?.params.scope, 'notes:admin')
  t.equal((await call('GET', '/reports', bob)).statusCode, 200, 'client role reader grants reports:read')
  t.equal((await call('GET', '/reports', alice)).statusCode, 403, 'alice holds no reader client role')
})

t.test('the classic misconfigurations are refused, and the refusal says what to change', async (t) => {
  const idToken = (await idp.userToken({ user: 'alice', scope: 'openid notes:read' })).id_token
  t.ok(idToken, 'the dev IdP issued an ID token')
  const id = await refusal(preset.options.verifier, idToken!)
  t.equal(id.reason, 'audience_mismatch', 'ID token instead of access token')
  t.match(id.message, /looks like an ID token/)

  const refresh = (await idp.userToken({ user: 'alice', scope: 'notes:read' })).refresh_token
  t.ok(refresh, 'the dev IdP issued a refresh token')
  const refreshed = await refusal(preset.options.verifier, refresh!)
  t.equal(refreshed.reason, 'token_malformed', 'refresh token')
  t.match(refreshed.message, /not a Keycloak access token/)

  const other = (await idp.userToken({ user: 'alice', resource: OTHER_API, scope: 'notes:read' }))
    .access_token
  const foreign = await refusal(preset.options.verifier, other)
  t.equal(foreign.reason, 'audience_mismatch', 'token for another API of the same realm')
  t.match(foreign.message, /Audience mapper/)

  const otherRealm = await startDevIdp({
    shape: 'keycloak',
    realm: 'other',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(() => otherRealm.close())
  const wrongRealm = await refusal(preset.options.verifier, (await otherRealm.machineToken()).access_token)
  t.equal(
    wrongRealm.reason,
    'kid_unknown',
    'token of another realm: its key is not in this realm (keys come first)',
  )
  t.match(wrongRealm.message, /realms\/other.*expected .*realms\/acme/)
})

t.test("Keycloak's default audience (no Audience mapper) is refused with the mapper named", async (t) => {
  const account = await startDevIdp({
    shape: 'keycloak',
    realm: 'acme',
    keycloakAudience: 'account',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(() => account.close())
  const kc = keycloak({ url: account.url, realm: 'acme', audience: RESOURCE })
  const error = await refusal(kc.options.verifier, (await account.userToken({ user: 'alice' })).access_token)
  t.equal(error.code, 'invalid_token')
  t.equal(error.reason, 'audience_mismatch')
  t.match(error.message, /token has aud "account"; Keycloak adds .* only through an Audience mapper/)

  const both = await startDevIdp({
    shape: 'keycloak',
    realm: 'acme',
    keycloakAudience: 'resource+account',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(() => both.close())
  const kcBoth = keycloak({ url: both.url, realm: 'acme', audience: RESOURCE })
  const token = (await both.userToken({ user: 'alice' })).access_token
  t.equal(await outcome(kcBoth.options.verifier, token), 'ok', 'aud ["<resource>", "account"] is accepted')
})

t.test('opaque tokens are introspected with a confidential client; roles map the same way', async (t) => {
  const kc = keycloak({
    url: idp.url,
    realm: 'acme',
    audience: OPAQUE,
    clientId: 'notes-api',
    roles,
    introspection: {
      clientId: idp.clients.resourceServer.client_id,
      clientSecret: idp.clients.resourceServer.client_secret,
    },
  })
  t.equal(
    kc.description.introspection?.endpoint,
    idp.endpoints.introspection,
    'the realm introspection endpoint',
  )
  t.equal(kc.description.introspection?.use, 'fallback')
  t.notOk(
    JSON.stringify(kc.description).includes(idp.clients.resourceServer.client_secret),
    'no secret in the description',
  )
  const token = (await idp.userToken({ user: 'alice', resource: OPAQUE, scope: 'notes:read' })).access_token
  t.equal(token.split('.').length, 1, 'an opaque token')
  const auth = await kc.options.verifier.verifyAccessToken(token)
  t.same(auth.scopes, ['notes:read', 'notes:admin', 'reports:admin'])
  t.equal(auth.extra?.sub, 'alice')

  const wrong = keycloak({
    url: idp.url,
    realm: 'acme',
    audience: OPAQUE,
    introspection: { clientId: idp.clients.resourceServer.client_id, clientSecret: 'not-the-secret' },
  })
  const unavailable = await refusal(wrong.options.verifier, token)
  t.equal(unavailable.code, 'temporarily_unavailable', 'refused credentials are an outage, not a bad token')
})

t.test('options are validated, naming the preset and the option', async (t) => {
  const base = { url: 'https://id.example.com', realm: 'acme', audience: 'https://mcp.example.com/mcp' }
  t.throws(
    () => keycloak({ ...base, url: 'http://id.example.com' }),
    /^keycloak: option "url": must use https/,
  )
  t.throws(() => keycloak({ ...base, realm: '' }), /keycloak: option "realm"/)
  t.throws(() => keycloak({ ...base, audience: [] }), /keycloak: option "audience"/)
  t.throws(
    () => keycloak({ ...base, audienceStrategy: { type: 'none', values: [] } as never }),
    /keycloak: option "audienceStrategy.type": .*cannot be turned off/,
  )
  t.throws(
    () => keycloak({ ...base, algorithms: ['HS256'] as never }),
    /^keycloak: option "algorithms.0": HS256 is refused/,
  )
  t.throws(() => keycloak({ ...base, roles: { admin: ['has space'] } }), /keycloak: option "roles.admin.0"/)
  t.throws(() => keycloak({ ...base, realms: 'x' } as never), /keycloak: .*realms/)
  t.throws(
    () =>
      keycloak({
        ...base,
        audienceStrategy: { type: 'azp', values: ['notes-app'] },
        introspection: { clientId: 'rs', clientSecret: 's' },
      }),
    /keycloak: option "introspection": introspection answers are checked by aud/,
  )
})

t.test('overrides replace defaults field by field', async (t) => {
  const kc = keycloak({
    url: 'https://id.example.com/',
    realm: 'acme',
    audience: 'https://mcp.example.com/mcp',
    audienceStrategy: { type: 'azp', values: ['notes-app'] },
    claims: { roles: ['groups'] },
    algorithms: ['ES256'],
    clockTolerance: 5,
  })
  t.equal(
    kc.description.issuers[0],
    'https://id.example.com/realms/acme',
    'a trailing slash on url is dropped',
  )
  t.same(kc.description.audienceStrategy, { type: 'azp', values: ['notes-app'] })
  t.same(kc.description.claims.roles, ['groups'])
  t.same(kc.description.claims.scopes, ['scope'], 'claims not overridden keep their default')
  t.same(kc.description.algorithms, ['ES256'])
  t.equal(kc.description.clockTolerance, 5)
})
