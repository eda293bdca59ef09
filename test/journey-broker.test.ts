// The whole MCP journey through the broker (@portcullis/authorization-server) with the dev IdP as
// the upstream in its generic, Keycloak and Auth0 shapes, driven by the real SDK clients: first
// contact by registration, consent, tool calls, step-up, refresh (rotated), the upstream token in
// reach of the server, revocation (which revokes upstream too), and client credentials.

import { UnauthorizedError as UnauthorizedErrorV2 } from '@modelcontextprotocol/client'
import { auth } from '@modelcontextprotocol/sdk/client/auth.js'
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createPkce, requestToken } from '@portcullis/dev-idp'
import t, { type Test } from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import {
  type BrokerStack,
  startBrokerStack,
  UPSTREAM_SHAPES,
  type UpstreamShape,
} from './fixtures/broker-stack.js'
import { exchangeRecorder, HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { asV1, type Era, signInV1, signInV2, toolResult } from './fixtures/sdk-clients.js'

type Line = { sdk: 'v1' | 'v2'; era: Era }
const LINES: Line[] = [
  { sdk: 'v2', era: 'modern' },
  { sdk: 'v2', era: 'legacy' },
  { sdk: 'v1', era: 'legacy' },
]
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  )
const scopesOf = (scope: unknown) =>
  String(scope ?? '')
    .split(' ')
    .filter(Boolean)
    .sort()

/** Whether the upstream IdP still considers its token active (RFC 7662), where the shape has introspection. */
async function upstreamActive(stack: BrokerStack, token: string): Promise<boolean | undefined> {
  const endpoint = stack.idp.endpoints.introspection
  if (endpoint === undefined) return undefined
  const { client_id, client_secret } = stack.idp.clients.resourceServer
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  })
  return ((await response.json()) as { active: boolean }).active
}

