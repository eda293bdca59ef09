import { redisAttemptLimiter, redisConnection } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import type { Redis } from 'ioredis'
import t from 'tap'
import { authorizationServer, startInstance, within } from './fixtures/instances.js'

const server = await redisServer(t)
t.beforeEach(() => server.flush())
/** The count of an address in the current window's hash (`portcullis:attempts:<window number>`). */
async function countOf(client: Redis, address: string): Promise<string | null> {
  const keys = await client.keys('portcullis:attempts:*')
  for (const key of keys) {
    const count = await client.hget(key, address)
    if (count !== null) return count
  }
  return null
}

t.test('options are validated with errors that name the option', async (t) => {
  const redis = redisConnection({ url: server.url })
  t.teardown(() => redis.close())
  t.throws(
    () => redisAttemptLimiter(redis, { maxAttempts: 0, window: 60 }),
    /redisAttemptLimiter: option "maxAttempts"/,
  )
  t.throws(() => redisAttemptLimiter(redis, { maxAttempts: 5 } as never), /option "window"/)
})

t.test('refused tokens are counted across instances; past the limit both answer 429', async (t) => {
  const as = await authorizationServer(t)
  const limiter = { maxAttempts: 4, window: 30 }
  const a = await startInstance(t, { redisUrl: server.url, as, limiter })
  const b = await startInstance(t, { redisUrl: server.url, as, limiter })
  as.active('tok-good')
  const attacker = '203.0.113.66'

  for (const [instance, n] of [
    [a, 1],
    [b, 2],
    [a, 3],
    [b, 4],
  ] as const) {
    t.equal((await instance.call(`tok-made-up-${n}`, attacker)).status, 401, `refusal ${n} is judged`)
  }
  t.equal(await countOf(a.redis.client, attacker), '4', 'one counter in Redis')

  // The instance that counted the 4th announced it: both block without asking Redis.
  const calls = as.calls()
  for (const instance of [a, b]) {
    const limited = await within(
      500,
      async () => (await instance.call('tok-made-up-5', attacker)).status === 429,
    )
    t.ok(limited >= 0)
    const res = await instance.call('tok-good', attacker)
    t.equal(res.status, 429, 'every token from the address waits, a valid one too')
    const retryAfter = Number(res.headers.get('retry-after'))
    t.ok(retryAfter > 0 && retryAfter <= 30, `Retry-After ${retryAfter}`)
    t.same(res.body, {
      error: 'temporarily_unavailable',
      error_description: `Too many refused access tokens from this client address; retry after ${retryAfter} s`,
    })
    t.equal(res.headers.get('www-authenticate'), null)
  }
  t.equal(as.calls(), calls, 'nothing from the blocked address reached the authorization server')

  t.equal((await a.call(undefined, attacker)).status, 401, 'without a token: the usual 401 challenge')
  t.equal((await b.call('tok-good', '198.51.100.9')).status, 200, 'other addresses go on')
  t.equal((await b.call('tok-good', '2001:db8:1:2::5')).status, 200)
})

t.test('IPv6 clients are counted by /64', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as, limiter: { maxAttempts: 2, window: 30 } })
  as.active('tok-good')
  t.equal((await a.call('bad-1', '2001:db8:aa:bb::1')).status, 401)
  t.equal((await a.call('bad-2', '2001:db8:aa:bb:ffff::2')).status, 401)
  t.equal((await a.call('tok-good', '2001:db8:aa:bb::99')).status, 429, 'another address of the same /64')
  t.equal((await a.call('tok-good', '2001:db8:aa:cc::1')).status, 200, 'another /64')
  t.equal(await countOf(a.redis.client, '2001:db8:aa:bb::/64'), '2')
})

t.test('the window closes: the address may try again', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as, limiter: { maxAttempts: 1, window: 1 } })
  as.active('tok-good')
  t.equal((await a.call('bad', '192.0.2.1')).status, 401)
  t.equal((await a.call('tok-good', '192.0.2.1')).status, 429)
  await within(2500, async () => (await a.call('tok-good', '192.0.2.1')).status === 200)
  t.equal(await countOf(a.redis.client, '192.0.2.1'), null, 'the counter expired in Redis')
  t.match(a.limiter?.stats(), { maxAddresses: 100_000, countedLocally: 0 })
})

t.test('an attacker rotating addresses cannot grow Redis past maxAddresses per window', async (t) => {
  const redis = redisConnection({ url: server.url })
  t.teardown(() => redis.close())
  await redis.ready()
  const limiter = redisAttemptLimiter(redis, { maxAttempts: 5, window: 60, maxAddresses: 500 })
  // 3,000 IPv6 /64s, each refused once (the gate calls recordFailure after each refused token).
  for (let start = 0; start < 3000; start += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        limiter.recordFailure(`2001:db8:${(start + i).toString(16)}::/64`),
      ),
    )
  }
  const keys = await redis.client.keys('portcullis:attempts:*')
  t.ok(keys.length >= 1 && keys.length <= 2, `one hash per window (${keys.length})`)
  let fields = 0
  let bytes = 0
  for (const key of keys) {
    fields += await redis.client.hlen(key)
    bytes += Number(await redis.client.memory('USAGE', key, 'SAMPLES', 0))
  }
  t.ok(fields <= 2 * 500, `at most maxAddresses per window in Redis (${fields})`)
  t.ok(bytes < 100_000, `${bytes} bytes in Redis for 3,000 addresses`)
  t.ok(limiter.stats().countedLocally >= 1500, `the rest counted locally (${limiter.stats().countedLocally})`)
  t.ok(limiter.stats().addresses <= 500, 'and the local table is bounded too')
  t.ok(Number(await redis.client.ttl(keys[0]!)) <= 60, 'the hash lapses with its window')
})

t.test(
  "behind the README's trustProxy (known hops only), rotating X-Forwarded-For does not escape the limit",
  async (t) => {
    const as = await authorizationServer(t)
    // The README's quick start trusts the load balancer's network only; this test client is not in it.
    const a = await startInstance(t, {
      redisUrl: server.url,
      as,
      limiter: { maxAttempts: 5, window: 30 },
      trustProxy: ['10.0.0.0/8'],
    })
    as.active('tok-good')
    const statuses: number[] = []
    for (let i = 0; i < 30; i++) statuses.push((await a.call(`bad-${i}`, `198.51.100.${i + 1}`)).status)
    t.same(statuses.slice(0, 5), [401, 401, 401, 401, 401])
    t.same(new Set(statuses.slice(5)), new Set([429]), '25/25 limited though each claimed another address')
  },
)
