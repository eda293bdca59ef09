import { createGate } from '@portcullis/core'
import { adviceFor, cognito, keycloak, oidc } from '@portcullis/idp'
import { loopbackServer, sendJson } from '@portcullis/test-kit'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'
import { vendorIdp } from './fixtures/vendor-jwks.js'
import {
  cognitoAccess,
  cognitoId,
  keycloakAccess,
  keycloakServiceAccount,
  rfc9068Access,
} from './fixtures/vendor-samples.js'

// Cognito's, Keycloak's and an RFC 9068 provider's samples (vendor-samples.ts), re-signed and
// served in each vendor's JWKS shape.

const RESOURCE = 'https://mcp.example.com/mcp'
const JKT = { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' }
const X5T = { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' }

t.test('Cognito', async (t) => {
  // Cognito signs access and ID tokens with different keys, both in the pool's key set.
  const idp = await vendorIdp('cognito', [cognitoAccess.header.kid as string, cognitoId.header.kid as string])
  t.teardown(() => idp.close())
  const options = {
    region: 'us-west-2',
    userPoolId: 'us-west-2_example',
    clientIds: ['1example23456789'],
    jwksUri: idp.jwksUri,
    roles: { admin: ['notes:admin'] },
  }
  const preset = cognito(options)
  const gate = createGate({ ...preset.options, resource: RESOURCE })
  const atGate = async (token: string) => gate.authenticate({ authorization: `Bearer ${token}` })

  t.test('the sample access token (no aud) is bound by client_id', async (t) => {
    const token = await idp.mint(cognitoAccess)
    const auth = await preset.options.verifier.verifyAccessToken(token)
    t.equal(auth.clientId, '1example23456789')
    t.same(auth.scopes, ['aws.cognito.signin.user.admin', 'notes:admin'], 'scope and cognito:groups')
    t.equal(auth.resource, undefined)
    t.equal((await atGate(token)).ok, true)
  })

  t.test('a resource-bound token must name this resource in aud', async (t) => {
    const ours = await idp.mint(cognitoAccess, { aud: `${RESOURCE}/` })
    t.equal((await preset.options.verifier.verifyAccessToken(ours)).resource?.href, RESOURCE)
    t.equal((await atGate(ours)).ok, true, 'aud = the gate’s resource')
    const foreign = await atGate(await idp.mint(cognitoAccess, { aud: 'https://billing.example.com/api' }))
    t.equal(foreign.ok, false, 'aud = another API: refused')
    if (!foreign.ok) {
      t.equal(foreign.error.reason, 'audience_mismatch')
      t.equal(foreign.reply.status, 401)
    }
    const named = await refusal(preset.options.verifier, await idp.mint(cognitoAccess, { aud: 'notes-api' }))
    t.equal(named.reason, 'audience_mismatch', 'a resource server identifier nobody configured')
    t.match(named.message, /bound to resource "notes-api" \(aud\)/)

    const listed = cognito({ ...options, audience: ['notes-api', RESOURCE] })
    t.equal(await outcome(listed.options.verifier, await idp.mint(cognitoAccess, { aud: 'notes-api' })), 'ok')
    t.equal(
      await outcome(listed.options.verifier, await idp.mint(cognitoAccess)),
      'ok',
      'no aud: client_id alone',
    )
    t.equal(
      await outcome(listed.options.verifier, await idp.mint(cognitoAccess, { aud: 'billing-api' })),
      'invalid_token/audience_mismatch',
    )
  })

  t.test('refusals', async (t) => {
    const iss = cognitoAccess.payload.iss
    const id = await refusal(
      preset.options.verifier,
      await idp.mint(cognitoId, { iss, aud: '1example23456789' }),
    )
    t.equal(id.reason, 'claim_missing', 'the ID token sample: no client_id')
    t.match(id.message, /looks like an ID token/)
    const idWithClient = await refusal(
      preset.options.verifier,
      await idp.mint(cognitoId, { iss, aud: undefined, client_id: '1example23456789' }),
    )
    t.equal(idWithClient.reason, 'id_token_presented', 'token_use "id"')
    const other = await refusal(
      preset.options.verifier,
      await idp.mint(cognitoAccess, { client_id: 'other-client' }),
    )
    t.equal(other.reason, 'audience_mismatch', 'an app client not listed')
    for (const cnf of [JKT, X5T]) {
      t.equal(
        await outcome(preset.options.verifier, await idp.mint(cognitoAccess, { cnf })),
        'invalid_token/token_sender_constrained',
        Object.keys(cnf)[0]!,
      )
    }
  })
})

t.test('Keycloak', async (t) => {
  const idp = await vendorIdp('keycloak', [keycloakAccess.header.kid as string])
  t.teardown(() => idp.close())
  const iss = `${idp.origin}/realms/acme`
  const preset = keycloak({
    url: idp.origin,
    realm: 'acme',
    audience: RESOURCE,
    roles: { 'notes-admin': ['notes:admin'] },
  })

  t.test('a realm token with the Audience mapper, typed JWT or (opt-in) at+jwt, is accepted', async (t) => {
    const auth = await preset.options.verifier.verifyAccessToken(await idp.mint(keycloakAccess, { iss }))
    t.equal(auth.clientId, 'mcp-client', 'azp')
    t.same(auth.scopes, ['openid', 'mcp:tools', 'profile', 'email', 'notes:admin'])
    t.equal(
      await outcome(preset.options.verifier, await idp.mint(keycloakAccess, { iss }, { typ: 'at+jwt' })),
      'ok',
    )
  })

  t.test('service-account tokens: aud lists realm-management and account, client_id is set', async (t) => {
    const bare = await refusal(preset.options.verifier, await idp.mint(keycloakServiceAccount, { iss }))
    t.equal(bare.reason, 'audience_mismatch')
    t.match(bare.message, /only through an Audience mapper/)
    const mapped = await preset.options.verifier.verifyAccessToken(
      await idp.mint(keycloakServiceAccount, { iss, aud: ['realm-management', 'account', RESOURCE] }),
    )
    t.equal(mapped.clientId, 'notes-worker')
  })

  t.test('ID, refresh and DPoP-bound tokens are refused, each named for what it is', async (t) => {
    const id = { iss, typ: 'ID', aud: [RESOURCE, 'mcp-client'], nonce: 'n', at_hash: 'x' }
    t.equal(
      await outcome(preset.options.verifier, await idp.mint(keycloakAccess, id)),
      'invalid_token/id_token_presented',
    )
    const refresh = await refusal(
      preset.options.verifier,
      await idp.mint(keycloakAccess, { iss, typ: 'Refresh' }),
    )
    t.equal(refresh.reason, 'token_type_invalid')
    t.match(refresh.message, /send the access token/)
    // Keycloak DPoP guide: bound tokens say typ "DPoP" and carry cnf.jkt.
    const token = await idp.mint(keycloakAccess, { iss, typ: 'DPoP', cnf: JKT })
    const dpop = await refusal(preset.options.verifier, token)
    t.equal(dpop.reason, 'token_sender_constrained')
    t.match(
      dpop.message,
      /DPoP key \(cnf\.jkt.*: the client must send it with a DPoP proof to a gate whose dpop option is 'allowed' or 'required'/,
    )
    t.notMatch(dpop.message, /typ "Bearer"/, 'not told to send a Bearer-typed token')
    t.match(
      adviceFor(preset.description, dpop, token)?.fix,
      /Keycloak bound the token to the client's DPoP key/,
    )
    t.equal(
      await outcome(preset.options.verifier, await idp.mint(keycloakAccess, { iss, typ: 'DPoP' })),
      'invalid_token/token_sender_constrained',
      'typ DPoP without cnf',
    )
  })

  t.test('introspection answers: bearer accepted, sender-constrained refused alike', async (t) => {
    const answers: Record<string, Record<string, unknown>> = {}
    const as = await loopbackServer((_req, res, body) => {
      const token = new URLSearchParams(body).get('token') ?? ''
      sendJson(res, 200, answers[token] ?? { active: false })
    })
    t.teardown(() => as.close())
    const remote = keycloak({
      url: idp.origin,
      realm: 'acme',
      audience: RESOURCE,
      introspection: {
        clientId: 'rs',
        clientSecret: 'rs-secret',
        use: 'always',
        endpoint: `${as.origin}/introspect`,
      },
    })
    const now = Math.floor(Date.now() / 1000)
    const active = { active: true, iss, aud: RESOURCE, exp: now + 300, typ: 'Bearer', azp: 'mcp-client' }
    answers.bearer = { ...active, token_type: 'Bearer' }
    answers.dpop = { ...active, token_type: 'DPoP', typ: 'DPoP', cnf: JKT }
    answers.mtls = { ...active, cnf: X5T }
    t.equal(await outcome(remote.options.verifier, 'bearer'), 'ok')
    const dpop = await refusal(remote.options.verifier, 'dpop')
    t.equal(dpop.reason, 'token_sender_constrained')
    t.match(dpop.message, /DPoP key \(cnf\.jkt/)
    t.match((await refusal(remote.options.verifier, 'mtls')).message, /client certificate \(cnf x5t#S256/)
  })
})

t.test('OIDC (RFC 9068)', async (t) => {
  const idp = await vendorIdp('oidc', [rfc9068Access.header.kid as string])
  t.teardown(() => idp.close())
  const preset = oidc({ issuer: idp.origin, audience: RESOURCE })
  const iss = idp.origin

  t.test('an RFC 9068 access token is accepted, keys found through the metadata', async (t) => {
    const auth = await preset.options.verifier.verifyAccessToken(await idp.mint(rfc9068Access, { iss }))
    t.equal(auth.clientId, 'mcp-inspector')
    t.equal(auth.resource?.href, RESOURCE)
  })

  t.test('refusals', async (t) => {
    const cases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
      ['typ JWT (strict preset)', { iss }, { typ: 'JWT' }, 'typ_invalid'],
      ['an ID token', { iss, aud: 'mcp-inspector', nonce: 'n' }, { typ: 'JWT' }, 'typ_invalid'],
      ['another resource', { iss, aud: 'https://other.example.com/mcp' }, {}, 'audience_mismatch'],
      ['DPoP-bound', { iss, cnf: JKT }, {}, 'token_sender_constrained'],
      ['mTLS-bound', { iss, cnf: X5T }, {}, 'token_sender_constrained'],
      ['no jti (RFC 9068 §2.2)', { iss, jti: undefined }, {}, 'claim_missing'],
    ]
    for (const [name, claims, header, reason] of cases) {
      t.equal(
        await outcome(preset.options.verifier, await idp.mint(rfc9068Access, claims, header)),
        `invalid_token/${reason}`,
        name,
      )
    }
  })
})
