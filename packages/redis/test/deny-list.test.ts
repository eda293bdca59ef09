import { revocationKey, tokenFingerprint } from '@portcullis/core'
import { redisConnection, redisDenyList } from '@portcullis/redis'
import t from 'tap'
import { authorizationServer, nowS, startInstance, within } from './fixtures/instances.js'
import { redisServer } from './fixtures/redis-server.js'

const server = await redisServer(t)
t.beforeEach(() => server.flush())
// The stated bound in these tests: resyncInterval 0.5 s (the default is 2 s).
const RESYNC_MS = 500

t.test('options are validated with errors that name the option', async (t) => {
  const redis = redisConnection({ url: server.url })
  t.teardown(() => redis.close())
  t.throws(() => redisDenyList(redis, { resyncInterval: 0 }), /redisDenyList: option "resyncInterval"/)
  t.throws(() => redisDenyList(redis, { failClosedAfter: true as never }), /option "failClosedAfter"/)
  t.throws(() => redisDenyList(redis, { maxEntries: 1.5 }), /option "maxEntries"/)
})

t.test('a revocation through one instance is honoured by the other, cache hits included', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  const b = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-revoked')
  as.active('tok-kept')
  for (const instance of [a, b]) {
    t.equal((await instance.call('tok-revoked')).status, 200)
    t.equal((await instance.call('tok-kept')).status, 200)
  }

  const { revocation, shared } = await a.denyList.revoke({ token: 'tok-revoked', expiresAt: nowS() + 600 })
  t.equal(shared, true)
  t.same(revocation, { fingerprint: tokenFingerprint('tok-revoked'), expiresAt: nowS() + 600 })
  const onA = await a.call('tok-revoked')
  t.equal(onA.status, 401, 'the revoking instance refuses at once')
  t.match(
    onA.headers.get('www-authenticate'),
    /error="invalid_token", error_description="The access token has been revoked"/,
  )

  const took = await within(RESYNC_MS, async () => (await b.call('tok-revoked')).status === 401)
  t.pass(`the other instance refused it after ${took} ms (pub/sub)`)
  t.equal((await b.call('tok-kept')).status, 200, 'other tokens go on')
  t.equal(as.callsFor('tok-revoked'), 1, 'the cached answer was not asked again: the deny list decided')
  t.equal(b.denyList.stats().entries, 1)
})

t.test('a revocation whose message was missed is picked up within resyncInterval', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-quiet')
  t.equal((await a.call('tok-quiet')).status, 200)
  // Written the way revoke writes it, without the pub/sub message (as if it were lost).
  const expiresAt = nowS() + 600
  await a.redis.client
    .multi()
    .zadd(
      'portcullis:deny',
      expiresAt,
      revocationKey({ fingerprint: tokenFingerprint('tok-quiet'), expiresAt }),
    )
    .incr('portcullis:deny:version')
    .exec()
  const took = await within(RESYNC_MS + 500, async () => (await a.call('tok-quiet')).status === 401)
  t.ok(took <= RESYNC_MS + 500, `refused after ${took} ms (resync)`)
})

t.test('revocation by jti of the issuer, on every instance', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  const b = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-jti', { jti: 'session-7' })
  await b.denyList.revoke({ jti: 'session-7', issuer: as.origin })
  await within(RESYNC_MS, async () => (await a.call('tok-jti')).status === 401)
  t.equal((await b.call('tok-jti')).status, 401)
  as.active('tok-other-jti', { jti: 'session-8' })
  t.equal((await a.call('tok-other-jti')).status, 200)
})

t.test('junk on the channel or in the set is ignored; the list keeps working', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-fine')
  for (const junk of [
    '',
    'x',
    '[1,2]',
    '["[\\"f\\",\\"short\\"]",1]',
    JSON.stringify(['x'.repeat(9000), 1]),
  ]) {
    await a.redis.client.publish('portcullis:deny', junk)
  }
  await a.redis.client
    .multi()
    .zadd('portcullis:deny', nowS() + 600, 'not a revocation')
    .incr('portcullis:deny:version')
    .exec()
  await a.denyList.sync()
  t.equal((await a.call('tok-fine')).status, 200)
  t.equal(a.denyList.stats().entries, 0)
})

t.test('expired revocations lapse, locally and in Redis', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  as.active('tok-lapse')
  await a.denyList.revoke({ token: 'tok-lapse', expiresAt: nowS() + 1 })
  t.equal((await a.call('tok-lapse')).status, 401)
  await within(3000, async () => (await a.call('tok-lapse')).status === 200)
  await a.denyList.revoke({ jti: 'later' })
  const members = await a.redis.client.zrange('portcullis:deny', 0, -1)
  t.notOk(
    members.includes(revocationKey({ fingerprint: tokenFingerprint('tok-lapse'), expiresAt: 0 })),
    'trimmed',
  )
})

t.test('several deny lists on one connection each hear every revocation', async (t) => {
  const redis = redisConnection({ url: server.url })
  const other = redisConnection({ url: server.url })
  t.teardown(async () => {
    await redis.close()
    await other.close()
  })
  await redis.ready()
  // A long resync interval: only pub/sub can deliver within the test's bound.
  const lists = [
    redisDenyList(redis, { resyncInterval: 3600 }),
    redisDenyList(redis, { resyncInterval: 3600 }),
  ]
  const writer = redisDenyList(other, { resyncInterval: 3600 })
  t.teardown(() => {
    for (const list of [...lists, writer]) list.close()
  })
  await within(2000, async () => Number((await redis.client.pubsub('NUMSUB', 'portcullis:deny'))[1]) === 2)
  await writer.revoke({ token: 'tok-fanout' })
  const auth = { token: 'tok-fanout', clientId: '', scopes: [] }
  await within(1000, () => lists.every((list) => list.isDenied(auth)))
  t.pass('both lists refuse it')
})
