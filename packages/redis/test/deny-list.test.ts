import {
  MAX_CLOCK_TOLERANCE,
  MemoryDenyList,
  revocationKey,
  revocationLapsesAt,
  tokenFingerprint,
} from '@portcullis/core'
import { redisConnection, redisDenyList } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { authorizationServer, nowS, startInstance, within } from './fixtures/instances.js'

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

t.test('three instances: pub/sub within milliseconds; a deaf subscriber within resyncInterval', async (t) => {
  const as = await authorizationServer(t)
  const instances = [
    await startInstance(t, { redisUrl: server.url, as }),
    await startInstance(t, { redisUrl: server.url, as }),
    await startInstance(t, { redisUrl: server.url, as }),
  ]
  const [a] = instances as [(typeof instances)[0]]
  const auth = (token: string) => ({ token, clientId: '', scopes: [] })
  let pubsub = 0
  for (let i = 0; i < 20; i++) {
    const token = `tok-fast-${i}`
    const started = Date.now()
    await a.denyList.revoke({ token })
    pubsub = Math.max(
      pubsub,
      await within(RESYNC_MS + 500, () => instances.every((x) => x.denyList.isDenied(auth(token)))),
    )
    pubsub = Math.max(pubsub, Date.now() - started)
  }
  t.pass(`pub/sub: every instance refused each of 20 revocations within ${pubsub} ms`)

  // Deaf subscribers: written the way revoke writes, and no message reaches anyone.
  let deaf = 0
  for (let i = 0; i < 3; i++) {
    as.active(`tok-quiet-${i}`)
    for (const instance of instances) t.equal((await instance.call(`tok-quiet-${i}`)).status, 200)
    const expiresAt = nowS() + 600
    const started = Date.now()
    await a.redis.client
      .multi()
      .zadd(
        'portcullis:deny',
        expiresAt,
        revocationKey({ fingerprint: tokenFingerprint(`tok-quiet-${i}`), expiresAt }),
      )
      .hincrby('portcullis:deny:meta', 'version', 1)
      .exec()
    await within(RESYNC_MS + 1000, async () => {
      for (const instance of instances)
        if ((await instance.call(`tok-quiet-${i}`)).status !== 401) return false
      return true
    })
    deaf = Math.max(deaf, Date.now() - started)
  }
  t.ok(
    deaf <= RESYNC_MS + 1000,
    `no message: every instance refused within ${deaf} ms (resyncInterval ${RESYNC_MS} ms)`,
  )
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
    .hincrby('portcullis:deny:meta', 'version', 1)
    .exec()
  await a.denyList.sync()
  t.equal((await a.call('tok-fine')).status, 200)
  t.equal(a.denyList.stats().entries, 0)
})

t.test(
  'a revocation outlives its token by the clock tolerance verifiers allow (MAX_CLOCK_TOLERANCE)',
  async (t) => {
    const as = await authorizationServer(t)
    const a = await startInstance(t, { redisUrl: server.url, as })
    const b = await startInstance(t, { redisUrl: server.url, as })
    // The verifier accepts this token up to clockTolerance (60 s) past its exp.
    const exp = nowS() + 1
    as.active('tok-lapse', { exp })
    t.equal((await b.call('tok-lapse')).status, 200)
    await a.denyList.revoke({ token: 'tok-lapse', expiresAt: exp })
    await within(RESYNC_MS, async () => (await b.call('tok-lapse')).status === 401)
    await within(3000, () => nowS() >= exp + 1)
    // Past exp: the verifier alone would admit it again; the revocation must still hold everywhere.
    as.active('tok-control', { exp })
    t.equal(
      (await a.call('tok-control')).status,
      200,
      'the verifier still accepts an unrevoked token past exp',
    )
    for (const instance of [a, b])
      t.equal((await instance.call('tok-lapse')).status, 401, 'still refused past exp')
    const c = await startInstance(t, { redisUrl: server.url, as })
    t.equal((await c.call('tok-lapse')).status, 401, 'an instance started past exp loads it')
    const member = revocationKey({ fingerprint: tokenFingerprint('tok-lapse'), expiresAt: 0 })
    t.equal(Number(await a.redis.client.zscore('portcullis:deny', member)), exp, 'scored by exp in Redis')
    // Trimmed only once no verifier can accept the token: exp + MAX_CLOCK_TOLERANCE.
    await a.redis.client.zadd('portcullis:deny', nowS() - MAX_CLOCK_TOLERANCE - 1, '["f","AAAAAAAAAAAAAAAA"]')
    await a.denyList.revoke({ jti: 'later', issuer: as.origin })
    t.equal(
      await a.redis.client.zscore('portcullis:deny', '["f","AAAAAAAAAAAAAAAA"]'),
      null,
      'lapsed: trimmed',
    )
    t.equal(Number(await a.redis.client.zscore('portcullis:deny', member)), exp, 'within the tolerance: kept')
    const list = new MemoryDenyList({ now: () => (exp + MAX_CLOCK_TOLERANCE - 1) * 1000 })
    list.add({ fingerprint: tokenFingerprint('tok-lapse'), expiresAt: exp })
    const auth = { token: 'tok-lapse', clientId: '', scopes: [] }
    t.equal(list.isDenied(auth), true, 'the memory list holds it until exp + MAX_CLOCK_TOLERANCE')
    t.equal(revocationLapsesAt(exp), (exp + MAX_CLOCK_TOLERANCE) * 1000)
  },
)

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
