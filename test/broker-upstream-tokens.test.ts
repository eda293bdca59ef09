// The user's upstream tokens at the broker: sealed in the state adapter, refreshed on demand
// (once for concurrent callers), and handed to server code only.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadBrokerSecrets, memoryAdapter, TokenVault } from '@portcullis/authorization-server'
import { createPkce } from '@portcullis/dev-idp'
import t from 'tap'
import { BrokerBrowser } from './fixtures/broker-browser.js'
import { startBrokerStack } from './fixtures/broker-stack.js'

t.test('an upstream token about to expire is refreshed once, for every concurrent caller', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'broker-upstream-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const keysFile = join(dir, 'keys.json')
  const adapter = memoryAdapter()
  // Upstream access tokens live 30 s: within the broker's 30 s early-refresh margin from the start.
  const stack = await startBrokerStack(t, { idp: { accessTokenTtl: 30 }, broker: { keysFile, adapter } })
  const redirectUri = 'http://127.0.0.1:8765/oauth/callback'
  const registration = await fetch(`${stack.origin}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' }),
  })
  const { client_id } = (await registration.json()) as { client_id: string }
  const url = new URL(`${stack.origin}/authorize`)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id,
    redirect_uri: redirectUri,
    resource: stack.resource,
    code_challenge: createPkce().challenge,
    code_challenge_method: 'S256',
    login_hint: 'alice',
  }).toString()
  const response = await new BrokerBrowser().authorize(url, { redirectUri })
  t.type(response.code, 'string', 'signed in')

  const vault = new TokenVault(
    adapter('BrokerUpstreamTokens'),
    (await loadBrokerSecrets(keysFile, { rotateAfterDays: 90, overlapDays: 7 })).vaultKey,
  )
  const original = await vault.get('alice')
  t.type(original?.refreshToken, 'string', 'the upstream refresh token is kept')
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => stack.broker.upstream('alice').accessToken()))
  t.not(a, original?.accessToken, 'a fresh upstream access token')
  t.ok(a === b && b === c, 'one refresh for concurrent callers')
  const stored = await vault.get('alice')
  t.equal(stored?.accessToken, a, 'the vault holds the refreshed tokens')
  await t.rejects(stack.broker.upstream('nobody').accessToken(), { message: /no upstream tokens/ })
  t.throws(() => stack.broker.upstream({ token: 'x', clientId: 'c', scopes: [] }), /names no subject/)
})
