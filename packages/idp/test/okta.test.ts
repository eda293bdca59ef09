import { okta } from '@portcullis/idp'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'
import { signer } from './fixtures/signer.js'

// Okta custom authorization server tokens (idp-realities §3): scp as an array, cid, one fixed
// audience per authorization server. Minted with jose: the dev IdP issues scope strings only.

const ISSUER = 'https://acme.okta.com/oauth2/aus1notes'
const key = await signer('RS256')
const token = (claims: Record<string, unknown> = {}) =>
  key.mint({
    ver: 1,
    iss: ISSUER,
    aud: 'api://notes',
    cid: '0oa1client',
    uid: '00u1user',
    sub: 'alice@example.com',
    scp: ['notes:read', 'notes:write'],
    jti: 'AT.1',
    ...claims,
  })

const preset = okta({
  issuer: ISSUER,
  audience: 'api://notes',
  keys: [key.jwk],
  claims: { roles: ['groups'] },
  roles: { Admins: ['notes:admin'] },
})

t.test('issuer and keys of the custom authorization server', async (t) => {
  t.same(preset.options.authorizationServers, [ISSUER])
  t.equal(okta({ issuer: ISSUER, audience: 'api://notes' }).description.jwksUri, `${ISSUER}/v1/keys`)
})

t.test('an access token with scp as an array is accepted; cid names the client', async (t) => {
  const auth = await preset.options.verifier.verifyAccessToken(await token())
  t.same(auth.scopes, ['notes:read', 'notes:write'])
  t.equal(auth.clientId, '0oa1client')
  t.equal(auth.extra?.sub, 'alice@example.com')
  const admin = await preset.options.verifier.verifyAccessToken(
    await token({ groups: ['Everyone', 'Admins'] }),
  )
  t.same(admin.scopes, ['notes:read', 'notes:write', 'notes:admin'], 'a custom groups claim mapped to scopes')
})

t.test('misconfigurations are refused', async (t) => {
  const defaultServer = await refusal(preset.options.verifier, await token({ aud: 'api://default' }))
  t.equal(defaultServer.reason, 'audience_mismatch', "the default authorization server's audience")
  t.match(defaultServer.message, /Okta sets aud to the authorization server's Audience/)
  t.equal(
    await outcome(preset.options.verifier, await token({ iss: 'https://acme.okta.com/oauth2/default' })),
    'invalid_token/issuer_mismatch',
    'token of another authorization server of the org',
  )
  t.equal(
    await outcome(
      preset.options.verifier,
      await token({ iss: 'https://acme.okta.com', aud: 'https://acme.okta.com' }),
    ),
    'invalid_token/issuer_mismatch',
    'org authorization server token',
  )
  const id = await refusal(
    preset.options.verifier,
    await token({ aud: '0oa1client', scp: undefined, nonce: 'n', at_hash: 'x' }),
  )
  t.equal(id.reason, 'audience_mismatch', 'ID token')
  t.match(id.message, /looks like an ID token/)
})

t.test('the org authorization server is refused at creation', async (t) => {
  t.throws(
    () => okta({ issuer: 'https://acme.okta.com', audience: 'api://default' }),
    /^okta: option "issuer": must be a custom authorization server/,
  )
  t.doesNotThrow(
    () => okta({ issuer: 'https://login.example.com/oauth2/default', audience: 'api://default' }),
    'custom domains work',
  )
})
