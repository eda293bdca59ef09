import { createGate } from '@portcullis/core'
import { adviceFor, entra } from '@portcullis/idp'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'
import { vendorIdp } from './fixtures/vendor-jwks.js'
import { entraV1Access, entraV1Id, entraV2Access, entraV2Id } from './fixtures/vendor-samples.js'

// Microsoft's published v1.0 and v2.0 samples (vendor-samples.ts), re-signed and served in the
// shape of Entra's key set (no alg, x5t, x5c, an issuer template per key).

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const APP_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3' // the v2 sample's aud (and azp)
const V1_APP_ID = 'ef1da9d4-ff77-4c3e-a005-840c3f830745' // the v1 sample's aud
const V1_APP_ID_URI = 'api://notes-mcp'
const OTHER_API = 'c0ffee00-0000-4000-8000-000000000000'
const RESOURCE = 'https://mcp.example.com/mcp'
const LOGIN = 'https://login.microsoftonline.com'

const idp = await vendorIdp('entra', [entraV2Access.header.kid as string, entraV1Id.header.kid as string])
t.teardown(() => idp.close())

const v2Claims = { iss: `${LOGIN}/${TENANT}/v2.0`, tid: TENANT }
const v1Claims = { iss: `https://sts.windows.net/${TENANT}/`, tid: TENANT }

const v2 = entra({
  tenantId: TENANT,
  audience: APP_ID,
  version: 2,
  jwksUri: idp.jwksUri,
  roles: { 'Notes.Admin': ['notes.admin'] },
})
const v1 = entra({
  tenantId: TENANT,
  audience: [V1_APP_ID, V1_APP_ID_URI],
  version: 1,
  jwksUri: idp.jwksUri,
})

t.test('v2: Microsoft’s sample access token (aud == azp, one app registration) is accepted', async (t) => {
  const token = await idp.mint(entraV2Access, v2Claims)
  const auth = await v2.options.verifier.verifyAccessToken(token)
  t.equal(auth.clientId, APP_ID, 'azp')
  t.same(auth.scopes, ['access_as_user'], 'scp')
  t.equal(auth.extra?.sub, entraV2Access.payload.sub)
  const gate = createGate({ ...v2.options, resource: RESOURCE })
  const result = await gate.authenticate({ authorization: `Bearer ${token}` })
  t.equal(result.ok, true, 'through the gate too')
})

t.test('v2: an ID token is refused as one, whatever its aud and roles', async (t) => {
  for (const [name, claims] of [
    ['aud = the API (client and API one registration)', { aud: APP_ID }],
    ['aud = the API, with the user’s app roles', { aud: APP_ID, roles: ['Notes.Admin'] }],
  ] as const) {
    const token = await idp.mint(entraV2Id, { ...v2Claims, ...claims })
    const error = await refusal(v2.options.verifier, token)
    t.equal(error.reason, 'id_token_presented', name)
    t.match(
      error.message,
      /no azp: it is an Entra ID token.*: this is an ID token; send the access token/,
      name,
    )
    t.match(
      adviceFor(v2.description, error, token)?.fix,
      /You shouldn't use an ID token to call an API/,
      name,
    )
  }
  const client = await refusal(v2.options.verifier, await idp.mint(entraV2Id, v2Claims))
  t.equal(client.reason, 'audience_mismatch', 'aud = the client: not this API')
  t.match(client.message, /looks like an ID token/)
})

