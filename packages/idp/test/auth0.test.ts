import { createGate } from '@portcullis/core'
import { startDevIdp } from '@portcullis/dev-idp'
import { auth0 } from '@portcullis/idp'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'

// An Auth0-shaped dev IdP (issuer with a trailing slash, permissions, azp, aud array with
// /userinfo when openid is granted) issues the tokens; jose mints only what it cannot (a token
// for a real-looking tenant host).

const RESOURCE = 'http://127.0.0.1:4200/mcp'
const OTHER_API = 'http://127.0.0.1:4201/mcp'

const idp = await startDevIdp({
  shape: 'auth0',
  resources: [{ resource: RESOURCE }, { resource: OTHER_API }],
})
t.teardown(() => idp.close())

const preset = auth0({
  domain: idp.url,
  audience: RESOURCE,
  roles: { 'notes:admin': ['notes:admin', 'reports:read'] },
})

t.test('issuer with its trailing slash, keys at /.well-known/jwks.json', async (t) => {
  t.equal(idp.issuer, `${idp.url}/`)
  t.same(preset.options.authorizationServers, [idp.issuer])
  t.same(preset.description.issuers, [idp.issuer])
  t.equal(preset.description.jwksUri, `${idp.url}/.well-known/jwks.json`)
  t.equal(preset.description.jwksUri, idp.endpoints.jwks)
  t.same(auth0({ domain: 'acme.eu.auth0.com', audience: RESOURCE }).options.authorizationServers, [
    'https://acme.eu.auth0.com/',
  ])
  t.equal(
    auth0({ domain: 'login.example.com', audience: RESOURCE }).description.jwksUri,
    'https://login.example.com/.well-known/jwks.json',
    'a custom domain changes issuer and keys alike',
  )
})

t.test('a user token (aud array with /userinfo) is accepted; permissions map to scopes', async (t) => {
  const token = (await idp.userToken({ user: 'alice', scope: 'openid notes:read' })).access_token
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
  t.same(payload.aud, [RESOURCE, `${idp.url}/userinfo`], 'the array aud Auth0 issues with openid')
  const auth = await preset.options.verifier.verifyAccessToken(token)
  t.equal(auth.clientId, idp.clients.public.client_id, 'azp')
  t.same(auth.scopes, ['notes:read', 'notes:admin', 'reports:read'], 'scope, then the mapped permission')

  const bob = await preset.options.verifier.verifyAccessToken(
    (await idp.userToken({ user: 'bob', scope: 'notes:read' })).access_token,
  )
  t.same(bob.scopes, ['notes:read'], 'unmapped permissions grant nothing')

  const asScopes = auth0({
    domain: idp.url,
    audience: RESOURCE,
    claims: { scopes: ['scope', 'permissions'] },
  })
  const direct = await asScopes.options.verifier.verifyAccessToken(
    (await idp.userToken({ user: 'alice', scope: 'notes:read' })).access_token,
  )
  t.same(direct.scopes, ['notes:read', 'notes:write', 'notes:admin'], 'permissions read as scopes when asked')
})

t.test('a machine token (gty client-credentials) is accepted', async (t) => {
  const auth = await preset.options.verifier.verifyAccessToken(
    (await idp.machineToken({ scope: 'notes:read' })).access_token,
  )
  t.equal(auth.extra?.sub, `${idp.clients.machine.client_id}@clients`)
  t.same(auth.scopes, ['notes:read'])
})

t.test('the RFC 9068 dialect (typ at+jwt, client_id) is accepted too', async (t) => {
  const rfc = await startDevIdp({
    shape: 'auth0',
    auth0Dialect: 'rfc9068_profile_authz',
    resources: [{ resource: RESOURCE }],
  })
  t.teardown(() => rfc.close())
  const auth = await auth0({ domain: rfc.url, audience: RESOURCE }).options.verifier.verifyAccessToken(
    (await rfc.userToken({ user: 'alice', scope: 'notes:read' })).access_token,
  )
  t.equal(auth.clientId, rfc.clients.public.client_id, 'client_id')
})

