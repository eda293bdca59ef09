import { redisServer } from '@portcullis/test-kit'
import { Redis } from 'ioredis'
import t from 'tap'
import { authorizationServer, startInstance, within } from './fixtures/instances.js'

// A new instance does not know the deny list until its first load: it answers 503 with
// Retry-After for every token it would otherwise admit, never 200 for a revoked one.
const server = await redisServer(t, { args: ['--enable-debug-command', 'yes'] })
t.beforeEach(() => server.flush())

t.test('new instances, from their very first request, never admit a revoked token', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-revoked')
  as.active('tok-fine')
  await a.denyList.revoke({ token: 'tok-revoked' })
  const statuses = new Map<number, number>()
  for (let i = 0; i < 10; i++) {
    const b = await startInstance(t, { redisUrl: server.url, as, awaitReady: false })
    // Hammer from the moment it listens until it is ready, and a little after.
    const until = Date.now() + 10_000
    let afterReady = 3
    while (afterReady > 0 && Date.now() < until) {
      const { status } = await b.call('tok-revoked')
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (b.denyList.ready) afterReady--
    }
    t.equal((await b.call('tok-fine')).status, 200, `instance ${i} serves once ready`)
    b.denyList.close()
    await b.app.close()
    await b.redis.close()
  }
  t.equal(statuses.get(200) ?? 0, 0, `no revoked token admitted (${JSON.stringify([...statuses])})`)
  t.ok((statuses.get(401) ?? 0) >= 20, 'refused as revoked once ready')
})

t.test(
  'a slow Redis (DEBUG SLEEP) at start-up: 503 until the list loads; running instances do not fail open',
  async (t) => {
    const as = await authorizationServer(t)
    const a = await startInstance(t, { redisUrl: server.url, as })
    as.active('tok-revoked')
    as.active('tok-fine')
    t.equal((await a.call('tok-fine')).status, 200)
    await a.denyList.revoke({ token: 'tok-revoked' })
    const admin = new Redis({ port: server.port, host: '127.0.0.1' })
    t.teardown(() => admin.disconnect())
    const sleeping = admin.call('DEBUG', 'SLEEP', '2')
    const b = await startInstance(t, { redisUrl: server.url, as, awaitReady: false })
    const during = await b.call('tok-fine')
    t.equal(during.status, 503, 'the new instance cannot vouch while Redis sleeps')
    t.equal(during.headers.get('retry-after'), '5')
    t.equal((await a.call('tok-revoked')).status, 401, 'the running instance keeps its list')
    t.equal((await a.call('tok-fine')).status, 200, 'and serves cached tokens')
    await sleeping
    const took = await within(10_000, () => b.denyList.ready)
    t.pass(`ready ${took} ms after Redis woke`)
    t.equal((await b.call('tok-revoked')).status, 401)
    t.equal((await b.call('tok-fine')).status, 200)
  },
)
