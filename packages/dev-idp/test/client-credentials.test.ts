import { startDevIdp } from '@portcullis/dev-idp'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import { postForm } from './fixtures/http.js'

const JWT_RESOURCE = 'http://127.0.0.1:3000/mcp'
const OPAQUE_RESOURCE = 'http://127.0.0.1:3001/mcp'

async function startIdp(t: Test) {
  const idp = await startDevIdp({
    resources: [
      { resource: JWT_RESOURCE },
      { resource: OPAQUE_RESOURCE, format: 'opaque', scopes: ['notes:read'], accessTokenTtl: 120 },
    ],
  })
  t.teardown(idp.close)
  return idp
}

t.test('client credentials with a resource give a JWT for that resource', async (t) => {
  const idp = await startIdp(t)
  const tokens = await idp.machineToken({ scope: 'notes:read notes:admin' })
  t.equal(tokens.token_type, 'Bearer')
  t.equal(tokens.refresh_token, undefined, 'no refresh token for client credentials')
  t.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt')
  const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(idp.endpoints.jwks)), {
    issuer: idp.issuer,
    audience: JWT_RESOURCE,
    typ: 'at+jwt',
  })
  t.equal(payload.sub, idp.clients.machine.client_id)
  t.equal(payload.client_id, idp.clients.machine.client_id)
  t.equal(payload.scope, 'notes:read notes:admin')
})

t.test('client credentials without a resource give an opaque token with no audience', async (t) => {
  const idp = await startIdp(t)
  const tokens = await idp.machineToken({ resource: null })
  t.notMatch(tokens.access_token, /^ey/, 'not a JWT')
  const introspection = await postForm(
    idp.endpoints.introspection!,
    { token: tokens.access_token },
    idp.clients.resourceServer,
  )
  t.equal(introspection.body?.active, true)
  t.equal(introspection.body?.aud, undefined)
})

t.test('a wrong client secret is invalid_client', async (t) => {
  const idp = await startIdp(t)
  const response = await postForm(
    idp.endpoints.token,
    { grant_type: 'client_credentials', resource: JWT_RESOURCE },
    { client_id: idp.clients.machine.client_id, client_secret: 'wrong' },
  )
  t.equal(response.status, 401)
  t.equal(response.body?.error, 'invalid_client')
})

t.test('opaque tokens: introspected by the resource server, revoked by their client', async (t) => {
  const idp = await startIdp(t)
  const introspect = (token: string, client = idp.clients.resourceServer) =>
    postForm(idp.endpoints.introspection!, { token }, client)

  const tokens = await idp.machineToken({ resource: OPAQUE_RESOURCE })
  t.notMatch(tokens.access_token, /^ey/, 'opaque')
  t.equal(tokens.expires_in, 120, 'the resource TTL')

  const active = await introspect(tokens.access_token)
  t.equal(active.status, 200)
  t.equal(active.body?.active, true)
  t.equal(active.body?.aud, OPAQUE_RESOURCE)
  t.equal(active.body?.scope, 'notes:read')
  t.equal(active.body?.client_id, idp.clients.machine.client_id)
  t.equal(active.body?.iss, idp.issuer)
  t.equal(active.body?.token_type, 'Bearer')
  t.type(active.body?.exp, 'number')

  const revoked = await postForm(
    idp.endpoints.revocation,
    { token: tokens.access_token },
    idp.clients.machine,
  )
  t.equal(revoked.status, 200)
  const inactive = await introspect(tokens.access_token)
  t.same(inactive.body, { active: false })
})

t.test('user tokens for the opaque resource carry the user and roles in introspection', async (t) => {
  const idp = await startIdp(t)
  const tokens = await idp.userToken({ user: 'alice', resource: OPAQUE_RESOURCE })
  const active = await postForm(
    idp.endpoints.introspection!,
    { token: tokens.access_token },
    idp.clients.resourceServer,
  )
  t.equal(active.body?.active, true)
  t.equal(active.body?.sub, 'alice')
  t.same(active.body?.roles, ['notes-admin', 'notes-editor'])
})

t.test('introspection needs an authenticated client entitled to the answer', async (t) => {
  const idp = await startIdp(t)
  const { access_token } = await idp.userToken({ resource: OPAQUE_RESOURCE })
  const anonymous = await postForm(idp.endpoints.introspection!, { token: access_token })
  t.equal(anonymous.status, 400)
  t.equal(anonymous.body?.error, 'invalid_request')
  const wrongSecret = await postForm(
    idp.endpoints.introspection!,
    { token: access_token },
    { client_id: idp.clients.resourceServer.client_id, client_secret: 'nope' },
  )
  t.equal(wrongSecret.status, 401)
  // RFC 7662 §2.2: a client that may not see the token learns only active: false.
  const otherClient = await postForm(
    idp.endpoints.introspection!,
    { token: access_token },
    idp.clients.machine,
  )
  t.same(otherClient.body, { active: false })
  const garbage = await postForm(
    idp.endpoints.introspection!,
    { token: 'garbage' },
    idp.clients.resourceServer,
  )
  t.same(garbage.body, { active: false })
})

t.test('JWT access tokens are not introspectable (verify them with the JWKS)', async (t) => {
  const idp = await startIdp(t)
  const { access_token } = await idp.machineToken()
  const response = await postForm(
    idp.endpoints.introspection!,
    { token: access_token },
    idp.clients.resourceServer,
  )
  t.equal(response.status, 400)
  t.equal(response.body?.error, 'unsupported_token_type')
})

t.test('a client cannot revoke another client’s token', async (t) => {
  const idp = await startIdp(t)
  const { access_token } = await idp.machineToken({ resource: OPAQUE_RESOURCE })
  const response = await postForm(
    idp.endpoints.revocation,
    { token: access_token },
    idp.clients.resourceServer,
  )
  t.equal(response.status, 200, 'RFC 7009 §2.2 answers 200 either way')
  const still = await postForm(
    idp.endpoints.introspection!,
    { token: access_token },
    idp.clients.resourceServer,
  )
  t.equal(still.body?.active, true)
})

t.test('resources added at run time get tokens', async (t) => {
  const idp = await startIdp(t)
  const added = idp.addResource({ resource: 'http://127.0.0.1:4555/mcp/', scopes: ['files:read'] })
  t.same(added, {
    resource: 'http://127.0.0.1:4555/mcp',
    scopes: ['files:read'],
    baseScopes: ['files:read'],
    format: 'jwt',
    accessTokenTtl: 600,
  })
  t.ok(idp.resources.some((r) => r.resource === added.resource))
  const { access_token, scope } = await idp.machineToken({ resource: added.resource })
  t.equal(scope, 'files:read')
  const { payload } = await jwtVerify(access_token, createRemoteJWKSet(new URL(idp.endpoints.jwks)), {
    audience: added.resource,
  })
  t.equal(payload.aud, added.resource)
  t.throws(() => idp.addResource({ resource: 'http://example.com/mcp' }), /https/)
})
