import { adviceFor, auth0, okta } from '@portcullis/idp'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'
import { vendorIdp } from './fixtures/vendor-jwks.js'
import {
  auth0Access,
  auth0Id,
  auth0M2m,
  auth0Rfc9068,
  oktaAccess,
  oktaId,
} from './fixtures/vendor-samples.js'

// Auth0's and Okta's published samples (vendor-samples.ts), re-signed and served from the key
// URL each vendor uses, in its JWKS shape. The loopback origin stands for the tenant / org domain.

const JKT = { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' }
const X5T = { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' }

t.test('Auth0', async (t) => {
  const idp = await vendorIdp('auth0', [auth0Access.header.kid as string])
  t.teardown(() => idp.close())
  const API = 'https://example.com/health-api'
  const preset = auth0({ domain: idp.origin, audience: API })
  const tenant = (aud: unknown = [API, `${idp.origin}/userinfo`]) => ({ iss: `${idp.origin}/`, aud })

  t.test('each dialect’s sample and a real M2M token are accepted', async (t) => {
    const access = await preset.options.verifier.verifyAccessToken(await idp.mint(auth0Access, tenant()))
    t.equal(access.clientId, 'my_client_id', 'azp (access_token dialect, typ JWT)')
    t.same(access.scopes, ['openid', 'profile', 'read:patients', 'read:admin'])
    const rfc9068 = await preset.options.verifier.verifyAccessToken(await idp.mint(auth0Rfc9068, tenant()))
    t.equal(rfc9068.clientId, 'my_client_id', 'client_id (rfc9068_profile, typ at+jwt)')
    // Real M2M tokens say gty "client-credentials" (a hyphen) and sub "<client id>@clients".
    const m2m = await preset.options.verifier.verifyAccessToken(await idp.mint(auth0M2m, tenant(API)))
    t.equal(m2m.clientId, auth0M2m.payload.azp)
    t.equal(m2m.extra?.sub, `${auth0M2m.payload.azp}@clients`)
  })

  t.test(
    'URL audiences compare in canonical form, both ways (RFC 9068 §4: "corresponding to")',
    async (t) => {
      for (const aud of [
        `${API}/`,
        'HTTPS://EXAMPLE.COM/health-api',
        [`${API}/`, `${idp.origin}/userinfo`],
      ]) {
        t.equal(
          await outcome(preset.options.verifier, await idp.mint(auth0Access, tenant(aud))),
          'ok',
          JSON.stringify(aud),
        )
      }
      const slashed = auth0({ domain: idp.origin, audience: `${API}/` })
      t.equal(
        await outcome(slashed.options.verifier, await idp.mint(auth0Access, tenant())),
        'ok',
        'Identifier with a slash',
      )
      t.equal(await outcome(slashed.options.verifier, await idp.mint(auth0Access, tenant(`${API}/`))), 'ok')
      for (const aud of [`${API}2`, `${API}/v2`, 'https://example.com', 'http://example.com/health-api']) {
        t.equal(
          await outcome(preset.options.verifier, await idp.mint(auth0Access, tenant(aud))),
          'invalid_token/audience_mismatch',
          `${aud} is another resource`,
        )
      }
    },
  )

  t.test('refusals', async (t) => {
    const id = await refusal(preset.options.verifier, await idp.mint(auth0Id, { iss: `${idp.origin}/` }))
    t.equal(id.reason, 'audience_mismatch', 'the ID token sample (aud = the client)')
    t.match(id.message, /looks like an ID token/)
    const other = await refusal(
      preset.options.verifier,
      await idp.mint(auth0Access, tenant('https://example.com/billing')),
    )
    t.equal(other.reason, 'audience_mismatch', 'a token for another API of the tenant')
    t.match(other.message, /Auth0 sets aud to the Identifier of the API requested/)
    for (const [name, cnf, words] of [
      ['DPoP', JKT, /DPoP key \(cnf\.jkt/],
      ['mTLS', X5T, /client certificate \(cnf x5t#S256/],
    ] as const) {
      const token = await idp.mint(auth0Access, { ...tenant(), cnf })
      const bound = await refusal(preset.options.verifier, token)
      t.equal(bound.reason, 'token_sender_constrained', name)
      t.match(bound.message, words, name)
      // Auth0: "If you enable sender constraining for a client application, then you must also enforce it for the resource server."
      t.match(adviceFor(preset.description, bound, token)?.fix, /sender constraining/, name)
    }
    t.equal(
      await outcome(preset.options.verifier, await idp.mint(auth0Access, { ...tenant(), iss: idp.origin })),
      'invalid_token/issuer_mismatch',
      'the issuer without its trailing slash',
    )
    t.equal(
      await outcome(preset.options.verifier, await idp.mint(auth0Access, { ...tenant(), exp: 1311281970 })),
      'invalid_token/token_expired',
    )
  })
})

t.test('Okta', async (t) => {
  const idp = await vendorIdp('okta', [oktaAccess.header.kid as string])
  t.teardown(() => idp.close())
  const issuer = `${idp.origin}/oauth2/default`
  const preset = okta({ issuer, audience: 'https://api.example.com' })

  t.test('the sample access token is accepted; sub is the user id (uid), not the login', async (t) => {
    const auth = await preset.options.verifier.verifyAccessToken(await idp.mint(oktaAccess, { iss: issuer }))
    t.equal(auth.clientId, oktaAccess.payload.cid, 'cid')
    t.same(auth.scopes, ['openid', 'email', 'flights', 'custom'], 'scp, an array')
    t.equal(auth.extra?.sub, oktaAccess.payload.uid)
  })

  t.test('refusals', async (t) => {
    const id = await refusal(preset.options.verifier, await idp.mint(oktaId, { iss: issuer }))
    t.equal(id.reason, 'audience_mismatch', 'the ID token sample (aud = the client)')
    t.match(id.message, /looks like an ID token/)
    const other = await refusal(
      preset.options.verifier,
      await idp.mint(oktaAccess, { iss: issuer, aud: 'api://default' }),
    )
    t.equal(other.reason, 'audience_mismatch', "another authorization server's audience")
    t.match(other.message, /Okta sets aud to the authorization server's Audience/)
    for (const cnf of [JKT, X5T]) {
      t.equal(
        await outcome(preset.options.verifier, await idp.mint(oktaAccess, { iss: issuer, cnf })),
        'invalid_token/token_sender_constrained',
        Object.keys(cnf)[0]!,
      )
    }
    t.equal(
      await outcome(
        preset.options.verifier,
        await idp.mint(oktaAccess, { iss: `${idp.origin}/oauth2/aus9other` }),
      ),
      'invalid_token/issuer_mismatch',
      'another custom authorization server',
    )
  })

  t.test('org authorization server issuers are refused at start-up, /oauth2/v1 included', async (t) => {
    t.throws(
      () => okta({ issuer: 'https://acme.okta.com', audience: 'api://default' }),
      /custom authorization server/,
    )
    t.throws(
      () => okta({ issuer: 'https://acme.okta.com/oauth2/v1', audience: 'api://default' }),
      /^okta: option "issuer": https:\/\/<org>\.okta\.com\/oauth2\/v1 is where the org authorization server keeps its endpoints, not an issuer/,
    )
    t.throws(
      () => okta({ issuer: 'https://acme.okta.com/oauth2/V1/', audience: 'api://default' }),
      /not an issuer/,
    )
    t.doesNotThrow(() => okta({ issuer: 'https://acme.okta.com/oauth2/v1default', audience: 'x' }))
  })
})
