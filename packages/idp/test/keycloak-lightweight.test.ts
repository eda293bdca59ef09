import { keycloak } from '@portcullis/idp'
import { loopbackServer, sendJson } from '@portcullis/test-kit'
import t from 'tap'
import { outcome } from './fixtures/outcome.js'
import { signer } from './fixtures/signer.js'

// Keycloak 24+ lightweight access tokens leave out realm_access and resource_access; introspection
// returns them (idp-realities §1.3). The dev IdP cannot introspect JWTs (oidc-provider refuses),
// so a loopback server plays Keycloak's certs and introspection endpoints, checking client auth.

const RESOURCE = 'http://127.0.0.1:4300/mcp'
const key = await signer('RS256')
const answers = new Map<string, Record<string, unknown>>()
const server = await loopbackServer((req, res, body) => {
  if (req.url === '/realms/acme/protocol/openid-connect/certs') return sendJson(res, 200, { keys: [key.jwk] })
  if (req.url === '/realms/acme/protocol/openid-connect/token/introspect' && req.method === 'POST') {
    if (req.headers.authorization !== `Basic ${Buffer.from('notes-rs:rs-secret').toString('base64')}`) {
      return sendJson(res, 401, { error: 'invalid_client' })
    }
    const token = new URLSearchParams(body).get('token') ?? ''
    return sendJson(res, 200, answers.get(token) ?? { active: false })
  }
  sendJson(res, 404, {})
})
t.teardown(() => server.close())
const issuer = `${server.origin}/realms/acme`

const base = (claims: Record<string, unknown>) => ({
  iss: issuer,
  aud: RESOURCE,
  azp: 'notes-app',
  sub: 'alice',
  typ: 'Bearer',
  scope: 'notes:read',
  ...claims,
})
const full = await key.mint(base({ realm_access: { roles: ['notes-admin'] } }))
const lightweight = await key.mint(base({}))
const exp = Math.floor(Date.now() / 1000) + 300
answers.set(lightweight, { active: true, ...base({ realm_access: { roles: ['notes-admin'] } }), exp })
answers.set('opaque-token-1', { active: true, ...base({ realm_access: { roles: [] } }), exp })

const options = {
  url: server.origin,
  realm: 'acme',
  audience: RESOURCE,
  roles: { 'notes-admin': ['notes:admin'] },
  introspection: { clientId: 'notes-rs', clientSecret: 'rs-secret' },
}

t.test('fallback: full tokens stay local, stripped tokens and opaque ones are introspected', async (t) => {
  const preset = keycloak(options)
  const calls = () => server.requests.filter((r) => r.url.split('?')[0]?.endsWith('/introspect')).length
  const before = calls()
  t.same((await preset.options.verifier.verifyAccessToken(full)).scopes, ['notes:read', 'notes:admin'])
  t.equal(calls(), before, 'a full token needs no introspection')

  const auth = await preset.options.verifier.verifyAccessToken(lightweight)
  t.same(auth.scopes, ['notes:read', 'notes:admin'], 'roles recovered by introspection')
  t.equal(calls(), before + 1)

  t.same((await preset.options.verifier.verifyAccessToken('opaque-token-1')).scopes, ['notes:read'])
  t.equal(await outcome(preset.options.verifier, 'revoked-token'), 'invalid_token/token_inactive')
})

t.test('a stripped token must still pass every local check first', async (t) => {
  const preset = keycloak(options)
  const foreign = await key.mint(base({ aud: 'account' }))
  answers.set(foreign, {
    active: true,
    ...base({ aud: RESOURCE, realm_access: { roles: ['notes-admin'] } }),
    exp,
  })
  t.equal(
    await outcome(preset.options.verifier, foreign),
    'invalid_token/audience_mismatch',
    'no introspection rescue',
  )
  const idToken = await key.mint(base({ typ: 'ID' }))
  t.equal(
    await outcome(preset.options.verifier, idToken),
    'invalid_token/id_token_presented',
    'payload typ ID',
  )
})

t.test('use: always introspects every token; without roles to recover, fallback never does', async (t) => {
  const always = keycloak({ ...options, introspection: { ...options.introspection, use: 'always' } })
  answers.set(full, { active: true, ...base({ realm_access: { roles: ['notes-admin'] } }), exp })
  const before = server.requests.length
  await always.options.verifier.verifyAccessToken(full)
  t.equal(server.requests.length, before + 1, 'introspected though complete')

  answers.set(full, { active: false })
  t.equal(
    await outcome(
      keycloak({ ...options, introspection: { ...options.introspection, use: 'always' } }).options.verifier,
      full,
    ),
    'invalid_token/token_inactive',
    'revocation is seen',
  )
  const noRoles = keycloak({ ...options, roles: {} })
  t.equal(await outcome(noRoles.options.verifier, full), 'ok', 'local only: nothing to recover')
})
