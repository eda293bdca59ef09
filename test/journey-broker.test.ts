// The MCP journey through the broker (@portcullis/authorization-server) with the dev IdP as the
// upstream: first contact by registration, consent, tool calls, step-up, refresh and revocation.
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { startBrokerStack } from './fixtures/broker-stack.js'
import { exchangeRecorder, HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { signInV2, toolResult } from './fixtures/sdk-clients.js'

t.test('2.x client through the broker: bob, a reader', async (t) => {
  const stack = await startBrokerStack(t)
  const browser = new BrokerBrowser()
  const provider = new HeadlessOAuthProvider({
    user: 'bob',
    clientName: 'broker journey 2.x',
    browser: (url, options) => browser.authorize(url, options),
  })
  const recorder = exchangeRecorder()
  const { client } = await signInV2(stack.url, provider, recorder.fetch, 'legacy')
  t.teardown(() => client.close())
  t.equal(
    provider.authorizationServerMetadata?.issuer,
    stack.origin,
    'the broker is the authorization server',
  )
  t.equal(browser.consentPages.length, 1, 'one consent page')
  const who = toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
  t.same(who, { sub: 'bob', client: provider.registeredClient?.client_id, scopes: ['notes:read'] })
})