async function userJourney(t: Test, shape: UpstreamShape, line: Line) {
  const stack = await startBrokerStack(t, { shape })
  const browser = new BrokerBrowser()
  const provider = new HeadlessOAuthProvider({
    user: 'alice',
    clientName: `broker ${shape} ${line.sdk} ${line.era}`,
    browser: (url, options) => browser.authorize(url, options),
  })
  const recorder = exchangeRecorder()

  // Step 1: first contact by dynamic registration, sign-in upstream, consent.
  const connected =
    line.sdk === 'v2'
      ? await signInV2(stack.url, provider, recorder.fetch, line.era)
      : await signInV1(stack.url, provider, recorder.fetch)
  const { client } = connected
  t.teardown(() => client.close())
  t.equal(provider.authorizationServerMetadata?.issuer, stack.origin, 'first contact: the broker is the AS')
  t.ok(
    recorder.log.some((e) => e.url === `${stack.origin}/register` && e.status === 201),
    'first contact: registered with the broker (RFC 7591)',
  )
  t.notOk(
    recorder.log.some((e) => e.url.startsWith(stack.idp.url)),
    'the MCP client never talks to the upstream',
  )
  t.equal(browser.consentPages.length, 1, 'consent: one page')
  const clientId = provider.registeredClient?.client_id
  t.same(
    toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
    { sub: 'alice', client: clientId, scopes: ['notes:read'] },
    'tool call: whoami as alice with notes:read',
  )
  t.same(
    toolResult(await client.callTool({ name: 'list_notes', arguments: {} })),
    { notes: [] },
    'tool call: list_notes',
  )

  // Step 2: step-up to notes:write, with a consent page for the new scope only.
  if (line.sdk === 'v2') {
    const stepUp = await failure(client.callTool({ name: 'add_note', arguments: { text: 'first' } }))
    t.ok(stepUp instanceof UnauthorizedErrorV2, 'step-up: 2.x starts a new authorization on 403')
    await (connected.transport as { finishAuth(p: URLSearchParams): Promise<void> }).finishAuth(
      provider.takeCallback().params,
    )
  } else {
    const stepUp = await failure(client.callTool({ name: 'add_note', arguments: { text: 'first' } }))
    t.ok(stepUp instanceof StreamableHTTPError, 'step-up: 1.x gives up after its refresh')
    provider.invalidateCredentials('tokens')
    const result = await auth(asV1(provider), {
      serverUrl: stack.url,
      scope: 'notes:read notes:write',
      fetchFn: recorder.fetch,
    })
    t.equal(result, 'REDIRECT')
    await (connected.transport as { finishAuth(code: string): Promise<void> }).finishAuth(
      provider.takeCallback().code,
    )
  }
  t.equal(browser.consentPages.length, 2, 'step-up: a consent page for the added scope')
  t.match(browser.consentPages[1]!.html, /notes:write/)
  t.match(
    toolResult(await client.callTool({ name: 'add_note', arguments: { text: 'first' } })),
    { note: { text: 'first' } },
    'step-up: add_note succeeds',
  )
  const who = toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
  t.same(who.scopes.sort(), ['notes:read', 'notes:write'], 'step-up: the token carries both scopes')

  // Step 3: the upstream token is in the server's reach (never the client's).
  const upstreamToken = await stack.broker.upstream('alice').accessToken()
  t.type(upstreamToken, 'string', 'upstream: a tool handler can have the upstream access token')
  t.notOk(
    JSON.stringify(provider.savedTokens).includes(upstreamToken),
    'upstream: the MCP client never saw the upstream token',
  )
  t.not(await upstreamActive(stack, upstreamToken), false, 'upstream: its token is active at the IdP')

  // Step 4: refresh, rotated for this public client (OAuth 2.1 §4.3.1).
  const before = provider.tokens()
  const refreshed = await requestToken(
    `${stack.origin}/token`,
    { grant_type: 'refresh_token', refresh_token: before.refresh_token },
    { client_id: clientId },
  )
  t.type(refreshed.access_token, 'string', 'refresh: a new access token')
  t.not(refreshed.refresh_token, before.refresh_token, 'refresh: the refresh token is rotated')
  t.same(scopesOf(refreshed.scope), ['notes:read', 'notes:write'], 'refresh: same scopes')

  // Step 5: revocation (RFC 7009) ends the grant here and upstream.
  const revoked = await fetch(`${stack.origin}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: refreshed.refresh_token!, client_id: clientId }),
  })
  t.equal(revoked.status, 200, 'revocation: 200')
  const again = await failure(
    requestToken(
      `${stack.origin}/token`,
      { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token },
      { client_id: clientId },
    ),
  )
  t.match(again, { error: 'invalid_grant' }, 'revocation: the refresh token no longer works')
  // The upstream revocation runs after the response: wait for it.
  let gone: unknown
  for (let i = 0; i < 50 && gone === undefined; i++) {
    gone = await failure(stack.broker.upstream('alice').accessToken())
    if (gone === undefined) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.match(gone, { message: /no upstream tokens/ }, 'revocation: the vaulted upstream tokens are gone')
  t.not(
    await upstreamActive(stack, upstreamToken),
    true,
    'revocation: the upstream token is revoked at the IdP',
  )
}

for (const shape of UPSTREAM_SHAPES) {
  t.test(`upstream ${shape}`, async (t) => {
    for (const line of LINES) {
      t.test(`${line.sdk} client, ${line.era === 'modern' ? '2026-07-28' : '2025'} protocol`, (t) =>
        userJourney(t, shape, line),
      )
    }

    t.test('a reader cannot obtain write scopes', async (t) => {
      const stack = await startBrokerStack(t, { shape })
      const redirectUri = 'http://127.0.0.1:8765/oauth/callback'
      const registration = await fetch(`${stack.origin}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          redirect_uris: [redirectUri],
          token_endpoint_auth_method: 'none',
          client_name: 'reader',
        }),
      })
      const { client_id } = (await registration.json()) as { client_id: string }
      const ask = async (scope: string) => {
        const pkce = createPkce()
        const url = new URL(`${stack.origin}/authorize`)
        url.search = new URLSearchParams({
          response_type: 'code',
          client_id,
          redirect_uri: redirectUri,
          scope,
          resource: stack.resource,
          code_challenge: pkce.challenge,
          code_challenge_method: 'S256',
          login_hint: 'bob',
        }).toString()
        const browser = new BrokerBrowser()
        const response = await browser.authorize(url, { redirectUri })
        if (response.code === undefined) return { error: response.error, browser }
        const tokens = await requestToken(
          `${stack.origin}/token`,
          {
            grant_type: 'authorization_code',
            code: response.code,
            redirect_uri: redirectUri,
            code_verifier: pkce.verifier,
          },
          { client_id },
        )
        return { tokens, browser }
      }
      const mixed = await ask('notes:read notes:write notes:admin')
      t.same(scopesOf(mixed.tokens?.scope), ['notes:read'], 'asked read+write+admin: only read is granted')
      const verified = await stack.broker
        .jwtVerifier(stack.resource)
        .verifyAccessToken(mixed.tokens!.access_token)
      t.same(verified.scopes, ['notes:read'], 'the signed token says so too')
      t.match(
        mixed.browser.consentPages[0]?.html,
        /Not granted[\s\S]*notes:write/,
        'the page says what is not granted',
      )
      const writeOnly = await ask('notes:write')
      t.equal(writeOnly.error, 'access_denied', 'asked write only: access_denied, no code')
    })

    t.test('client credentials for a machine client', async (t) => {
      const stack = await startBrokerStack(t, { shape })
      const machine = new ClientCredentialsProvider({
        clientId: 'reporting-job',
        clientSecret: 'reporting-secret-0123456789-0123456789',
        expectedIssuer: stack.origin,
      })
      const transport = new StreamableHTTPClientTransport(stack.url, { authProvider: machine })
      const client = new Client({ name: 'broker-machine', version: '1.0.0' })
      await client.connect(transport)
      t.teardown(() => client.close())
      t.match(toolResult(await client.callTool({ name: 'whoami', arguments: {} })), {
        sub: 'reporting-job',
        client: 'reporting-job',
      })
      const wider = await requestToken(
        `${stack.origin}/token`,
        { grant_type: 'client_credentials', resource: stack.resource, scope: 'notes:read notes:write' },
        { client_id: 'reporting-job', client_secret: 'reporting-secret-0123456789-0123456789' },
      ).catch((error: unknown) => error)
      const granted = (wider as { scope?: string }).scope
      t.notOk(scopesOf(granted).includes('notes:write'), 'never more than its configured scopes')
      const wrongSecret = await failure(
        requestToken(
          `${stack.origin}/token`,
          { grant_type: 'client_credentials', resource: stack.resource },
          { client_id: 'reporting-job', client_secret: 'reporting-secret-0123456789-012345678X' },
        ),
      )
      t.match(wrongSecret, { error: 'invalid_client' })
    })
  })
}
