import { createGate } from '@portcullis/core'
import { entra } from '@portcullis/idp'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'
import { signer } from './fixtures/signer.js'

// Entra access tokens, minted in the shapes Microsoft documents (idp-realities §3): the dev IdP
// cannot issue v1/v2 issuers, tid, scp strings or app roles.

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const PARTNER = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'
const STRANGER = 'ffffffff-0000-4000-8000-000000000000'
const APP_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const APP_ID_URI = 'api://notes-mcp'
const CLIENT = 'b1c2d3e4-0000-4000-8000-000000000001'
const RESOURCE = 'https://mcp.example.com/mcp'

const key = await signer('RS256')
const v2Issuer = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`
const v1Issuer = (tid: string) => `https://sts.windows.net/${tid}/`

const v2Token = (claims: Record<string, unknown> = {}) =>
  key.mint({
    iss: v2Issuer(TENANT),
    aud: APP_ID,
    tid: TENANT,
    azp: CLIENT,
    oid: 'user-oid',
    sub: 'pairwise-sub',
    scp: 'notes.read notes.write',
    ver: '2.0',
    ...claims,
  })
const v1Token = (claims: Record<string, unknown> = {}) =>
  key.mint({
    iss: v1Issuer(TENANT),
    aud: APP_ID_URI,
    tid: TENANT,
    appid: CLIENT,
    sub: 'pairwise-sub',
    scp: 'notes.read',
    ver: '1.0',
    ...claims,
  })

const v2 = entra({
  tenantId: TENANT,
  audience: APP_ID,
  version: 2,
  keys: [key.jwk],
  roles: { 'Notes.Admin': ['notes.admin'] },
})

t.test('v2: issuer, keys and metadata location of the tenant', async (t) => {
  t.same(v2.description.issuers, [v2Issuer(TENANT)])
  t.same(v2.options.authorizationServers, [v2Issuer(TENANT)])
  t.same(v2.description.tenants, [TENANT])
  t.equal(
    entra({ tenantId: TENANT, audience: APP_ID, version: 2 }).description.jwksUri,
    `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`,
  )
})

t.test('v2: a delegated token (scp string) and an app token (roles) are accepted', async (t) => {
  const auth = await v2.options.verifier.verifyAccessToken(await v2Token())
  t.same(auth.scopes, ['notes.read', 'notes.write'], 'scp is space-separated')
  t.equal(auth.clientId, CLIENT, 'azp')
  t.equal(auth.resource, undefined, 'a GUID audience names no URL: the gate uses its own resource')

  const app = await v2.options.verifier.verifyAccessToken(
    await v2Token({ scp: undefined, roles: ['Notes.Admin', 'Other'] }),
  )
  t.same(app.scopes, ['notes.admin'], 'app roles through the role map')

  // typ "JWT" is what Entra sets; accepted on purpose (see entra.ts).
  const gate = createGate({ ...v2.options, resource: RESOURCE })
  const result = await gate.authenticate({ authorization: `Bearer ${await v2Token()}` })
  t.equal(result.ok, true, 'the gate accepts it for its resource')
  if (result.ok) t.equal(result.auth.resource.href, RESOURCE)
})

t.test('v1: sts.windows.net issuer (trailing slash), App ID URI audience, appid', async (t) => {
  const v1 = entra({ tenantId: TENANT, audience: [APP_ID, APP_ID_URI], version: 1, keys: [key.jwk] })
  t.same(v1.description.issuers, [v1Issuer(TENANT)])
  t.same(v1.options.authorizationServers, [v2Issuer(TENANT)], 'clients discover the v2 metadata either way')
  const auth = await v1.options.verifier.verifyAccessToken(await v1Token())
  t.equal(auth.clientId, CLIENT, 'appid')
  t.equal(auth.resource, undefined, 'api:// names no resource URL')
  const gate = createGate({ ...v1.options, resource: RESOURCE })
  t.equal((await gate.authenticate({ authorization: `Bearer ${await v1Token()}` })).ok, true)

  const v2InV1 = await refusal(v1.options.verifier, await v2Token({ aud: APP_ID_URI }))
  t.equal(v2InV1.reason, 'issuer_mismatch')
  t.match(v2InV1.message, /create the preset with version: 2/)
})

t.test('a v1 token given to a v2 preset names the manifest setting', async (t) => {
  const error = await refusal(v2.options.verifier, await v1Token({ aud: APP_ID }))
  t.equal(error.reason, 'issuer_mismatch')
  t.match(error.message, /set accessTokenAcceptedVersion to 2/)
})

