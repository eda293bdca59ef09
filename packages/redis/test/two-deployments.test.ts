import { redisConnection, redisDenyList } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { authorizationServer, startInstance, within } from './fixtures/instances.js'

// Two deployments on one Redis with the same (default) keyPrefix: each has its own authorization
// server and resource. What one refuses or revokes must never refuse the other's clients.
const server = await redisServer(t)
t.beforeEach(() => server.flush())
const OTHER = 'https://other.example.com/mcp'

t.test("one deployment's refusals never answer 429 at the other", async (t) => {
  const asA = await authorizationServer(t)
  const asB = await authorizationServer(t)
  const limiter = { maxAttempts: 3, window: 30 }
  const a = await startInstance(t, { redisUrl: server.url, as: asA, limiter })
  const a2 = await startInstance(t, { redisUrl: server.url, as: asA, limiter })
  const b = await startInstance(t, { redisUrl: server.url, as: asB, limiter, resource: OTHER })
  asA.active('tok-a')
  asB.active('tok-b', { aud: OTHER })
  const client = '203.0.113.9'

  for (let n = 1; n <= 3; n++)
    t.equal((await a.call(`tok-bad-${n}`, client)).status, 401, `refusal ${n} at A`)
  t.equal((await a.call('tok-a', client)).status, 429, 'A: the address reached its limit')
  await within(1000, async () => (await a2.call('tok-a', client)).status === 429)
  t.pass("A's other instance heard it")

  t.equal((await b.call('tok-b', client)).status, 200, 'B: the same address is served')
  t.equal((await b.call('tok-bad-4', client)).status, 401, 'B judges its tokens (no 429)')
  t.equal(asB.callsFor('tok-bad-4'), 1, "B asked its own server: A's count did not stop it")

  // And B counts on its own from zero: two more refusals there stay under B's limit.
  t.equal((await b.call('tok-bad-5', client)).status, 401)
  t.equal((await b.call('tok-b', client)).status, 200, 'B: 2 refusals of 3')
  t.equal((await b.call('tok-bad-6', client)).status, 401)
  t.equal((await b.call('tok-b', client)).status, 429, 'B: its own third refusal limits it')

  const keys = (await a.redis.client.keys('portcullis:attempts:*')).sort()
  t.equal(keys.length, 2, `one hash per deployment (${keys.join(', ')})`)
  for (const key of keys) t.match(key, /^portcullis:attempts:[A-Za-z0-9_-]{22}:\d+$/)
  const channels = (
    (await a.redis.client.call('PUBSUB', 'CHANNELS', 'portcullis:attempts*')) as string[]
  ).sort()
  t.equal(channels.length, 2, `one channel per deployment, none without a resource (${channels.join(', ')})`)
  for (const channel of channels) t.match(channel, /^portcullis:attempts:[A-Za-z0-9_-]{22}$/)
})

t.test("a jti revocation names its issuer and refuses that issuer's token only", async (t) => {
  const asA = await authorizationServer(t)
  const asB = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as: asA })
  const b = await startInstance(t, { redisUrl: server.url, as: asB, resource: OTHER })
  // Each server numbers its tokens its own way: the same jti names two different tokens.
  asA.active('tok-a-7', { jti: 'session-7' })
  asB.active('tok-b-7', { jti: 'session-7', aud: OTHER })

  await t.rejects(
    a.denyList.revoke({ jti: 'session-7' }),
    /redisDenyList\.revoke: a jti revocation needs its "issuer".*RFC 7519 §4\.1\.7/,
    'a jti alone would refuse every issuer sharing the list',
  )
  t.equal((await a.call('tok-a-7')).status, 200, 'the refused call revoked nothing here')
  const issuerless = JSON.stringify(['j', '', 'session-7'])
  t.equal(await a.redis.client.zscore('portcullis:deny', issuerless), null, 'and nothing in Redis')

  await a.denyList.revoke({ jti: 'session-7', issuer: asA.origin })
  await within(2000, async () => (await a.call('tok-a-7')).status === 401)
  t.equal((await a.call('tok-a-7')).status, 401, "A's token is revoked")
  await within(2000, () => b.denyList.stats().entries === 1)
  t.pass('B holds the shared list, the revocation included')
  t.equal((await b.call('tok-b-7')).status, 200, "B's token with the same jti is served")
})

t.test('an issuer-less jti entry written by an older version still applies (fail closed)', async (t) => {
  const asA = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as: asA })
  asA.active('tok-old', { jti: 'legacy-1' })
  t.equal((await a.call('tok-old')).status, 200)
  const exp = Math.floor(Date.now() / 1000) + 600
  await a.redis.client.zadd('portcullis:deny', exp, JSON.stringify(['j', '', 'legacy-1']))
  await a.redis.client.hincrby('portcullis:deny:meta', 'version', 1)
  const writer = redisConnection({ url: server.url })
  t.teardown(() => writer.close())
  const list = redisDenyList(writer)
  t.teardown(() => list.close())
  t.ok(await list.whenReady(10_000))
  t.equal(list.stats().entries, 1, 'read by a fresh instance')
  await within(3000, async () => (await a.call('tok-old')).status === 401)
  t.equal((await a.call('tok-old')).status, 401, 'and enforced: an entry in Redis is never ignored')
})
