import { startDevIdp } from '@portcullis/dev-idp'
import t from 'tap'

const ORIGIN = 'http://localhost:6274'

async function preflight(url: string, origin: string) {
  const response = await fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  })
  await response.body?.cancel()
  return response
}

t.test('registration and token endpoints answer loopback browser origins', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)

  for (const url of [idp.endpoints.registration!, idp.endpoints.token]) {
    const response = await preflight(url, ORIGIN)
    t.equal(response.status, 204, `${url} preflight`)
    t.equal(response.headers.get('access-control-allow-origin'), ORIGIN)
    t.match(response.headers.get('access-control-allow-methods') ?? '', /POST/)
    t.match(response.headers.get('access-control-allow-headers') ?? '', /content-type/)
  }

  const registration = await fetch(idp.endpoints.registration!, {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [`${ORIGIN}/oauth/callback`],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
    }),
  })
  t.equal(registration.status, 201)
  t.equal(registration.headers.get('access-control-allow-origin'), ORIGIN)
  const client = (await registration.json()) as { client_id: string }

  // A token request from the browser: the code is bad, but the answer must be readable (CORS) and an OAuth error.
  const token = await fetch(idp.endpoints.token, {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: 'not-a-code',
      code_verifier: 'v'.repeat(43),
      client_id: client.client_id,
      redirect_uri: `${ORIGIN}/oauth/callback`,
    }),
  })
  t.equal(token.status, 400)
  t.equal(token.headers.get('access-control-allow-origin'), ORIGIN)
  t.equal(((await token.json()) as { error: string }).error, 'invalid_grant')
})

t.test('127.0.0.1 and [::1] origins on any port are loopback too', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)
  for (const origin of ['http://127.0.0.1:5173', 'http://[::1]:8080']) {
    const response = await preflight(idp.endpoints.registration!, origin)
    t.equal(response.headers.get('access-control-allow-origin'), origin)
  }
})

t.test('other origins get no CORS grant unless configured', async (t) => {
  const idp = await startDevIdp({ corsOrigins: ['https://inspector.example'] })
  t.teardown(idp.close)
  const refused = await preflight(idp.endpoints.registration!, 'https://evil.example')
  t.equal(refused.status, 403)
  t.equal(refused.headers.get('access-control-allow-origin'), null)

  const post = await fetch(idp.endpoints.registration!, {
    method: 'POST',
    headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:1/cb'], token_endpoint_auth_method: 'none' }),
  })
  await post.body?.cancel()
  t.equal(post.headers.get('access-control-allow-origin'), null)

  const token = await fetch(idp.endpoints.token, {
    method: 'POST',
    headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: idp.clients.public.client_id }),
  })
  t.equal(token.status, 400)
  t.equal(token.headers.get('access-control-allow-origin'), null)
  t.match(((await token.json()) as { error_description: string }).error_description, /origin/)

  const allowed = await preflight(idp.endpoints.registration!, 'https://inspector.example')
  t.equal(allowed.headers.get('access-control-allow-origin'), 'https://inspector.example')
})

t.test('discovery and JWKS are readable from any origin', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)
  for (const url of [idp.discoveryUrl, idp.endpoints.jwks]) {
    const response = await fetch(url, { headers: { origin: 'https://anywhere.example' } })
    await response.body?.cancel()
    t.equal(response.headers.get('access-control-allow-origin'), 'https://anywhere.example')
  }
})