t.test('misconfigurations are refused', async (t) => {
  const other = await refusal(v2.options.verifier, await v2Token({ iss: v2Issuer(STRANGER), tid: STRANGER }))
  t.equal(other.reason, 'issuer_mismatch', 'wrong tenant')
  t.match(other.message, new RegExp(`tokens of tenant ${STRANGER} are not accepted`))

  const spoofedTid = await refusal(v2.options.verifier, await v2Token({ tid: STRANGER }))
  t.equal(spoofedTid.reason, 'issuer_mismatch', 'tid disagreeing with the issuer')

  const id = await refusal(v2.options.verifier, await v2Token({ aud: CLIENT, scp: undefined, nonce: 'n' }))
  t.equal(id.reason, 'audience_mismatch', 'ID token (aud = the client)')
  t.match(id.message, /looks like an ID token/)

  const graph = await refusal(
    v2.options.verifier,
    await v2Token({ aud: '00000003-0000-0000-c000-000000000000' }),
  )
  t.equal(graph.reason, 'audience_mismatch', 'token for Microsoft Graph')
  t.match(graph.message, /for Microsoft Graph/)

  const otherApi = await refusal(
    v2.options.verifier,
    await v2Token({ aud: 'c0ffee00-0000-4000-8000-000000000000' }),
  )
  t.equal(otherApi.reason, 'audience_mismatch', 'token for another API of the tenant')
  t.match(otherApi.message, /application \(client\) ID/)

  t.equal(
    await outcome(v2.options.verifier, await v2Token({ exp: Math.floor(Date.now() / 1000) - 3600 })),
    'invalid_token/token_expired',
  )
})

t.test(
  'multi-tenant: one issuer per allowed tenant, anything else refused before any key lookup',
  async (t) => {
    const multi = entra({
      tenantId: 'organizations',
      allowedTenants: [TENANT, PARTNER],
      audience: APP_ID,
      version: 2,
      keys: [key.jwk],
    })
    t.same(multi.description.issuers, [v2Issuer(TENANT), v2Issuer(PARTNER)])
    t.same(multi.options.authorizationServers, [v2Issuer(TENANT), v2Issuer(PARTNER)])
    t.equal(await outcome(multi.options.verifier, await v2Token()), 'ok')
    t.equal(
      await outcome(multi.options.verifier, await v2Token({ iss: v2Issuer(PARTNER), tid: PARTNER })),
      'ok',
    )
    const stranger = await refusal(
      multi.options.verifier,
      await v2Token({ iss: v2Issuer(STRANGER), tid: STRANGER }),
    )
    t.equal(stranger.reason, 'issuer_untrusted')
    t.match(stranger.message, new RegExp(`tokens of tenant ${STRANGER} are not accepted`))
    t.equal(
      await outcome(multi.options.verifier, await v2Token({ iss: v2Issuer(PARTNER), tid: TENANT })),
      'invalid_token/issuer_mismatch',
      "a partner issuer with the home tenant's tid",
    )
  },
)

t.test('options are validated', async (t) => {
  t.throws(
    () => entra({ tenantId: 'contoso.onmicrosoft.com', audience: APP_ID, version: 2 }),
    /^entra: option "tenantId"/,
  )
  t.throws(
    () => entra({ tenantId: 'common', audience: APP_ID, version: 2 }),
    /^entra: option "allowedTenants": a multi-tenant API must list the tenants/,
  )
  t.throws(
    () => entra({ tenantId: TENANT, audience: APP_ID_URI, version: 1 }),
    /^entra: option "audience": must include the API's application \(client\) ID/,
    'v1 aud may be the application ID: an App ID URI alone would refuse such tokens',
  )
  t.same(
    entra({ tenantId: TENANT, audience: `api://${APP_ID}`, version: 1 }).description.audienceStrategy.values,
    [`api://${APP_ID}`, APP_ID],
    'the application ID of an api://<application ID> URI comes along',
  )
  t.throws(
    () => entra({ tenantId: TENANT, audience: APP_ID, version: 3 as never }),
    /option "version": must be 1 or 2/,
  )
  t.throws(
    () => entra({ tenantId: TENANT, audience: APP_ID, version: 2, allowedTenants: ['x'] }),
    /allowedTenants.0/,
  )
})
