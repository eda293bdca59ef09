import { introspectionCacheKey } from '@portcullis/core'
import { redisConnection, redisIntrospectionCache } from '@portcullis/redis'
import { CLIENT_ID, redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { authorizationServer, nowS, startInstance } from './fixtures/instances.js'

const server = await redisServer(t)
t.beforeEach(() => server.flush())
/** The cache key the instances' verifier uses for a token (core's introspectionCacheKey). */
const keyFor = (as: { origin: string; endpoint: string }, token: string) =>
  introspectionCacheKey({ issuer: as.origin, endpoint: as.endpoint, clientId: CLIENT_ID }, token)

t.test('options are validated with errors that name the option', async (t) => {
  const redis = redisConnection({ url: server.url })
  t.teardown(() => redis.close())
  t.throws(
    () => redisIntrospectionCache(redis, { local: { maxEntries: 0 } }),
    /@portcullis\/redis redisIntrospectionCache: option "local.maxEntries"/,
  )
  t.throws(() => redisIntrospectionCache(redis, { lock: { waitMs: -1 } }), /option "lock.waitMs"/)
  t.throws(() => redisIntrospectionCache(redis, { lockTtl: 1 } as never), /Unrecognized key: "lockTtl"/)
  t.throws(() => redisConnection({ url: 'http://127.0.0.1:6379' }), /option "url": must be a redis:\/\//)
  t.throws(() => redisConnection({ commandTimeoutMs: 0 }), /option "commandTimeoutMs"/)
  t.throws(() => redisConnection({ keyPrefix: 'a b' }), /option "keyPrefix"/)
  t.throws(() => redisConnection({ log: console as never, url: 5 as never }), /option "url"/)
})

t.test('two instances make one introspection call for a token; the second reads it from Redis', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  const b = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-shared')

  const first = await a.call('tok-shared')
  t.equal(first.status, 200)
  t.same(first.body, { sub: 'alice' })
  const second = await b.call('tok-shared')
  t.equal(second.status, 200)
  t.equal(as.callsFor('tok-shared'), 1, 'one call across both instances')
  t.equal(b.cache.stats().redisHits, 1)

  for (let i = 0; i < 5; i++) t.equal((await b.call('tok-shared')).status, 200)
  t.equal(as.callsFor('tok-shared'), 1)
  t.equal(b.cache.stats().localHits, 5, 'later hits cost no round trip')
  // The local copy answers at once (peek): the gate's hit path, with no promise.
  const outcome = b.verifier.cachedOutcome?.('tok-shared')
  t.equal(outcome?.authInfo?.extra?.sub, 'alice', 'a remembered token is answered at once')
  t.ok(Object.isFrozen(outcome?.authInfo?.extra?.claims), 'the answer read from Redis is frozen')
  t.equal(b.verifier.cachedOutcome?.('tok-unknown'), undefined, 'an unknown token has no outcome')
  t.equal(b.cache.peek('tok-unknown'), undefined)
  t.match(b.verifier.stats(), { cache: { entries: 1, maxEntries: 10_000 }, inFlight: 0 })

  as.answers.set('tok-inactive', { active: false })
  t.equal((await a.call('tok-inactive')).status, 401)
  t.equal((await b.call('tok-inactive')).status, 401)
  t.equal(as.callsFor('tok-inactive'), 1, 'inactive answers are shared too')
})

t.test('concurrent first sightings on both instances make one call (SET NX lock)', async (t) => {
  const as = await authorizationServer(t)
  // A generous wait, so a slow machine does not make the waiting instance give up and ask itself.
  const cache = { lock: { ttlMs: 5000, waitMs: 3000 } }
  const a = await startInstance(t, { redisUrl: server.url, as, cache })
  const b = await startInstance(t, { redisUrl: server.url, as, cache })
  as.active('tok-race')
  as.delayMs = 150
  const results = await Promise.all([
    ...Array.from({ length: 5 }, () => a.call('tok-race')),
    ...Array.from({ length: 5 }, () => b.call('tok-race')),
  ])
  t.same(
    results.map((r) => r.status),
    Array(10).fill(200),
  )
  t.equal(as.callsFor('tok-race'), 1, 'ten concurrent requests, two instances, one call')
  t.equal(a.cache.stats().joined + b.cache.stats().joined, 1, 'the other instance waited for the answer')
})

t.test('keys are token hashes, and an answer lives no longer than its token', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as, ttl: 300 })
  as.active('tok-short', { exp: nowS() + 20 })
  as.active('tok-long', { exp: nowS() + 3600 })
  t.equal((await a.call('tok-short')).status, 200)
  t.equal((await a.call('tok-long')).status, 200)

  const keys = await a.redis.client.keys('portcullis:introspection:*')
  t.ok(keys.includes(`portcullis:introspection:${keyFor(as, 'tok-short')}`))
  t.notOk(
    keys.some((key) => key.includes('tok-')),
    'no token in any key',
  )
  const short = await a.redis.client.pttl(`portcullis:introspection:${keyFor(as, 'tok-short')}`)
  const long = await a.redis.client.pttl(`portcullis:introspection:${keyFor(as, 'tok-long')}`)
  t.ok(short > 0 && short <= 20_000, `until exp (${short} ms)`)
  t.ok(long > 200_000 && long <= 300_000, `until the cache ttl (${long} ms)`)
  const stored = await a.redis.client.get(`portcullis:introspection:${keyFor(as, 'tok-short')}`)
  t.notMatch(stored, /tok-short/, 'the answer, not the token, is stored')
})

