import t from 'tap'
import { startStandaloneBroker } from './fixtures/broker.js'

const REGISTRATION = {
  client_name: 'metadata test',
  redirect_uris: ['http://127.0.0.1:8765/callback'],
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
}
const register = (origin: string, headers: Record<string, string> = {}, body: unknown = REGISTRATION) =>
  fetch(`${origin}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })

t.test('RFC 8414 metadata, the OIDC alias, what MCP clients look for', async (t) => {
  const { origin } = await startStandaloneBroker(t)
  const oauth = (await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json()) as Record<
    string,
    unknown
  >
  const openid = (await (await fetch(`${origin}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >
  for (const [name, document] of [
    ['oauth-authorization-server', oauth],
    ['openid-configuration', openid],
  ] as const) {
    t.match(
      document,
      {
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        registration_endpoint: `${origin}/register`,
        revocation_endpoint: `${origin}/revoke`,
        introspection_endpoint: `${origin}/introspect`,
        jwks_uri: `${origin}/jwks`,
        // RFC 9207 §3
        authorization_response_iss_parameter_supported: true,
        client_id_metadata_document_supported: true,
      },
      name,
    )
    t.same(document.code_challenge_methods_supported, ['S256'], `${name}: PKCE S256 only`)
    t.same(document.response_types_supported, ['code'], `${name}: authorization code only`)
    t.ok(
      (document.grant_types_supported as string[]).includes('client_credentials'),
      `${name}: client credentials`,
    )
  }
  const jwks = (await (await fetch(`${origin}/jwks`)).json()) as { keys: Array<Record<string, unknown>> }
  t.ok(jwks.keys.length >= 1)
  t.notOk(
    jwks.keys.some((key) => 'd' in key),
    'only public keys are published',
  )
})

t.test('open registration: a public client registers; scope is ignored (RFC 7591 §2)', async (t) => {
  const { origin } = await startStandaloneBroker(t)
  const response = await register(origin, {}, { ...REGISTRATION, scope: 'notes:read' })
  t.equal(response.status, 201)
  const client = (await response.json()) as Record<string, unknown>
  t.type(client.client_id, 'string')
  t.equal(client.scope, undefined)
  t.equal(client.token_endpoint_auth_method, 'none')
  // application_type decides which redirect URIs are acceptable (OIDC Registration §2, RFC 8252 §7.1).
  const app = { redirect_uris: ['com.example.notes:/callback'] }
  const web = await register(origin, {}, { ...REGISTRATION, ...app, application_type: 'web' })
  t.equal(web.status, 400, 'a web client cannot use a custom-scheme redirect')
  t.match(await web.json(), { error: 'invalid_redirect_uri' })
  const native = await register(origin, {}, { ...REGISTRATION, ...app, application_type: 'native' })
  t.equal(native.status, 201, 'a native client can')
})

t.test('registration with an initial access token (RFC 7591 §3)', async (t) => {
  const token = 'initial-access-token-0123456789-0123456789'
  const { origin } = await startStandaloneBroker(t, {
    registration: { mode: 'initial-access-token', initialAccessToken: token },
  })
  const without = await register(origin)
  t.equal(without.status, 401)
  t.match(await without.json(), { error: 'invalid_token' })
  const wrong = await register(origin, { authorization: `Bearer ${token}x` })
  t.equal(wrong.status, 401)
  const right = await register(origin, { authorization: `Bearer ${token}` })
  t.equal(right.status, 201)
})

t.test('registration is rate-limited per address', async (t) => {
  const { origin } = await startStandaloneBroker(t, { registration: { perMinute: 3 } })
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await register(origin)).status)
  t.same(statuses, [201, 201, 201, 429, 429])
  const limited = await register(origin)
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'Retry-After says when')
  t.match(await limited.json(), { error: 'temporarily_unavailable' })
})

t.test('registration off: no endpoint', async (t) => {
  const { origin } = await startStandaloneBroker(t, { registration: { mode: 'off' } })
  const metadata = (await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json()) as Record<
    string,
    unknown
  >
  t.equal(metadata.registration_endpoint, undefined)
  t.equal((await register(origin)).status, 404)
})

t.test('a huge registration request is refused without reading it all', async (t) => {
  const { origin } = await startStandaloneBroker(t)
  const response = await register(origin, {}, { ...REGISTRATION, client_name: 'x'.repeat(100_000) })
  t.equal(response.status, 413)
})

t.test('unknown paths and methods get clean answers', async (t) => {
  const { origin } = await startStandaloneBroker(t)
  t.equal((await fetch(`${origin}/nope`)).status, 404)
  t.equal((await fetch(`${origin}/interaction/unknown-uid`)).status, 400, 'an interaction without its cookie')
  const post = await fetch(`${origin}/oauth/upstream/callback`, { method: 'POST' })
  t.equal(post.status, 405)
})

t.test(
  'CORS for browser clients: registration from any page, the token endpoint from the client’s redirect origin',
  async (t) => {
    const { origin } = await startStandaloneBroker(t)
    const page = 'http://localhost:6274'
    const preflight = await fetch(`${origin}/register`, {
      method: 'OPTIONS',
      headers: {
        origin: page,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    t.equal(preflight.status, 204)
    t.equal(preflight.headers.get('access-control-allow-origin'), '*')
    t.match(preflight.headers.get('access-control-allow-headers'), /content-type/)
    const registered = await register(
      origin,
      { origin: page },
      { ...REGISTRATION, redirect_uris: [`${page}/oauth/callback`] },
    )
    t.equal(registered.status, 201)
    t.equal(registered.headers.get('access-control-allow-origin'), '*')
    const { client_id } = (await registered.json()) as { client_id: string }
    const token = (from: string) =>
      fetch(`${origin}/token`, {
        method: 'POST',
        headers: { origin: from, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'x',
          client_id,
          redirect_uri: `${page}/oauth/callback`,
          code_verifier: 'x'.repeat(43),
        }),
      })
    t.equal((await token(page)).headers.get('access-control-allow-origin'), page, 'the client’s own origin')
    t.equal(
      (await token('https://evil.example')).headers.get('access-control-allow-origin'),
      null,
      'no other origin',
    )
  },
)
