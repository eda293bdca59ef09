// The point of the broker: the upstream IdP offers neither dynamic registration (RFC 7591) nor
// Client ID Metadata Documents, only the broker's configured client, yet MCP clients get in by
// registering with the broker.

import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { startBrokerStack } from './fixtures/broker-stack.js'
import { exchangeRecorder, HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { signInV2, toolResult } from './fixtures/sdk-clients.js'

t.test('an upstream without DCR or CIMD; MCP clients still get in through the broker', async (t) => {
  const stack = await startBrokerStack(t)
  t.equal(stack.idp.registration, false, 'the dev IdP runs with registration: false')

  const upstream = (await (await fetch(stack.idp.discoveryUrl)).json()) as Record<string, unknown>
  t.equal(upstream.issuer, stack.idp.issuer)
  t.notOk('registration_endpoint' in upstream, 'the upstream advertises no registration_endpoint')
  t.not(upstream.client_id_metadata_document_supported, true, 'nor client ID metadata documents')

  // A DCR attempt where the dev IdP would otherwise register clients (RFC 7591 §3).
  const dcr = await fetch(`${stack.idp.issuer.replace(/\/$/, '')}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'an MCP client',
      redirect_uris: ['http://127.0.0.1:9/callback'],
      token_endpoint_auth_method: 'none',
    }),
  })
  t.equal(dcr.status, 404, 'registration at the upstream fails')
  const dcrBody = await dcr.text()
  t.notMatch(dcrBody, /client_id/, 'and no client is issued')

  const broker = (await (
    await fetch(`${stack.origin}/.well-known/oauth-authorization-server`)
  ).json()) as Record<string, unknown>
  t.equal(broker.registration_endpoint, `${stack.origin}/register`, 'the broker offers registration')

  const browser = new BrokerBrowser()
  const provider = new HeadlessOAuthProvider({
    user: 'bob',
    clientName: 'MCP client behind a closed IdP',
    browser: (url, options) => browser.authorize(url, options),
  })
  const recorder = exchangeRecorder()
  const { client } = await signInV2(stack.url, provider, recorder.fetch, 'modern')
  t.teardown(() => client.close())
  t.ok(
    recorder.log.some((e) => e.url === `${stack.origin}/register` && e.status === 201),
    'the MCP client registered with the broker',
  )
  t.notOk(
    recorder.log.some((e) => e.url.startsWith(stack.idp.url)),
    'the MCP client never talks to the upstream',
  )
  t.same(
    toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
    { sub: 'bob', client: provider.registeredClient?.client_id, scopes: ['notes:read'] },
    'bob, signed in upstream through the broker’s configured client, calls a tool',
  )
})
