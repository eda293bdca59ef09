// The broker refuses bad input with the spec's error, and issues nothing.
import { createPkce, requestToken } from '@portcullis/dev-idp'
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { type BrokerStack, registerNativeClient, startBrokerStack } from './fixtures/broker-stack.js'

const REDIRECT = 'http://127.0.0.1:8765/oauth/callback'

function authorizeUrl(stack: BrokerStack, clientId: string, params: Record<string, string | undefined>): URL {
  const url = new URL(`${stack.origin}/authorize`)
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'notes:read',
    resource: stack.resource,
    state: 'state-1',
    login_hint: 'bob',
    ...params,
  }
  for (const [name, value] of Object.entries(all)) if (value !== undefined) url.searchParams.set(name, value)
  return url
}

t.test('bad input', async (t) => {
  const stack = await startBrokerStack(t)
  const clientId = await registerNativeClient(stack, 'bad input', REDIRECT)
  const pkce = createPkce()
  const withPkce = { code_challenge: pkce.challenge, code_challenge_method: 'S256' }

  t.test('PKCE missing: invalid_request at the redirect URI, no code', async (t) => {
    const response = await new BrokerBrowser().authorize(authorizeUrl(stack, clientId, {}), {
      redirectUri: REDIRECT,
    })
    t.equal(response.error, 'invalid_request')
    t.equal(response.code, undefined)
    t.equal(response.iss, stack.origin, 'RFC 9207 iss on errors too')
  })

  t.test('PKCE plain: refused, no code', async (t) => {
    const url = authorizeUrl(stack, clientId, {
      code_challenge: pkce.verifier,
      code_challenge_method: 'plain',
    })
    const response = await new BrokerBrowser().authorize(url, { redirectUri: REDIRECT })
    t.equal(response.error, 'invalid_request')
    t.equal(response.code, undefined)
  })

  // RFC 8252 §7.3: a loopback redirect of a native client may differ in its port; nothing else may.
  t.test('redirect URIs one character off: an error page, no redirect at all', async (t) => {
    const variants = [
      `${REDIRECT}x`,
      REDIRECT.slice(0, -1),
      `${REDIRECT}/`,
      REDIRECT.replace('http:', 'https:'),
      REDIRECT.toUpperCase(),
      REDIRECT.replace('127.0.0.1', '127.0.0.2'),
    ]
    for (const redirect of variants) {
      const response = await fetch(authorizeUrl(stack, clientId, { ...withPkce, redirect_uri: redirect }), {
        redirect: 'manual',
      })
      t.equal(response.status, 400, redirect)
      t.equal(response.headers.get('location'), null)
      t.match(await response.text(), /redirect_uri/)
    }
  })

  t.test('a replayed code is invalid_grant', async (t) => {
    const response = await new BrokerBrowser().authorize(authorizeUrl(stack, clientId, withPkce), {
      redirectUri: REDIRECT,
    })
    t.type(response.code, 'string')
    const params = {
      grant_type: 'authorization_code',
      code: response.code,
      redirect_uri: REDIRECT,
      code_verifier: pkce.verifier,
    }
    const first = await requestToken(`${stack.origin}/token`, params, { client_id: clientId })
    t.type(first.access_token, 'string')
    const replay = await requestToken(`${stack.origin}/token`, params, { client_id: clientId }).catch(
      (e) => e,
    )
    t.match(replay, { status: 400, error: 'invalid_grant' })
    // RFC 6749 §4.1.2: tokens issued for a replayed code are revoked.
    const refresh = await requestToken(
      `${stack.origin}/token`,
      { grant_type: 'refresh_token', refresh_token: first.refresh_token },
      { client_id: clientId },
    ).catch((e) => e)
    t.match(refresh, { error: 'invalid_grant' }, 'the first exchange’s refresh token is revoked')
  })

  t.test('a wrong code verifier is invalid_grant', async (t) => {
    const response = await new BrokerBrowser().authorize(authorizeUrl(stack, clientId, withPkce), {
      redirectUri: REDIRECT,
    })
    const answer = await requestToken(
      `${stack.origin}/token`,
      {
        grant_type: 'authorization_code',
        code: response.code,
        redirect_uri: REDIRECT,
        code_verifier: createPkce().verifier,
      },
      { client_id: clientId },
    ).catch((e) => e)
    t.match(answer, { status: 400, error: 'invalid_grant' })
  })

  t.test('upstream callback with a state this browser did not start: 400, nothing issued', async (t) => {
    const browser = new BrokerBrowser()
    // Start a sign-in and stop where the browser is sent upstream: this browser now holds its state cookie.
    let url = authorizeUrl(stack, clientId, withPkce)
    while (url.origin === stack.origin) {
      const cookie = browser.jar.header(url)
      const hop = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} })
      browser.jar.store(url, hop.headers.getSetCookie())
      url = new URL(hop.headers.get('location')!, url)
    }
    const realState = url.searchParams.get('state')!
    const callback = new URL(`${stack.origin}/oauth/upstream/callback`)
    t.match(browser.jar.header(callback), realState, 'the state is bound to this browser by a cookie')
    for (const query of ['state=forged&code=abc', 'code=abc', '', `state=${realState}x&code=abc`]) {
      const response = await fetch(`${callback}?${query}`, {
        redirect: 'manual',
        headers: { cookie: browser.jar.header(callback)! },
      })
      t.equal(response.status, 400, `callback ?${query}`)
      t.equal(response.headers.get('location'), null)
      t.equal(response.headers.get('x-frame-options'), 'DENY')
    }
    // The same state from another browser (no cookie) is refused too.
    const elsewhere = await fetch(`${callback}?state=${realState}&code=abc`, { redirect: 'manual' })
    t.equal(elsewhere.status, 400, 'the real state without this browser’s cookie')
  })

  t.test('consent POST without its CSRF token: 403, nothing issued', async (t) => {
    const browser = new BrokerBrowser('without-csrf')
    const failure = await browser
      .authorize(authorizeUrl(stack, clientId, { ...withPkce, login_hint: 'alice' }), {
        redirectUri: REDIRECT,
      })
      .catch((e: Error) => e)
    t.match(failure, { message: /status 403/ })
    const consent = browser.consentPages[0]
    t.ok(consent, 'the consent page was shown')
    t.equal(consent?.headers.get('x-frame-options'), 'DENY', 'consent page cannot be framed')
    t.match(consent?.headers.get('content-security-policy'), /frame-ancestors 'none'/)
    t.match(consent?.html, /bad input/, 'names the client')
    t.match(consent?.html, /127\.0\.0\.1:8765/, 'shows the redirect host')
    t.match(consent?.html, /notes:read/, 'shows the scopes')
  })

  t.test('no scope and no resource: the resource’s default scopes, cut to the user’s', async (t) => {
    const url = authorizeUrl(stack, clientId, { ...withPkce, scope: undefined, resource: undefined })
    const response = await new BrokerBrowser().authorize(url, { redirectUri: REDIRECT })
    t.type(response.code, 'string')
    const tokens = await requestToken(
      `${stack.origin}/token`,
      {
        grant_type: 'authorization_code',
        code: response.code,
        redirect_uri: REDIRECT,
        code_verifier: pkce.verifier,
      },
      { client_id: clientId },
    )
    t.equal(tokens.scope, 'notes:read')
    const info = await stack.broker.jwtVerifier(stack.resource).verifyAccessToken(tokens.access_token)
    t.equal(info.resource?.href, stack.resource, 'aud is the MCP resource (the only one)')
  })

  t.test('unknown resource: invalid_target', async (t) => {
    const url = authorizeUrl(stack, clientId, { ...withPkce, resource: 'https://elsewhere.example/mcp' })
    const response = await new BrokerBrowser().authorize(url, { redirectUri: REDIRECT })
    t.equal(response.error, 'invalid_target')
  })
})

t.test('option errors name the owner and the option', async (t) => {
  const { createAuthorizationServer } = await import('@portcullis/authorization-server')
  await t.rejects(
    createAuthorizationServer({
      issuer: 'http://mcp.example.com',
      resources: [],
      upstream: { issuer: 'https://id.example.com', clientId: 'x', clientSecret: 'y' },
    }),
    {
      name: 'TypeError',
      message: /^createAuthorizationServer: .*option "issuer": must use https.*option "resources"/,
    },
  )
  await t.rejects(
    createAuthorizationServer({
      issuer: 'https://mcp.example.com',
      resources: [{ resource: 'https://mcp.example.com/mcp', scopes: ['notes:read'] }],
      upstream: { issuer: 'https://id.example.com', clientId: 'x', clientSecret: 'y' },
    }),
    { message: /option "roles": give roles .* or upstream.preset/ },
  )
})
