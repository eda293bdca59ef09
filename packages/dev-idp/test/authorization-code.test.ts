import { completeAuthorization, createPkce, OAuthResponseError, startDevIdp } from '@portcullis/dev-idp'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import { postForm, postJson } from './fixtures/http.js'

const RESOURCE = 'http://127.0.0.1:3000/mcp'
const REDIRECT = 'http://127.0.0.1:9999/callback'

async function startIdp(t: Test) {
  const idp = await startDevIdp({
    resources: [{ resource: RESOURCE, scopes: ['notes:read', 'notes:write'] }],
  })
  t.teardown(idp.close)
  return idp
}

type Idp = Awaited<ReturnType<typeof startDevIdp>>

/** RFC 7591 registration of a public client, as an MCP client does it. */
async function registerPublicClient(idp: Idp, grantTypes = ['authorization_code', 'refresh_token']) {
  const { status, body } = await postJson(idp.endpoints.registration!, {
    client_name: 'test client',
    application_type: 'native',
    redirect_uris: [REDIRECT],
    grant_types: grantTypes,
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  })
  if (status !== 201) throw new Error(`registration failed: ${status} ${JSON.stringify(body)}`)
  return body as { client_id: string; client_secret?: string }
}

function authorizationUrl(idp: Idp, params: Record<string, string>) {
  const url = new URL(idp.endpoints.authorization)
  url.search = new URLSearchParams({ response_type: 'code', redirect_uri: REDIRECT, ...params }).toString()
  return url
}

async function verify(idp: Idp, token: string, audience = RESOURCE) {
  return jwtVerify(token, createRemoteJWKSet(new URL(idp.endpoints.jwks)), {
    issuer: idp.issuer,
    audience,
    typ: 'at+jwt',
  })
}

t.test('dynamic registration of a public client', async (t) => {
  const idp = await startIdp(t)
  const client = await registerPublicClient(idp)
  t.type(client.client_id, 'string')
  t.equal(client.client_secret, undefined, 'a public client gets no secret')
  const bad = await postJson(idp.endpoints.registration!, { redirect_uris: ['not a url'] })
  t.equal(bad.status, 400)
  t.equal(bad.body?.error, 'invalid_redirect_uri')
})

t.test(
  'registration with resource scopes, as MCP SDK clients send it, leaves room for step-up',
  async (t) => {
    const idp = await startIdp(t)
    const registered = await postJson(idp.endpoints.registration!, {
      client_name: 'sdk-like client',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'notes:read',
    })
    t.equal(registered.status, 201)
    const clientId = registered.body?.client_id as string
    // A later authorization asks for more than was registered (MCP step-up after 403 insufficient_scope).
    const pkce = createPkce()
    const { code, error } = await completeAuthorization(
      authorizationUrl(idp, {
        client_id: clientId,
        resource: RESOURCE,
        scope: 'notes:read notes:write',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
      }),
    )
    t.equal(error, undefined)
    const token = await postForm(idp.endpoints.token, {
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: REDIRECT,
      code_verifier: pkce.verifier,
      client_id: clientId,
    })
    t.equal((await verify(idp, token.body?.access_token)).payload.scope, 'notes:read notes:write')

    const malformed = await fetch(idp.endpoints.registration!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"redirect_uris": [',
    })
    t.equal(malformed.status, 400)
    t.equal(((await malformed.json()) as { error: string }).error, 'invalid_request')
    const huge = await postJson(idp.endpoints.registration!, {
      redirect_uris: [REDIRECT],
      padding: 'x'.repeat(60_000),
    })
    t.equal(huge.status, 400)
  },
)

