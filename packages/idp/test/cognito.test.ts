import { createGate } from '@portcullis/core'
import { cognito } from '@portcullis/idp'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'
import { signer } from './fixtures/signer.js'

// Cognito access tokens carry no aud (idp-realities §3): a shape the dev IdP cannot issue, so
// they are minted with jose as Cognito documents them.

const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123'
const RESOURCE = 'https://mcp.example.com/mcp'
const key = await signer('RS256')
const accessToken = (claims: Record<string, unknown> = {}) =>
  key.mint({
    iss: ISSUER,
    sub: 'user-uuid',
    client_id: 'app-client-1',
    token_use: 'access',
    scope: 'notes-api/notes.read',
    username: 'alice',
    'cognito:groups': ['notes-admins'],
    auth_time: Math.floor(Date.now() / 1000),
    jti: 'j1',
    ...claims,
  })

const preset = cognito({
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientIds: ['app-client-1', 'app-client-2'],
  keys: [key.jwk],
  roles: { 'notes-admins': ['notes-api/notes.admin'] },
})

t.test('issuer, keys, and an audience strategy by client_id', async (t) => {
  t.same(preset.options.authorizationServers, [ISSUER])
  t.same(preset.description.audienceStrategy, { type: 'client_id', values: ['app-client-1', 'app-client-2'] })
  t.equal(
    cognito({ region: 'eu-west-1', userPoolId: 'eu-west-1_AbCdEf123', clientIds: ['a'] }).description.jwksUri,
    `${ISSUER}/.well-known/jwks.json`,
  )
})

t.test('an access token without aud is accepted; groups map to scopes', async (t) => {
  const token = await accessToken()
  t.notOk('aud' in JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()), 'no aud at all')
  const auth = await preset.options.verifier.verifyAccessToken(token)
  t.equal(auth.clientId, 'app-client-1')
  t.same(auth.scopes, ['notes-api/notes.read', 'notes-api/notes.admin'])
  const gate = createGate({ ...preset.options, resource: RESOURCE })
  const result = await gate.authenticate({ authorization: `Bearer ${token}` })
  t.equal(result.ok, true)
  if (result.ok) t.equal(result.auth.resource.href, RESOURCE, 'bound to the gate resource')
  t.equal(await outcome(preset.options.verifier, await accessToken({ client_id: 'app-client-2' })), 'ok')
})

t.test('misconfigurations are refused', async (t) => {
  const other = await refusal(preset.options.verifier, await accessToken({ client_id: 'someone-else' }))
  t.equal(other.reason, 'audience_mismatch', 'an app client not allowed')
  t.match(other.message, /the app client is not in clientIds/)

  const id = await refusal(
    preset.options.verifier,
    await accessToken({ token_use: 'id', client_id: undefined, aud: 'app-client-1', scope: undefined }),
  )
  t.equal(id.reason, 'claim_missing', 'ID token: no client_id claim')
  t.match(id.message, /looks like an ID token/)

  const idWithClient = await refusal(preset.options.verifier, await accessToken({ token_use: 'id' }))
  t.equal(idWithClient.reason, 'id_token_presented', 'token_use must be access')
  t.match(idWithClient.message, /send the access token/)

  t.equal(
    await outcome(
      preset.options.verifier,
      await accessToken({ iss: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other' }),
    ),
    'invalid_token/issuer_mismatch',
    'another user pool',
  )
  // Cognito refresh tokens are not signed JWTs (five parts, encrypted).
  t.equal(
    await outcome(
      preset.options.verifier,
      'eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.a.b.c.d',
    ),
    'invalid_token/token_encrypted',
  )
})

t.test('options are validated', async (t) => {
  t.throws(
    () => cognito({ region: 'Europe', userPoolId: 'eu-west-1_AbC', clientIds: ['a'] }),
    /^cognito: option "region"/,
  )
  t.throws(
    () => cognito({ region: 'eu-west-1', userPoolId: 'pool', clientIds: ['a'] }),
    /option "userPoolId"/,
  )
  t.throws(
    () => cognito({ region: 'eu-west-1', userPoolId: 'eu-west-1_AbC', clientIds: [] }),
    /option "clientIds": name at least one/,
  )
})
