import type { RedisStatus } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { authorizationServer, startInstance, within } from './fixtures/instances.js'

const server = await redisServer(t)
// Each refused call comes from its own address, so only the limiter's own checks trip the limiter.
let clients = 0
const fresh = () => `198.51.100.${++clients}`
t.beforeEach(async () => {
  await server.kill()
  await server.start()
})

t.test(
  'Redis killed mid-run: local state answers, nothing invalid gets in, shared state resumes',
  async (t) => {
    const as = await authorizationServer(t)
    const limiter = { maxAttempts: 3, window: 60 }
    const a = await startInstance(t, { redisUrl: server.url, as, limiter })
    const b = await startInstance(t, { redisUrl: server.url, as, limiter })
    const events: [string, RedisStatus['state']][] = []
    for (const [name, instance] of [
      ['a', a],
      ['b', b],
    ] as const) {
      instance.redis.on('down', (status) => events.push([name, status.state]))
      instance.redis.on('up', (status) => events.push([name, status.state]))
    }
    for (const token of ['tok-cached', 'tok-revoked', 'tok-later-revoked']) as.active(token)
    for (const instance of [a, b]) {
      t.equal((await instance.call('tok-cached')).status, 200)
      t.equal((await instance.call('tok-later-revoked')).status, 200)
    }
    await a.denyList.revoke({ token: 'tok-revoked' })
    await within(1000, async () => (await b.call('tok-revoked', fresh())).status === 401)

    // --- the outage ---
    await server.kill()
    await within(2000, () => !a.redis.up && !b.redis.up)
    t.same(
      events.sort(),
      [
        ['a', 'down'],
        ['b', 'down'],
      ],
      'each instance reported the outage once',
    )
    for (const instance of [a, b]) {
      t.match(instance.redis.status(), { state: 'down', outages: 1 })
      t.match(
        instance.logs.filter((line) => line.level === 'warn'),
        [{ fields: { redis: 'down' }, message: /Redis is unreachable; answering from local state/ }],
      )
    }

    as.active('tok-new')
    as.answers.set('tok-inactive', { active: false })
    const before = as.callsFor('tok-cached')
    for (const instance of [a, b]) {
      const started = Date.now()
      t.equal((await instance.call('tok-cached')).status, 200, 'a cached token is still served')
      t.equal(
        (await instance.call('tok-revoked', fresh())).status,
        401,
        'the last known deny list still holds',
      )
      t.equal((await instance.call('tok-inactive', fresh())).status, 401, 'an inactive token is refused')
      t.equal((await instance.call('forged.token.value', fresh())).status, 401)
      t.equal(
        (await instance.call('tok-new')).status,
        200,
        'a new token is introspected by the instance itself',
      )
      t.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`)
    }
    t.equal(as.callsFor('tok-cached'), before, 'served from the local copy')
    t.equal(as.callsFor('tok-new'), 2, 'no shared cache: each instance asked once')

    // A revocation during the outage holds at once where it is made, and reaches the others later.
    const { shared } = await a.denyList.revoke({ token: 'tok-later-revoked' })
    t.equal(shared, false, 'revoke says it could not be shared')
    t.equal((await a.call('tok-later-revoked', fresh())).status, 401)

    // The attempt limiter counts locally.
    t.equal((await a.call('bad-1', '192.0.2.7')).status, 401)
    t.ok((a.limiter?.stats().countedLocally ?? 0) >= 1, 'counted locally')
    t.equal((await a.call('bad-2', '192.0.2.7')).status, 401)
    t.equal((await a.call('bad-3', '192.0.2.7')).status, 401)
    t.equal((await a.call('tok-cached', '192.0.2.7')).status, 429, 'the local count still limits')

    // --- Redis returns, empty (no persistence) ---
    await server.start()
    await within(5000, () => a.redis.up && b.redis.up)
    t.match(
      a.logs.filter((line) => line.level === 'info' && line.fields.redis === 'up'),
      [{ message: /Redis is reachable again/ }],
    )
    const tookB = await within(3000, async () => (await b.call('tok-later-revoked', fresh())).status === 401)
    t.pass(`the revocation made during the outage reached the other instance ${tookB} ms after recovery`)
    // Revocations only: the set's epoch is scored +inf.
    await within(3000, async () => (await a.redis.client.zcount('portcullis:deny', '-inf', '(+inf')) === 2)
    t.pass('both revocations were written back to the empty Redis')
    t.equal((await b.call('tok-revoked', fresh())).status, 401)

    as.active('tok-after')
    t.equal((await a.call('tok-after')).status, 200)
    t.equal((await b.call('tok-after')).status, 200)
    t.equal(as.callsFor('tok-after'), 1, 'the shared cache works again')
    t.match(a.redis.status(), { state: 'up', outages: 1 })
  },
)

t.test('failClosedAfter: a deny list too stale to trust refuses every token with 503', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, {
    redisUrl: server.url,
    as,
    denyList: { failClosedAfter: 1, retryAfter: 3 },
  })
  as.active('tok-strict')
  t.equal((await a.call('tok-strict')).status, 200)
  await server.kill()
  const took = await within(3000, async () => (await a.call('tok-strict')).status === 503)
  t.ok(took >= 400, `refused once the list was over 1 s stale (${took} ms)`)
  const res = await a.call('tok-strict')
  t.equal(res.headers.get('retry-after'), '3')
  t.same(res.body, {
    error: 'temporarily_unavailable',
    error_description: 'The list of revoked tokens cannot be confirmed right now; retry later',
  })
  await server.start()
  await within(5000, async () => (await a.call('tok-strict')).status === 200)
  t.pass('served again once the list is confirmed')
})

t.test('an instance started while Redis is down vouches for no token until its first load', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-revoked')
  as.active('tok-fine')
  await a.denyList.revoke({ token: 'tok-revoked' })
  await server.kill()
  const b = await startInstance(t, { redisUrl: server.url, as, awaitReady: false })
  t.equal(b.denyList.ready, false)
  t.equal(b.app.gate.ready(), false, 'the gate says so, for readiness checks')
  for (const token of ['tok-revoked', 'tok-fine']) {
    const res = await b.call(token)
    t.equal(res.status, 503, `${token}: 503 while the list is unknown`)
    t.equal(res.headers.get('retry-after'), '5')
    t.same(res.body, {
      error: 'temporarily_unavailable',
      error_description: 'The list of revoked tokens cannot be confirmed right now; retry later',
    })
  }
  t.equal((await b.call('forged')).status, 401, 'an invalid token is still refused as such')
  t.equal((await a.call('tok-revoked')).status, 401, 'the instance that knew the list keeps it')
  t.equal((await a.call('tok-fine')).status, 200)
  const { shared } = await b.denyList.revoke({ token: 'tok-fine' })
  t.equal(shared, false, 'a revocation while down is held, unshared')
  await server.start() // empty: the list returns from the instances that hold it
  const took = await within(10_000, () => b.denyList.ready)
  t.pass(`ready ${took} ms after Redis returned`)
  t.equal(b.app.gate.ready(), true)
  t.equal((await b.call('tok-revoked')).status, 401, 'written back by the other instance')
  t.equal((await b.call('tok-fine')).status, 401)
  await within(3000, async () => (await a.call('tok-fine')).status === 401)
  t.pass('its own revocation reached the other instance')
})