t.test('authorization code + PKCE + resource with plain fetch, headless login from login_hint', async (t) => {
  const idp = await startIdp(t)
  const client = await registerPublicClient(idp)
  const pkce = createPkce()
  let url: URL = authorizationUrl(idp, {
    client_id: client.client_id,
    scope: 'notes:read notes:write',
    resource: RESOURCE,
    state: 'state-1',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    login_hint: 'alice',
  })

  // Follow the redirects by hand, keeping cookies, until the IdP sends the browser to the client.
  const cookies = new Map<string, string>()
  let hops = 0
  while (!url.href.startsWith(REDIRECT)) {
    t.ok(++hops < 10, 'few redirects')
    const response = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    })
    t.equal(response.status, 303, `${url.pathname} redirects`)
    for (const c of response.headers.getSetCookie()) {
      const [pair = ''] = c.split(';')
      const [name = '', value = ''] = pair.split('=')
      if (value) cookies.set(name, value)
    }
    url = new URL(response.headers.get('location')!, url)
  }
  t.equal(url.searchParams.get('state'), 'state-1')
  // RFC 9207 §2: the issuer identifier comes with the code.
  t.equal(url.searchParams.get('iss'), idp.issuer)
  const code = url.searchParams.get('code')
  t.type(code, 'string')

  const token = await postForm(idp.endpoints.token, {
    grant_type: 'authorization_code',
    code: code!,
    redirect_uri: REDIRECT,
    code_verifier: pkce.verifier,
    client_id: client.client_id,
    resource: RESOURCE,
  })
  t.equal(token.status, 200)
  t.equal(token.body?.token_type, 'Bearer')
  t.equal(token.body?.expires_in, 600)
  t.type(token.body?.refresh_token, 'string')

  const accessToken = token.body?.access_token as string
  t.equal(decodeProtectedHeader(accessToken).typ, 'at+jwt')
  const { payload } = await verify(idp, accessToken)
  t.equal(payload.aud, RESOURCE)
  t.equal(payload.sub, 'alice')
  t.equal(payload.scope, 'notes:read notes:write')
  t.equal(payload.client_id, client.client_id)
  t.same(payload.roles, ['notes-admin', 'notes-editor'])
  t.equal(payload.email, 'alice@example.test')
  t.ok((payload.exp ?? 0) - (payload.iat ?? 0) === 600)
})

t.test('without login_hint the default user signs in; unknown names sign in without roles', async (t) => {
  const idp = await startIdp(t)
  const first = await idp.userToken({})
  t.equal((await verify(idp, first.access_token)).payload.sub, 'alice')
  // zed has no role: every notes scope is governed by a role, so nothing is left to grant.
  await t.rejects(
    idp.userToken({ user: 'zed' }),
    /invalid_scope: user zed \(roles: \(none\)\) may not have notes:read notes:write/,
  )
})

t.test('userToken narrows scopes; scopes unknown to the resource are dropped', async (t) => {
  const idp = await startIdp(t)
  const tokens = await idp.userToken({ user: 'bob', scope: 'notes:read mystery' })
  t.equal(tokens.scope, 'notes:read')
  t.equal((await verify(idp, tokens.access_token)).payload.scope, 'notes:read')
})

t.test('PKCE is required for every client, S256 only', async (t) => {
  const idp = await startIdp(t)
  const publicClient = await registerPublicClient(idp)
  const confidential = await postJson(idp.endpoints.registration!, {
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'client_secret_basic',
  })
  t.type(confidential.body?.client_secret, 'string')

  for (const clientId of [publicClient.client_id, confidential.body?.client_id as string]) {
    const noPkce = await completeAuthorization(
      authorizationUrl(idp, { client_id: clientId, resource: RESOURCE, scope: 'notes:read' }),
    )
    t.equal(noPkce.error, 'invalid_request', `${clientId}: missing PKCE refused`)
    t.match(noPkce.errorDescription, /PKCE/)
    t.equal(noPkce.iss, idp.issuer, 'RFC 9207: iss on errors too')
  }
  const plain = await completeAuthorization(
    authorizationUrl(idp, {
      client_id: publicClient.client_id,
      code_challenge: 'a'.repeat(43),
      code_challenge_method: 'plain',
    }),
  )
  t.equal(plain.error, 'invalid_request')
})

t.test('a wrong code_verifier is invalid_grant', async (t) => {
  const idp = await startIdp(t)
  const client = await registerPublicClient(idp)
  const pkce = createPkce()
  const { code } = await completeAuthorization(
    authorizationUrl(idp, {
      client_id: client.client_id,
      resource: RESOURCE,
      scope: 'notes:read',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    }),
  )
  const token = await postForm(idp.endpoints.token, {
    grant_type: 'authorization_code',
    code: code!,
    redirect_uri: REDIRECT,
    code_verifier: createPkce().verifier,
    client_id: client.client_id,
  })
  t.equal(token.status, 400)
  t.equal(token.body?.error, 'invalid_grant')
})

