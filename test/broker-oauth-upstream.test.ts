// An upstream that speaks OAuth 2.0 without OIDC (GitHub's kind): endpoints given, no ID token,
// the user from a user endpoint. The dev IdP stands in for the authorization server, and the test
// serves the user endpoint (it asks the dev IdP who the token belongs to).
import { createServer } from 'node:http'
import { createBrokerNotesServer } from '@portcullis/example-broker-notes-server'
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { BROKER_CLIENT, startBrokerUpstream } from './fixtures/broker-stack.js'
import { exchangeRecorder, HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { freePort } from './fixtures/journey-stack.js'
import { signInV2, toolResult } from './fixtures/sdk-clients.js'

t.test('an OAuth-only upstream with a user endpoint', async (t) => {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const idp = await startBrokerUpstream(t, origin, {
    client: { token_endpoint_auth_method: 'client_secret_post' },
  })

  const users = createServer(async (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const { client_id, client_secret } = idp.clients.resourceServer
    const answer = token
      ? ((await (
          await fetch(idp.endpoints.introspection!, {
            method: 'POST',
            headers: {
              authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`,
            },
            body: new URLSearchParams({ token }),
          })
        ).json()) as { active: boolean; sub?: string })
      : { active: false }
    if (!answer.active) return res.writeHead(401).end()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: 1000 + answer.sub!.length, login: answer.sub }))
  })
  await new Promise<void>((resolve) => users.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => users.close(resolve)))
  const userEndpoint = `http://127.0.0.1:${(users.address() as { port: number }).port}/user`

  const { app } = await createBrokerNotesServer({
    origin,
    upstream: {
      issuer: idp.issuer,
      clientId: BROKER_CLIENT.client_id,
      clientSecret: BROKER_CLIENT.client_secret,
      scopes: ['profile'],
      tokenEndpointAuthMethod: 'client_secret_post',
      oauth: {
        authorizationEndpoint: idp.endpoints.authorization,
        tokenEndpoint: idp.endpoints.token,
        userEndpoint,
        revocationEndpoint: idp.endpoints.revocation,
      },
    },
    // No roles upstream: scopes by who the user is (GitHub: by login, or by organisation membership).
    roles: { claims: ['login'], scopes: { alice: ['notes:read', 'notes:write'] } },
  })
  await app.listen({ port, host: '127.0.0.1' })
  t.teardown(() => app.close())

  const browser = new BrokerBrowser()
  const provider = new HeadlessOAuthProvider({
    user: 'alice',
    clientName: 'oauth-only upstream',
    browser: (url, options) => browser.authorize(url, options),
  })
  const { client } = await signInV2(new URL(`${origin}/mcp`), provider, exchangeRecorder().fetch, 'legacy')
  t.teardown(() => client.close())
  t.same(
    toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
    {
      sub: '1005',
      client: provider.registeredClient?.client_id,
      scopes: ['notes:read'],
    },
    'the account is the user endpoint’s id; scopes from the login',
  )

  const bob = new HeadlessOAuthProvider({
    user: 'bob',
    clientName: 'oauth-only upstream, bob',
    browser: (url, options) => new BrokerBrowser().authorize(url, options),
  })
  await t.rejects(
    signInV2(new URL(`${origin}/mcp`), bob, exchangeRecorder().fetch, 'legacy'),
    /access_denied/,
    'a login with no scopes is refused',
  )
})