t.test(
  'v1: Microsoft’s sample (aud = the application ID) and the App ID URI form are accepted',
  async (t) => {
    const sample = await v1.options.verifier.verifyAccessToken(await idp.mint(entraV1Access, v1Claims))
    t.equal(sample.clientId, entraV1Access.payload.appid, 'appid')
    const uri = await v1.options.verifier.verifyAccessToken(
      await idp.mint(entraV1Access, { ...v1Claims, aud: V1_APP_ID_URI }),
    )
    t.equal(uri.clientId, entraV1Access.payload.appid)
    const other = await refusal(
      v1.options.verifier,
      await idp.mint(entraV1Access, { ...v1Claims, aud: OTHER_API }),
    )
    t.equal(other.reason, 'audience_mismatch', 'another API of the tenant')
    t.match(other.message, /application \(client\) ID or App ID URI/)
    t.notMatch(other.message, /sets aud to the API's App ID URI/, 'the old, wrong hint is gone')
  },
)

t.test('v1: an ID token is refused as one, with and without roles', async (t) => {
  for (const [name, claims] of [
    ['aud = the API', { aud: V1_APP_ID }],
    ['aud = the API, with roles', { aud: V1_APP_ID, roles: ['Notes.Admin'] }],
  ] as const) {
    const error = await refusal(v1.options.verifier, await idp.mint(entraV1Id, { ...v1Claims, ...claims }))
    t.equal(error.reason, 'id_token_presented', name)
    t.match(error.message, /no appid: it is an Entra ID token/, name)
  }
})

t.test('sender-constrained tokens are refused, naming the binding', async (t) => {
  const dpop = await refusal(
    v2.options.verifier,
    await idp.mint(entraV2Access, {
      ...v2Claims,
      cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' },
    }),
  )
  t.equal(dpop.reason, 'token_sender_constrained')
  t.match(dpop.message, /DPoP key \(cnf\.jkt/)
  const dpopToken = await idp.mint(entraV2Access, {
    ...v2Claims,
    cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' },
  })
  const dpopAdvice = adviceFor(v2.description, dpop, dpopToken)
  t.match(
    dpopAdvice?.hint,
    /dpop option is 'allowed' or 'required'/,
    'a DPoP binding names the gate option that checks it',
  )
  t.match(dpopAdvice?.fix, /dpop option to 'allowed'/)
  const mtls = await refusal(
    v1.options.verifier,
    await idp.mint(entraV1Access, {
      ...v1Claims,
      cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' },
    }),
  )
  t.equal(mtls.reason, 'token_sender_constrained')
  t.match(mtls.message, /client certificate \(cnf x5t#S256/)
  const mtlsToken = await idp.mint(entraV1Access, {
    ...v1Claims,
    cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' },
  })
  t.match(
    adviceFor(v1.description, mtls, mtlsToken)?.fix,
    /cannot check a certificate binding/,
    'an mTLS binding cannot be checked here',
  )
})

t.test('version, tenant and lifetime refusals', async (t) => {
  t.equal(
    await outcome(v2.options.verifier, await idp.mint(entraV2Access, { ...v2Claims, ver: '1.0' })),
    'invalid_token/token_type_invalid',
    'ver disagreeing with the preset',
  )
  t.equal(
    await outcome(v2.options.verifier, await idp.mint(entraV1Access, { ...v1Claims, aud: APP_ID })),
    'invalid_token/issuer_mismatch',
    'a v1 token given to a v2 preset',
  )
  t.equal(
    await outcome(v2.options.verifier, await idp.mint(entraV2Access, { ...v2Claims, tid: OTHER_API })),
    'invalid_token/issuer_mismatch',
    'tid disagreeing with the issuer',
  )
  t.equal(
    await outcome(v2.options.verifier, await idp.mint(entraV2Access, { ...v2Claims, exp: 1537234948 })),
    'invalid_token/token_expired',
    'the sample as published has long expired',
  )
})

t.test('keys: the v1 or v2 document, with ?appid= for custom signing keys', async (t) => {
  t.equal(
    entra({ tenantId: TENANT, audience: APP_ID, version: 2 }).description.jwksUri,
    `${LOGIN}/${TENANT}/discovery/v2.0/keys`,
  )
  t.equal(
    entra({ tenantId: TENANT, audience: [V1_APP_ID, V1_APP_ID_URI], version: 1 }).description.jwksUri,
    `${LOGIN}/${TENANT}/discovery/keys`,
    'v1 tokens are described by the v1.0 metadata',
  )
  t.equal(
    entra({ tenantId: TENANT, audience: APP_ID, version: 2, customSigningKeys: true }).description.jwksUri,
    `${LOGIN}/${TENANT}/discovery/v2.0/keys?appid=${APP_ID}`,
  )
  t.same(v1.options.authorizationServers, [`${LOGIN}/${TENANT}/v2.0`], 'clients still sign in through v2.0')
})
