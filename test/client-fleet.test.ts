// A fleet on the Redis token store (a real redis-server): instances of one client share one token
// and one renewal; and a custom TokenProvider; and authFetch's option errors.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import {
  type AccessToken,
  authFetch,
  clientCredentials,
  grantKey,
  type TokenProvider,
} from '@portcullis/client'
import { redisTokenStore } from '@portcullis/client/redis'
import { redisConnection } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { reporterFor, startClientStack } from './fixtures/client-stack.js'
import { notesEndpoint } from './fixtures/journey-stack.js'
import { toolResult } from './fixtures/sdk-clients.js'

t.test('Redis store: three instances, one token, one renewal', async (t) => {
  const redis = await redisServer(t)
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const clock = { offset: 0 }
  const instances = [1, 2, 3].map(() => {
    const connection = redisConnection({ url: redis.url, keyPrefix: 'fleet:', commandTimeoutMs: 2000 })
    t.teardown(() => connection.close())
    const store = redisTokenStore(connection)
    const fetch = authFetch(reporterFor(stack, notes.resource, ['notes:read']), {
      store,
      refreshBeforeExpiry: 300,
      now: () => Date.now() / 1000 + clock.offset,
    })
    return { connection, store, fetch }
  })
  for (const instance of instances) t.ok(await instance.connection.ready(), 'connected')

  const before = stack.tokenRequests.length
  const first = await Promise.all(instances.map((i) => i.fetch.token()))
  t.equal(stack.tokenRequests.length - before, 1, 'three instances starting at once: one token request')
  t.equal(new Set(first.map((token) => token.token)).size, 1, 'they share the token')

  // Due everywhere at once: 300 concurrent requests spread over the fleet.
  clock.offset = first[0]!.expiresAt! - Date.now() / 1000 - 250
  const responses = await Promise.all(
    Array.from({ length: 300 }, (_, n) => instances[n % 3]!.fetch(notes.metadataUrl)),
  )
  t.ok(responses.every((r) => r.status === 200))
  await Promise.all(responses.map((r) => r.body?.cancel()))
  t.equal(stack.tokenRequests.length - before, 2, 'one renewal for the whole fleet')
  const renewed = await Promise.all(instances.map((i) => i.fetch.token()))
  t.equal(new Set(renewed.map((token) => token.token)).size, 1)
  t.not(renewed[0]!.token, first[0]!.token)

  const key = grantKey({ issuer: stack.idp.issuer, clientId: 'reporter', resource: notes.resource })
  t.equal((await instances[0]!.store.get(key))?.accessToken?.token, renewed[0]!.token, 'stored in Redis')
  const keys = await instances[0]!.connection.client.keys('fleet:client:*')
  t.ok(keys.length > 0 && keys.every((k) => !k.includes('reporter')), 'keys are hashes, not names or tokens')
  await instances[0]!.store.delete(key)
  t.equal(await instances[1]!.store.get(key), undefined)

  await redis.kill()
  await t.rejects(
    instances[0]!.store.get(key),
    { name: 'TokenRequestError', kind: 'store' },
    'no Redis: a typed error',
  )
})

t.test('a custom TokenProvider', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const calls: string[] = []
  // A provider that gets its tokens elsewhere (here: the dev IdP's machine client helper).
  const mint = async (): Promise<AccessToken> => {
    const answer = await stack.idp.machineToken({ resource: notes.resource, scope: 'notes:read' })
    return {
      token: answer.access_token,
      tokenType: 'Bearer',
      expiresAt: Math.floor(Date.now() / 1000) + answer.expires_in!,
      scopes: answer.scope!.split(' '),
    }
  }
  const provider: TokenProvider = {
    grant: { issuer: stack.idp.issuer, clientId: 'dev-machine', resource: notes.resource },
    async getToken() {
      calls.push('getToken')
      return mint()
    },
    async refreshToken(current) {
      calls.push(`refreshToken(${current === undefined ? 'none' : 'current'})`)
      return mint()
    },
  }
  const clock = { offset: 0 }
  const fetch = authFetch(provider, { now: () => Date.now() / 1000 + clock.offset })
  const client = new Client({ name: 'custom-provider', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(notes.url, { fetch }))
  t.teardown(() => client.close())
  t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).scopes, ['notes:read'])
  clock.offset = (await fetch.token()).expiresAt! - Date.now() / 1000 - 30
  t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).scopes, ['notes:read'])
  t.same(calls, ['getToken', 'refreshToken(current)'], 'getToken once, then refreshToken with the held token')

  const broken = authFetch({
    getToken: async () => ({ token: '', tokenType: 'Bearer', scopes: [] }),
    refreshToken: async () => ({ token: '', tokenType: 'Bearer', scopes: [] }),
  })
  await t.rejects(broken(notes.url), { kind: 'invalid_token_response', message: /not an AccessToken/ })
})

t.test('option errors name their owner', async (t) => {
  const provider = clientCredentials({
    tokenEndpoint: 'https://idp.example/token',
    clientId: 'c',
    clientSecret: 's',
  })
  t.throws(() => authFetch({} as never), {
    name: 'TypeError',
    message: /^authFetch: provider: must be a TokenProvider/,
  })
  t.throws(() => authFetch(provider, { maxRetries: -1 }), { message: /^authFetch: option "maxRetries"/ })
  t.throws(() => authFetch(provider, { store: {} as never }), {
    message: /option "store": must be a TokenStore/,
  })
  t.throws(() => clientCredentials({ clientId: 'c', clientSecret: 's' }), {
    message: /^clientCredentials: give exactly one of "issuer" \(discovery\) or "tokenEndpoint"/,
  })
  t.throws(() => clientCredentials({ issuer: 'http://idp.example', clientId: 'c', clientSecret: 's' }), {
    message: /option "issuer": issuer must use https \(http is allowed only on loopback hosts\)/,
  })
  t.throws(() => clientCredentials({ issuer: 'https://idp.example', clientId: 'c' }), {
    message: /a confidential client is required/,
  })
  t.throws(
    () =>
      clientCredentials({
        issuer: 'https://idp.example',
        clientId: 'c',
        clientSecret: 's',
        resource: 'https://mcp.example/mcp#frag',
      }),
    { message: /option "resource"/ },
  )
  t.throws(
    () =>
      clientCredentials({ issuer: 'https://idp.example', clientId: 'c', clientSecret: 's', scopes: ['a b'] }),
    { message: /option "scopes.0"/ },
  )
  t.throws(
    () =>
      clientCredentials({
        issuer: 'https://idp.example',
        clientId: 'c',
        tokenEndpointAuthMethod: 'private_key_jwt',
        clientSecret: 's',
      }),
    { message: /option "privateKey": is required for private_key_jwt/ },
  )
})
