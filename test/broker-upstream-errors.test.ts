// When sign-in fails at the upstream IdP, the MCP client gets the spec's error at its redirect URI
// (RFC 6749 §4.1.2.1, with its `state` and the broker's RFC 9207 `iss`), never a 500 or a hang; a
// callback that does not belong to this browser's sign-in in flight is refused, once used is used.
import { createPkce } from '@portcullis/dev-idp'
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { type BrokerStack, registerNativeClient, startBrokerStack } from './fixtures/broker-stack.js'

const REDIRECT = 'http://127.0.0.1:8765/oauth/callback'
const CALLBACK_PATH = '/oauth/upstream/callback'
const STATE_COOKIE = 'portcullis.upstream_state'

function authorizeUrl(stack: BrokerStack, clientId: string, extra: Record<string, string> = {}): URL {
  const url = new URL(`${stack.origin}/authorize`)
  const params = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'notes:read',
    resource: stack.resource,
    state: 'client-state-1',
    code_challenge: createPkce().challenge,
    code_challenge_method: 'S256',
    ...extra,
  }
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  return url
}

/** Starts a sign-in and stops where the browser is sent upstream; the browser holds the state cookie. */
async function stopAtUpstream(browser: BrokerBrowser, start: URL, stack: BrokerStack): Promise<URL> {
  let url = start
  while (url.origin === stack.origin) {
    const cookie = browser.jar.header(url)
    const hop = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} })
    browser.jar.store(url, hop.headers.getSetCookie())
    await hop.body?.cancel()
    url = new URL(hop.headers.get('location')!, url)
  }
  return url
}

/** Follows a callback URL in `browser` to the client's redirect URI. */
function followCallback(browser: BrokerBrowser, callback: URL) {
  return browser.authorize(callback, { redirectUri: REDIRECT })
}

t.test('the user presses Deny at the upstream IdP', async (t) => {
  const stack = await startBrokerStack(t, { idp: { login: 'form' } })
  const clientId = await registerNativeClient(stack, 'upstream errors', REDIRECT)
  const browser = new BrokerBrowser()
  const response = await browser.authorize(authorizeUrl(stack, clientId), {
    redirectUri: REDIRECT,
    upstreamForm: 'deny',
  })
  t.equal(response.error, 'access_denied', 'RFC 6749 §4.1.2.1 access_denied at the client')
  t.equal(response.code, undefined, 'no code')
  t.equal(response.state, 'client-state-1', 'the client’s state comes back')
  t.equal(response.iss, stack.origin, 'RFC 9207: the broker’s iss')
  t.match(response.errorDescription, /refused at the identity provider/)
  t.ok(
    browser.hops.some((hop) => hop.url.origin === new URL(stack.idp.issuer).origin),
    'the browser was at the upstream',
  )
  t.ok(
    browser.hops.some((hop) => hop.url.pathname === CALLBACK_PATH && hop.url.searchParams.has('error')),
    'the upstream answered the broker’s callback with an error',
  )
  t.same(
    browser.hops.filter((hop) => hop.status >= 500),
    [],
    'no step answered 5xx',
  )
  t.equal(browser.consentPages.length, 0, 'no consent page after a refusal')

  // Nobody signed in at the broker: the next authorization in this browser goes upstream again.
  const before = browser.hops.length
  const second = await browser.authorize(authorizeUrl(stack, clientId, { state: 'client-state-2' }), {
    redirectUri: REDIRECT,
    upstreamForm: { user: 'bob' },
  })
  t.type(second.code, 'string', 'a later sign-in works')
  t.equal(second.state, 'client-state-2')
  t.ok(
    browser.hops
      .slice(before)
      .some((hop) => hop.url.origin === new URL(stack.idp.issuer).origin && hop.method === 'POST'),
    'and asked the upstream to sign in again (the refusal left no session)',
  )
})

