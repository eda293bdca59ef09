// introspectionVerifier against a real authorization server (oidc-provider via @portcullis/dev-idp):
// discovery, client authentication, opaque tokens, refresh tokens and revocation.
import { introspectionVerifier, issuerRouter, jwtVerifier, PortcullisError } from '@portcullis/core'
import { startDevIdp } from '@portcullis/dev-idp'
import t from 'tap'

const OPAQUE = 'http://127.0.0.1:3001/mcp'
const JWT = 'http://127.0.0.1:3000/mcp'

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    if (err instanceof PortcullisError) return err.reason
    throw err
  }
  throw new Error('expected a rejection')
}

t.test('opaque tokens from oidc-provider, endpoint found by discovery', async (t) => {
  const idp = await startDevIdp({
    resources: [
      { resource: JWT, format: 'jwt' },
      { resource: OPAQUE, format: 'opaque' },
    ],
  })
  t.teardown(idp.close)
  const verifier = introspectionVerifier({
    issuer: idp.issuer,
    clientId: idp.clients.resourceServer.client_id,
    clientSecret: idp.clients.resourceServer.client_secret,
    audience: OPAQUE,
    cache: false,
  })

  const user = await idp.userToken({ user: 'bob', resource: OPAQUE, scope: 'notes:read' })
  t.notOk(user.access_token.includes('.'), 'an opaque token')
  const auth = await verifier.verifyAccessToken(user.access_token)
  t.equal(verifier.endpoint, `${idp.issuer}/introspect`, 'found in the AS metadata')
  t.equal(auth.extra?.sub, 'bob')
  t.equal(auth.extra?.iss, idp.issuer)
  t.equal(auth.clientId, idp.clients.public.client_id)
  t.same(auth.scopes, ['notes:read'])
  t.equal(auth.resource?.href, new URL(OPAQUE).href)
  t.ok(auth.expiresAt! > Date.now() / 1000)

  // oidc-provider answers a refresh token as active, without token_type and without aud:
  // refused because MCP needs audience binding (requireAudience).
  t.type(user.refresh_token, 'string')
  t.equal(await reasonOf(verifier.verifyAccessToken(user.refresh_token!)), 'audience_mismatch')

  const machine = await idp.machineToken({ resource: OPAQUE })
  const machineAuth = await verifier.verifyAccessToken(machine.access_token)
  t.equal(machineAuth.clientId, idp.clients.machine.client_id)

  // A token for another resource: the AS says active, the audience check says no.
  const other = introspectionVerifier({
    issuer: idp.issuer,
    clientId: idp.clients.resourceServer.client_id,
    clientSecret: idp.clients.resourceServer.client_secret,
    audience: 'http://127.0.0.1:3999/mcp',
  })
  t.equal(await reasonOf(other.verifyAccessToken(machine.access_token)), 'audience_mismatch')

  // Revocation (RFC 7009) is seen at once when nothing is cached.
  const revoke = await fetch(`${idp.issuer}/revoke`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${idp.clients.machine.client_id}:${idp.clients.machine.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: machine.access_token }).toString(),
  })
  t.equal(revoke.status, 200)
  t.equal(await reasonOf(verifier.verifyAccessToken(machine.access_token)), 'token_inactive')
  t.equal(await reasonOf(verifier.verifyAccessToken('not-a-token-the-idp-issued')), 'token_inactive')
})

t.test('wrong resource-server credentials are a 503, never an inactive token', async (t) => {
  const idp = await startDevIdp({ resources: [{ resource: OPAQUE, format: 'opaque' }] })
  t.teardown(idp.close)
  const verifier = introspectionVerifier({
    issuer: idp.issuer,
    clientId: idp.clients.resourceServer.client_id,
    clientSecret: 'not-the-secret',
    audience: OPAQUE,
  })
  const { access_token } = await idp.machineToken({ resource: OPAQUE })
  try {
    await verifier.verifyAccessToken(access_token)
    t.fail('accepted')
  } catch (err) {
    const e = err as PortcullisError
    t.equal(e.status, 503)
    t.equal(e.reason, 'introspection_unavailable')
    t.match(e.message, /refused the resource server's client credentials \(HTTP 401\)/)
  }
})

t.test('Keycloak shape: path issuer discovered, JWT and opaque tokens behind one router', async (t) => {
  const idp = await startDevIdp({
    shape: 'keycloak',
    realm: 'acme',
    resources: [
      { resource: JWT, format: 'jwt' },
      { resource: OPAQUE, format: 'opaque' },
    ],
  })
  t.teardown(idp.close)
  t.equal(idp.issuer, `${idp.url}/realms/acme`)
  const router = issuerRouter({
    issuers: { [idp.issuer]: jwtVerifier({ issuer: idp.issuer, audience: JWT }) },
    opaque: introspectionVerifier({
      issuer: idp.issuer,
      clientId: idp.clients.resourceServer.client_id,
      clientSecret: idp.clients.resourceServer.client_secret,
      audience: OPAQUE,
    }),
  })
  const jwt = await idp.machineToken({ resource: JWT })
  t.equal(jwt.access_token.split('.').length, 3)
  t.equal((await router.verifyAccessToken(jwt.access_token)).extra?.iss, idp.issuer)
  const opaque = await idp.machineToken({ resource: OPAQUE })
  t.equal((await router.verifyAccessToken(opaque.access_token)).clientId, idp.clients.machine.client_id)
})