t.test('an unknown resource is invalid_target (RFC 8707 §2)', async (t) => {
  const idp = await startIdp(t)
  const client = await registerPublicClient(idp)
  const pkce = createPkce()
  const response = await completeAuthorization(
    authorizationUrl(idp, {
      client_id: client.client_id,
      resource: 'http://127.0.0.1:3999/other',
      scope: 'notes:read',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    }),
  )
  t.equal(response.error, 'invalid_target')
  t.match(response.errorDescription, /http:\/\/127\.0\.0\.1:3000\/mcp/, 'names the known resources')
  const machine = await idp.machineToken({ resource: 'http://127.0.0.1:3999/other' }).catch((e) => e)
  t.type(machine, OAuthResponseError)
  t.equal((machine as OAuthResponseError).error, 'invalid_target')
  t.equal((machine as OAuthResponseError).endpoint, 'token')
  t.equal((machine as OAuthResponseError).status, 400)
})

t.test(
  'userToken with an unknown resource rejects with OAuthResponseError, as the README says',
  async (t) => {
    const idp = await startIdp(t)
    const error = await idp.userToken({ resource: 'http://127.0.0.1:3999/other' }).catch((e) => e)
    t.type(error, OAuthResponseError)
    t.match(error, {
      endpoint: 'authorization',
      status: undefined,
      error: 'invalid_target',
      errorDescription: /http:\/\/127\.0\.0\.1:3000\/mcp/,
      message: /^authorization request failed with invalid_target: /,
    })
  },
)

t.test('a resource with a trailing slash finds its canonical entry', async (t) => {
  const idp = await startIdp(t)
  const tokens = await idp.userToken({ resource: `${RESOURCE}/` })
  t.equal((await verify(idp, tokens.access_token)).payload.aud, RESOURCE)
})

t.test('refresh tokens rotate for public clients; a reused one fails', async (t) => {
  const idp = await startIdp(t)
  const first = await idp.userToken({ user: 'bob', scope: 'notes:read' })
  t.type(first.refresh_token, 'string')
  const refresh = (token: string) =>
    postForm(idp.endpoints.token, {
      grant_type: 'refresh_token',
      refresh_token: token,
      client_id: idp.clients.public.client_id,
    })
  const second = await refresh(first.refresh_token!)
  t.equal(second.status, 200)
  t.type(second.body?.refresh_token, 'string')
  t.not(second.body?.refresh_token, first.refresh_token, 'rotated (OAuth 2.1 §4.3.1)')
  const { payload } = await verify(idp, second.body?.access_token)
  t.equal(payload.sub, 'bob')
  t.equal(payload.aud, RESOURCE, 'the granted resource without asking again')
  t.equal(payload.scope, 'notes:read')

  const reused = await refresh(first.refresh_token!)
  t.equal(reused.status, 400)
  t.equal(reused.body?.error, 'invalid_grant')
})

t.test('a client not registered for the refresh grant gets no refresh token', async (t) => {
  const idp = await startIdp(t)
  const client = await registerPublicClient(idp, ['authorization_code'])
  const pkce = createPkce()
  const { code } = await completeAuthorization(
    authorizationUrl(idp, {
      client_id: client.client_id,
      resource: RESOURCE,
      scope: 'notes:read',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    }),
  )
  const token = await postForm(idp.endpoints.token, {
    grant_type: 'authorization_code',
    code: code!,
    redirect_uri: REDIRECT,
    code_verifier: pkce.verifier,
    client_id: client.client_id,
  })
  t.equal(token.status, 200)
  t.equal(token.body?.refresh_token, undefined)
  t.equal((await verify(idp, token.body?.access_token)).payload.aud, RESOURCE)
})

t.test('a malformed login_hint is refused at the client, not by a crash', async (t) => {
  const idp = await startIdp(t)
  const pkce = createPkce()
  const url = new URL(idp.endpoints.authorization)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: idp.clients.public.client_id,
    redirect_uri: 'http://127.0.0.1/callback',
    resource: RESOURCE,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    login_hint: 'x'.repeat(300),
  }).toString()
  const response = await completeAuthorization(url)
  t.equal(response.error, 'invalid_request')
  t.match(response.errorDescription, /login_hint/)
})
