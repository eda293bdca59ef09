import { startDevIdp } from '@portcullis/dev-idp'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import t from 'tap'

const RESOURCE = 'http://127.0.0.1:3000/mcp'
const OTHER = 'http://127.0.0.1:3001/mcp'

type Idp = Awaited<ReturnType<typeof startDevIdp>>

const verify = (idp: Idp, token: string, audience = RESOURCE) =>
  jwtVerify(token, createRemoteJWKSet(new URL(idp.endpoints.jwks)), { issuer: idp.issuer, audience })

t.test('Keycloak shape: realm issuer, realm_access, resource_access, azp, typ JWT', async (t) => {
  const idp = await startDevIdp({ shape: 'keycloak', realm: 'acme', resources: [{ resource: RESOURCE }] })
  t.teardown(idp.close)
  const { access_token } = await idp.userToken({ user: 'alice', scope: 'notes:read' })
  const header = decodeProtectedHeader(access_token)
  t.equal(header.typ, 'JWT', 'Keycloak does not use at+jwt')
  t.equal(header.alg, 'RS256')
  const { payload } = await verify(idp, access_token)
  t.equal(payload.iss, `${idp.url}/realms/acme`)
  t.equal(payload.aud, RESOURCE)
  t.equal(payload.sub, 'alice')
  t.equal(payload.typ, 'Bearer')
  t.equal(payload.azp, idp.clients.public.client_id)
  t.equal(payload.client_id, undefined, 'the client is in azp only')
  t.equal(payload.preferred_username, 'alice')
  t.same(payload.realm_access, { roles: ['notes-admin', 'notes-editor', 'default-roles-acme'] })
  t.same(payload.resource_access, { 'notes-api': { roles: ['admin'] } })
  t.equal(payload.scope, 'notes:read')

  const machine = await idp.machineToken()
  const machinePayload = (await verify(idp, machine.access_token)).payload
  t.equal(machinePayload.preferred_username, `service-account-${idp.clients.machine.client_id}`)
  t.same(machinePayload.realm_access, { roles: ['default-roles-acme'] })
  t.equal(machinePayload.resource_access, undefined)
})

t.test('Keycloak shape: aud "account" (no audience mapper) and both', async (t) => {
  const only = await startDevIdp({
    shape: 'keycloak',
    keycloakAudience: 'account',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(only.close)
  const accountToken = (await only.userToken()).access_token
  t.equal((await verify(only, accountToken, 'account')).payload.aud, 'account')
  await t.rejects(
    verify(only, accountToken),
    { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    'not for the resource',
  )

  const both = await startDevIdp({
    shape: 'keycloak',
    keycloakAudience: 'resource+account',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(both.close)
  const { payload } = await verify(both, (await both.userToken()).access_token)
  t.same(payload.aud, [RESOURCE, 'account'])
  t.equal(payload.iss, `${both.url}/realms/portcullis`, 'default realm')
})

t.test('Auth0 shape: trailing-slash issuer, permissions, azp, array aud with openid', async (t) => {
  const idp = await startDevIdp({ shape: 'auth0', resources: [{ resource: RESOURCE }] })
  t.teardown(idp.close)
  const { access_token } = await idp.userToken({ user: 'bob', scope: 'notes:read notes:write' })
  t.equal(decodeProtectedHeader(access_token).typ, 'JWT')
  const { payload } = await verify(idp, access_token)
  t.equal(payload.iss, `${idp.url}/`)
  t.equal(payload.aud, RESOURCE)
  t.same(payload.permissions, ['notes:read'], "the user's permissions")
  t.equal(payload.scope, 'notes:read', 'the subset bob may have: notes:write is left out')
  t.equal(payload.azp, idp.clients.public.client_id)
  t.equal(payload.client_id, undefined)

  const withOpenid = await idp.userToken({ user: 'bob', scope: 'openid notes:read' })
  const openidPayload = (await verify(idp, withOpenid.access_token)).payload
  t.same(openidPayload.aud, [RESOURCE, `${idp.url}/userinfo`])
  t.type(withOpenid.id_token, 'string')

  const machine = await idp.machineToken({ scope: 'notes:read notes:write' })
  const machinePayload = (await verify(idp, machine.access_token)).payload
  t.equal(machinePayload.sub, `${idp.clients.machine.client_id}@clients`)
  t.equal(machinePayload.gty, 'client-credentials')
  t.same(machinePayload.permissions, ['notes:read', 'notes:write'])
})

t.test('Auth0 shape, RFC 9068 dialect: at+jwt with client_id', async (t) => {
  const idp = await startDevIdp({
    shape: 'auth0',
    auth0Dialect: 'rfc9068_profile_authz',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(idp.close)
  const { access_token } = await idp.userToken({ user: 'alice' })
  t.equal(decodeProtectedHeader(access_token).typ, 'at+jwt')
  const { payload } = await verify(idp, access_token)
  t.equal(payload.client_id, idp.clients.public.client_id)
  t.same(payload.permissions, ['notes:read', 'notes:write', 'notes:admin'])
})

t.test('generic shape: RS256 on request, user claims from options', async (t) => {
  const idp = await startDevIdp({
    signingAlg: 'RS256',
    users: { carol: { roles: ['auditor'], claims: { tenant: 't-1', sub: 'ignored' } } },
    // reports:read is named by no role: open to every signed-in user.
    resources: [{ resource: RESOURCE }, { resource: OTHER, scopes: ['reports:read'] }],
  })
  t.teardown(idp.close)
  t.equal(idp.defaultUser, 'carol')
  // auditor is in no role map entry; the default map governs every notes scope.
  await t.rejects(idp.userToken(), /invalid_scope/)
  const { access_token } = await idp.userToken({ resource: OTHER, scope: 'reports:read' })
  t.equal(decodeProtectedHeader(access_token).alg, 'RS256')
  const { payload } = await verify(idp, access_token, OTHER)
  t.equal(payload.sub, 'carol', 'extra claims never replace sub')
  t.equal(payload.tenant, 't-1')
  t.same(payload.roles, ['auditor'])
})