t.test('junk in Redis is a miss, not an answer', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  const key = `portcullis:introspection:${keyFor(as, 'tok-junk')}`
  as.answers.set('tok-junk', { active: false })
  for (const junk of [
    'not json',
    '{"x":1}',
    JSON.stringify({ x: Date.now() + 60_000, a: { active: 'true', sub: 'mallory' } }),
    JSON.stringify({ x: Date.now() - 1, a: { active: true } }),
    JSON.stringify({ x: Date.now() + 60_000, a: { active: true, pad: 'x'.repeat(70_000) } }),
  ]) {
    await a.cache.delete(keyFor(as, 'tok-junk')) // the local copy too
    await a.redis.client.set(key, junk, 'PX', 60_000)
    const before = as.callsFor('tok-junk')
    t.equal((await a.call('tok-junk')).status, 401, junk.slice(0, 40))
    t.equal(as.callsFor('tok-junk'), before + 1, 'asked the authorization server')
  }
})

t.test('a lock whose holder never answers delays others by at most lock.waitMs', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, {
    redisUrl: server.url,
    as,
    cache: { lock: { ttlMs: 5000, waitMs: 300 } },
  })
  as.active('tok-orphan')
  // Another instance took the lock and died before answering.
  await a.redis.client.set(`portcullis:introspection-lock:${keyFor(as, 'tok-orphan')}`, 'gone', 'PX', 5000)
  const started = Date.now()
  t.equal((await a.call('tok-orphan')).status, 200)
  const took = Date.now() - started
  t.ok(took >= 250 && took < 2000, `waited, then asked itself (${took} ms)`)
  t.equal(as.callsFor('tok-orphan'), 1)
})

t.test('two deployments on one Redis (same keyPrefix) never share answers', async (t) => {
  const asA = await authorizationServer(t)
  const asB = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as: asA })
  const b = await startInstance(t, { redisUrl: server.url, as: asB })
  // Known to A's server only, and answered without `iss`: nothing in the answer names its server.
  asA.answers.set('tok-a-only', {
    active: true,
    aud: 'https://mcp.example.com/mcp',
    sub: 'alice',
    scope: 'notes:read',
    exp: nowS() + 600,
  })
  t.equal((await a.call('tok-a-only')).status, 200)
  t.equal((await b.call('tok-a-only')).status, 401, 'B asked its own server, which does not know it')
  t.equal(asB.callsFor('tok-a-only'), 1, "B's server was asked")
  t.equal(b.cache.stats().redisHits, 0, "A's answer was not read")
  t.equal((await a.call('tok-a-only')).status, 200, "B's answer does not reach A either")
  t.equal(asA.callsFor('tok-a-only'), 1)
})

t.test('an answer releases only its own lock, never one another instance took since', async (t) => {
  const redis = redisConnection({ url: server.url })
  t.teardown(() => redis.close())
  await redis.ready()
  const cache = redisIntrospectionCache(redis, { lock: { ttlMs: 100, waitMs: 0 } })
  const answer = { active: true, sub: 'alice' }
  t.equal(await cache.get('slow'), undefined, 'a miss: this instance takes the lock and asks')
  t.ok(await redis.client.get('portcullis:introspection-lock:slow'), 'locked')
  await new Promise((resolve) => setTimeout(resolve, 200))
  // Its lock lapsed while it asked; another instance took the lock for the same token.
  await redis.client.set('portcullis:introspection-lock:slow', 'another-instance', 'PX', 5000)
  await cache.set('slow', answer, 60_000)
  t.equal(await redis.client.get('portcullis:introspection-lock:slow'), 'another-instance', 'not deleted')
  t.equal(await cache.get('quick'), undefined)
  await cache.set('quick', answer, 60_000)
  t.equal(await redis.client.exists('portcullis:introspection-lock:quick'), 0, 'its own lock is released')
  t.equal(redis.status().refusals, 0)
})
