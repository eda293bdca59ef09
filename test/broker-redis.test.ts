// Two broker instances on one real Redis (oidc-provider's adapter on @portcullis/redis), behind a
// load balancer that sends the authorization request to one and the upstream callback and the
// token request to the other.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPkce, requestToken } from '@portcullis/dev-idp'
import { createBrokerNotesServer, NOTES_ROLES } from '@portcullis/example-broker-notes-server'
import { oidc } from '@portcullis/idp'
import { redisAdapter, redisConnection } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { BROKER_CLIENT, startBrokerUpstream } from './fixtures/broker-stack.js'
import { exchangeRecorder, HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { freePort } from './fixtures/journey-stack.js'
import { signInV2, toolResult } from './fixtures/sdk-clients.js'

t.test('authorize on one instance, callback and token on the other', async (t) => {
  const redis = await redisServer(t)
  const lbPort = await freePort()
  const origin = `http://127.0.0.1:${lbPort}`
  const upstreamApi = `${origin}/upstream-api`
  const idp = await startBrokerUpstream(t, origin, { resources: [{ resource: upstreamApi }] })
  const dir = await mkdtemp(join(tmpdir(), 'broker-redis-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  const instances: Array<{ port: number; name: string }> = []
  for (const name of ['A', 'B']) {
    const connection = redisConnection({ url: redis.url, keyPrefix: 'broker-test:' })
    t.teardown(() => connection.close())
    const { app } = await createBrokerNotesServer({
      origin,
      // Every instance shares the keys (signing, cookies, vault) and the state.
      keysFile: join(dir, 'keys.json'),
      adapter: redisAdapter(connection),
      upstream: {
        issuer: idp.issuer,
        clientId: BROKER_CLIENT.client_id,
        clientSecret: BROKER_CLIENT.client_secret,
        authorizationParams: { resource: upstreamApi },
        preset: oidc({ issuer: idp.issuer, audience: upstreamApi, roles: NOTES_ROLES }),
        userinfo: false,
      },
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    instances.push({ port: (app.server.address() as { port: number }).port, name })
  }

  // The load balancer: the authorization request and its interaction on A, the upstream callback,
  // token and revocation on B, MCP on A (2025-era sessions live in one process), the rest alternating.
  const served: Array<[string, string]> = []
  let turn = 0
  const lb = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    const target =
      /^\/(authorize|interaction)(\/|$)/.test(path) || path === '/mcp'
        ? instances[0]!
        : /^\/(oauth\/upstream\/callback|token|revoke)$/.test(path)
          ? instances[1]!
          : instances[turn++ % 2]!
    served.push([path, target.name])
    const upstream = request(
      { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    })
    // A client gone (or the balancer closing) ends the request to the instance too.
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => lb.listen(lbPort, '127.0.0.1', resolve))
  t.teardown(() => {
    lb.closeAllConnections()
    return new Promise((resolve) => lb.close(resolve))
  })

  const browser = new BrokerBrowser()
  const provider = new HeadlessOAuthProvider({
    user: 'alice',
    clientName: 'two instances',
    browser: (url, options) => browser.authorize(url, options),
  })
  const { client } = await signInV2(new URL(`${origin}/mcp`), provider, exchangeRecorder().fetch, 'legacy')
  t.teardown(() => client.close())
  t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })), {
    sub: 'alice',
    client: provider.registeredClient?.client_id,
    scopes: ['notes:read'],
  })
  const on = (path: string) => new Set(served.filter(([p]) => p === path).map(([, name]) => name))
  t.same(on('/authorize'), new Set(['A']), 'authorized on A')
  t.same(on('/oauth/upstream/callback'), new Set(['B']), 'the upstream callback on B')
  t.same(on('/token'), new Set(['B']), 'the token on B')
  t.ok(on('/register').size >= 1, 'registered')

  // A code redeemed on one instance is spent on the other (consumption is shared).
  const clientId = provider.registeredClient!.client_id as string
  const pkce = createPkce()
  const url = new URL(`${origin}/authorize`)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: provider.redirectUrl,
    scope: 'notes:read',
    resource: `${origin}/mcp`,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    login_hint: 'alice',
  }).toString()
  const { code } = await new BrokerBrowser().authorize(url, { redirectUri: provider.redirectUrl })
  const exchange = (port: number) =>
    requestToken(
      `http://127.0.0.1:${port}/token`,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: provider.redirectUrl,
        code_verifier: pkce.verifier,
      },
      { client_id: clientId },
    )
  t.type((await exchange(instances[0]!.port)).access_token, 'string', 'redeemed on A')
  await t.rejects(
    exchange(instances[1]!.port),
    { name: 'OAuthResponseError', error: 'invalid_grant' },
    'replayed on B: invalid_grant',
  )
})