t.test('a token requested without an audience is refused with the reason and the fix', async (t) => {
  const opaque = (await idp.machineToken({ resource: null, scope: '' })).access_token
  t.equal(opaque.split('.').length, 1, 'no audience: not a JWT')
  const error = await refusal(preset.options.verifier, opaque)
  t.equal(error.code, 'invalid_token')
  t.equal(error.reason, 'token_malformed')
  t.match(error.message, /Auth0 issued an opaque token, which it does when no API audience is requested/)
  t.match(error.message, new RegExp(`request audience=${RESOURCE}`))

  // What Auth0 hands out for /userinfo can also be a JWE (five parts).
  const jwe = ['eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0', '', 'aXY', 'Y2lwaGVy', 'dGFn'].join('.')
  const encrypted = await refusal(preset.options.verifier, jwe)
  t.equal(encrypted.reason, 'token_encrypted')
  t.match(encrypted.message, /Auth0 issued an encrypted \(JWE\) token/)

  const gate = createGate({ ...preset.options, resource: RESOURCE })
  const result = await gate.authenticate({ authorization: `Bearer ${opaque}` })
  t.equal(result.ok, false)
  if (!result.ok) {
    t.equal(result.reply.status, 401)
    t.match(result.reply.headers['WWW-Authenticate'], /error_description="[^"]*request audience=/)
  }
})

t.test('the classic misconfigurations are refused', async (t) => {
  const idToken = (await idp.userToken({ user: 'alice', scope: 'openid notes:read' })).id_token!
  const id = await refusal(preset.options.verifier, idToken)
  t.equal(id.reason, 'audience_mismatch', 'ID token')
  t.match(id.message, /looks like an ID token/)

  const refresh = (await idp.userToken({ user: 'alice', scope: 'notes:read' })).refresh_token!
  t.equal(await outcome(preset.options.verifier, refresh), 'invalid_token/token_malformed', 'refresh token')

  const other = (await idp.userToken({ user: 'alice', resource: OTHER_API, scope: 'notes:read' }))
    .access_token
  const foreign = await refusal(preset.options.verifier, other)
  t.equal(foreign.reason, 'audience_mismatch', 'token for another API of the tenant')
  t.match(foreign.message, /Auth0 sets aud to the Identifier of the API requested/)
})

t.test('array aud of a real tenant host, minted for the shape only a real tenant has', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }
  const tenant = auth0({ domain: 'acme.eu.auth0.com', audience: 'https://mcp.example.com/mcp', keys: [jwk] })
  const mint = (claims: Record<string, unknown>) =>
    new SignJWT({
      iss: 'https://acme.eu.auth0.com/',
      sub: 'auth0|123',
      azp: 'app-1',
      scope: 'openid notes:read',
      aud: ['https://mcp.example.com/mcp', 'https://acme.eu.auth0.com/userinfo'],
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey)
  t.equal(await outcome(tenant.options.verifier, await mint({})), 'ok')
  const noSlash = await refusal(tenant.options.verifier, await mint({ iss: 'https://acme.eu.auth0.com' }))
  t.equal(noSlash.reason, 'issuer_mismatch', 'the issuer without its trailing slash')
  t.match(noSlash.message, /they differ only by a trailing slash/)
  t.equal(
    await outcome(
      tenant.options.verifier,
      await mint({ aud: ['https://other.example.com/api', 'https://acme.eu.auth0.com/userinfo'] }),
    ),
    'invalid_token/audience_mismatch',
    'another API of the same tenant',
  )
})

t.test('options are validated, naming the preset and the option', async (t) => {
  t.throws(
    () => auth0({ domain: 'https://acme.auth0.com/path', audience: RESOURCE }),
    /^auth0: option "domain"/,
  )
  t.throws(() => auth0({ domain: 'http://acme.auth0.com', audience: RESOURCE }), /^auth0: option "domain"/)
  t.throws(() => auth0({ domain: 'acme.auth0.com', audience: '' }), /^auth0: option "audience"/)
  t.throws(
    () => auth0({ domain: 'acme.auth0.com', audience: RESOURCE, clockTolerance: 3600 }),
    /option "clockTolerance"/,
  )
})
