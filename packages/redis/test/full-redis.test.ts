import { redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { authorizationServer, type Instance, startInstance, within } from './fixtures/instances.js'

// Redis's default: maxmemory with noeviction. Once full it refuses every write (and, before,
// every MULTI, reads included). Reads must go on, revocations must still spread by pub/sub, and
// the refusals are reported as what they are, not as an outage.
const server = await redisServer(t, { args: ['--maxmemory', '3mb', '--maxmemory-policy', 'noeviction'] })
t.beforeEach(() => server.flush())

/** Writes junk until even a small write is refused; resolves how many keys it took. */
async function fill(instance: Instance): Promise<number> {
  let i = 0
  for (const size of [32 * 1024, 1024, 16]) {
    const value = 'x'.repeat(size)
    for (;;) {
      if (i > 100_000) throw new Error('Redis never filled up')
      try {
        await instance.redis.client.set(`junk:${i++}`, value)
      } catch (error) {
        if (/OOM/.test(String(error))) break
        throw error
      }
    }
  }
  return i
}

t.test(
  'a full Redis: revocations still reach every running instance, reads go on, no outage is reported',
  async (t) => {
    const as = await authorizationServer(t)
    const a = await startInstance(t, { redisUrl: server.url, as })
    const b = await startInstance(t, { redisUrl: server.url, as })
    const before = Array.from({ length: 20 }, (_, i) => `tok-before-${i}`)
    for (const token of [...before, 'tok-during', 'tok-fine']) as.active(token)
    for (const token of before) await a.denyList.revoke({ token })
    const keys = await fill(a)
    t.pass(`Redis refused writes after ${keys} junk keys`)

    const { shared, published } = await a.denyList.revoke({ token: 'tok-during' })
    t.equal(shared, false, 'not written: Redis is full')
    t.equal(published, true, 'but published')
    const took = await within(1000, async () => (await b.call('tok-during')).status === 401)
    t.pass(`the other instance refused it after ${took} ms (pub/sub)`)

    // A fresh instance reads the list without MULTI.
    const c = await startInstance(t, { redisUrl: server.url, as })
    let admitted = 0
    for (const token of before) if ((await c.call(token)).status === 200) admitted++
    t.equal(admitted, 0, 'a fresh instance refuses 20/20 revocations made before Redis filled up')
    t.equal((await c.call('tok-fine')).status, 200)

    for (const instance of [a, b, c]) {
      t.match(instance.redis.status(), { state: 'up', outages: 0 }, 'no outage')
      t.notOk(
        instance.logs.some((line) => /unreachable/.test(line.message)),
        'never logged as unreachable',
      )
    }
    const oom = a.logs.filter((line) => line.fields.kind === 'out_of_memory')
    t.equal(oom.length, 1, 'one error line for the refusals, however many')
    t.match(oom[0], { level: 'error', message: /Redis is out of memory/ })
    t.ok(a.redis.status().refusals >= 1)
    t.match(a.redis.status().lastRefusal, /OOM/)

    // Room again: the held revocation is written, and the fresh instance learns it.
    const junk = await a.redis.client.keys('junk:*')
    await a.redis.client.del(...junk)
    const written = await within(5000, async () => (await c.call('tok-during')).status === 401)
    t.pass(`written back and loaded ${written} ms after Redis had room`)
  },
)

t.test('an instance starting at start-up against a full Redis loads the list and is ready', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-revoked')
  await a.denyList.revoke({ token: 'tok-revoked' })
  await fill(a)
  const b = await startInstance(t, { redisUrl: server.url, as })
  t.equal(b.denyList.ready, true)
  t.equal((await b.call('tok-revoked')).status, 401)
  t.match(
    b.logs.find((line) => line.fields.redis === 'memory'),
    {
      level: 'warn',
      message: /maxmemory with noeviction/,
    },
  )
})