t.test('upstream errors and callbacks that are not this sign-in’s', async (t) => {
  const stack = await startBrokerStack(t)
  const clientId = await registerNativeClient(stack, 'upstream errors', REDIRECT)
  const upstreamIss = stack.idp.issuer

  t.test('the upstream answers invalid_request: server_error at the client, not 500', async (t) => {
    // The dev IdP refuses a login_hint with control characters with invalid_request (its own check);
    // the broker passes the client's hint on, so the upstream's error comes back through the callback.
    const browser = new BrokerBrowser()
    const response = await browser.authorize(authorizeUrl(stack, clientId, { login_hint: 'bob\u0001' }), {
      redirectUri: REDIRECT,
    })
    t.ok(
      browser.hops.some(
        (hop) =>
          hop.url.pathname === CALLBACK_PATH && hop.url.searchParams.get('error') === 'invalid_request',
      ),
      'the upstream answered invalid_request',
    )
    t.equal(response.error, 'server_error', 'the client did nothing wrong upstream: server_error')
    t.equal(response.state, 'client-state-1')
    t.equal(response.iss, stack.origin)
    t.equal(response.code, undefined)
    t.notMatch(response.errorDescription, /login_hint/, 'the upstream’s description is not passed on')
  })

  // RFC 6749 §4.1.2.1 error responses, as an upstream sends them to the broker's redirect URI.
  const upstreamAnswers: Array<{
    name: string
    query: Record<string, string | undefined>
    append?: string
    expected: string
  }> = [
    { name: 'access_denied', query: { error: 'access_denied' }, expected: 'access_denied' },
    {
      name: 'temporarily_unavailable',
      query: { error: 'temporarily_unavailable' },
      expected: 'temporarily_unavailable',
    },
    { name: 'server_error', query: { error: 'server_error' }, expected: 'server_error' },
    { name: 'an unknown error code', query: { error: 'no_such_error' }, expected: 'server_error' },
    {
      name: 'access_denied with another issuer (RFC 9207 mix-up)',
      query: { error: 'access_denied', iss: 'https://evil.example' },
      expected: 'server_error',
    },
    {
      name: 'access_denied without iss from an upstream that sends it',
      query: { error: 'access_denied', iss: undefined },
      expected: 'server_error',
    },
    { name: 'neither code nor error', query: {}, expected: 'server_error' },
    { name: 'a code it never issued', query: { code: 'forged-code' }, expected: 'server_error' },
    // RFC 6749 §3.1: parameters must not be repeated; the first value must not win silently.
    { name: 'a repeated code', query: { code: 'a' }, append: 'code=b', expected: 'server_error' },
    { name: 'a repeated state', query: { code: 'a' }, append: 'state=other', expected: 'server_error' },
    // An error wins over a code beside it: nothing is redeemed.
    {
      name: 'both code and error',
      query: { code: 'a', error: 'access_denied' },
      expected: 'access_denied',
    },
  ]
  for (const answer of upstreamAnswers) {
    t.test(`upstream answers ${answer.name}: ${answer.expected} at the client`, async (t) => {
      const browser = new BrokerBrowser()
      const upstream = await stopAtUpstream(browser, authorizeUrl(stack, clientId), stack)
      const callback = new URL(`${stack.origin}${CALLBACK_PATH}`)
      callback.searchParams.set('state', upstream.searchParams.get('state')!)
      const query: Record<string, string | undefined> = { iss: upstreamIss, ...answer.query }
      for (const [name, value] of Object.entries(query))
        if (value !== undefined) callback.searchParams.set(name, value)
      if (answer.append !== undefined) callback.search += `&${answer.append}`
      const response = await followCallback(browser, callback)
      t.equal(response.error, answer.expected)
      t.equal(response.state, 'client-state-1')
      t.equal(response.iss, stack.origin)
      t.equal(response.code, undefined)
      t.same(
        browser.hops.filter((hop) => hop.status >= 500),
        [],
        'no 5xx',
      )
    })
  }

  t.test('the callback takes GET only: 405 naming it, the sign-in in flight untouched', async (t) => {
    const browser = new BrokerBrowser()
    const upstream = await stopAtUpstream(browser, authorizeUrl(stack, clientId), stack)
    const callback = new URL(`${stack.origin}${CALLBACK_PATH}`)
    callback.search = new URLSearchParams({
      state: upstream.searchParams.get('state')!,
      code: 'a',
    }).toString()
    // The methods the Fastify plugin mounts (PATCH is not mounted: Fastify's 404).
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const answer = await fetch(callback, {
        method,
        redirect: 'manual',
        headers: { cookie: browser.jar.header(callback)! },
      })
      t.equal(answer.status, 405, method)
      t.equal(answer.headers.get('allow'), 'GET', `${method}: Allow GET`)
    }
    // The real answer still completes the sign-in: a wrong method spent nothing.
    const response = await browser.authorize(upstream, { redirectUri: REDIRECT })
    t.type(response.code, 'string', 'the sign-in completes')
  })

  t.test('a callback replayed after a sign-in completed: 400, nothing issued', async (t) => {
    const browser = new BrokerBrowser()
    const response = await browser.authorize(authorizeUrl(stack, clientId), { redirectUri: REDIRECT })
    t.type(response.code, 'string', 'the first sign-in succeeds')
    const callback = browser.hops.find((hop) => hop.url.pathname === CALLBACK_PATH)?.url
    t.ok(callback?.searchParams.get('code'), 'the upstream’s callback carried a code')
    const state = callback!.searchParams.get('state')!
    t.notMatch(browser.jar.header(callback!) ?? '', STATE_COOKIE, 'the state cookie is cleared after use')

    const replays = [
      { name: 'in the same browser', cookie: browser.jar.header(callback!) },
      // An attacker who kept the cookie too: the transaction is spent.
      { name: 'with the state cookie put back', cookie: `${STATE_COOKIE}=${state}` },
    ]
    for (const replay of replays) {
      const answer = await fetch(callback!, {
        redirect: 'manual',
        headers: replay.cookie === undefined ? {} : { cookie: replay.cookie },
      })
      t.equal(answer.status, 400, replay.name)
      t.equal(answer.headers.get('location'), null, `${replay.name}: no redirect`)
      t.match(await answer.text(), /refused/)
    }
  })

  t.test('a second sign-in in the same browser: the first one’s callback is refused', async (t) => {
    const browser = new BrokerBrowser()
    const first = await stopAtUpstream(browser, authorizeUrl(stack, clientId), stack)
    const second = await stopAtUpstream(
      browser,
      authorizeUrl(stack, clientId, { state: 'client-state-2' }),
      stack,
    )
    t.not(first.searchParams.get('state'), second.searchParams.get('state'), 'a fresh state each time')
    const callback = new URL(`${stack.origin}${CALLBACK_PATH}`)
    callback.search = new URLSearchParams({
      state: first.searchParams.get('state')!,
      code: 'abc',
      iss: upstreamIss,
    }).toString()
    const answer = await fetch(callback, {
      redirect: 'manual',
      headers: { cookie: browser.jar.header(callback)! },
    })
    t.equal(answer.status, 400, 'the state is not the one this browser holds now')
    t.equal(answer.headers.get('location'), null)
    // The second one still completes.
    const response = await browser.authorize(second, { redirectUri: REDIRECT })
    t.type(response.code, 'string', 'the sign-in in flight completes')
    t.equal(response.state, 'client-state-2')
  })
})
