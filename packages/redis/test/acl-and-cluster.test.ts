import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { redisServer } from '@portcullis/test-kit'
import { Redis } from 'ioredis'
import t from 'tap'
import { authorizationServer, startInstance, within } from './fixtures/instances.js'

// What the README asks of an ACL user, word for word.
const DOCUMENTED_ACL =
  'resetchannels ~portcullis:* &portcullis:* -@all +@read +@write +@transaction +@pubsub +@scripting +@connection'

const server = await redisServer(t)

async function aclUser(name: string, rules: string): Promise<string> {
  const admin = new Redis({ port: server.port, host: '127.0.0.1' })
  try {
    await admin.call('ACL', 'SETUSER', name, 'reset', 'on', '>pw', ...rules.split(' '))
  } finally {
    admin.disconnect()
  }
  return `redis://${name}:pw@127.0.0.1:${server.port}`
}

t.test('the documented ACL is enough for every part', async (t) => {
  await server.flush()
  const url = await aclUser('gate', DOCUMENTED_ACL)
  const as = await authorizationServer(t)
  const limiter = { maxAttempts: 2, window: 30 }
  const a = await startInstance(t, { redisUrl: url, as, limiter })
  const b = await startInstance(t, { redisUrl: url, as, limiter })
  as.active('tok-acl')
  t.equal((await a.call('tok-acl')).status, 200)
  t.equal((await b.call('tok-acl')).status, 200)
  t.equal(as.callsFor('tok-acl'), 1, 'the introspection cache is shared')
  const { shared, published } = await a.denyList.revoke({ token: 'tok-acl' })
  t.same({ shared, published }, { shared: true, published: true })
  await within(1000, async () => (await b.call('tok-acl')).status === 401)
  t.equal((await a.call('bad-1', '192.0.2.9')).status, 401)
  t.equal((await b.call('bad-2', '192.0.2.9')).status, 401)
  await within(1000, async () => (await a.call('bad-3', '192.0.2.9')).status === 429)
  for (const instance of [a, b]) {
    t.match(instance.redis.status(), { refusals: 0, outages: 0 }, 'nothing refused')
  }
})

t.test(
  'an ACL user without channels (Redis 7 default): revocations still reach every instance by resync',
  async (t) => {
    await server.flush()
    const url = await aclUser('nochannels', DOCUMENTED_ACL.replace(' &portcullis:*', ''))
    const as = await authorizationServer(t)
    const a = await startInstance(t, { redisUrl: url, as })
    const b = await startInstance(t, { redisUrl: url, as })
    as.active('tok-nochan')
    t.equal((await b.call('tok-nochan')).status, 200)
    const { shared, published } = await a.denyList.revoke({ token: 'tok-nochan' })
    t.same({ shared, published }, { shared: true, published: false }, 'written, not published')
    const took = await within(1500, async () => (await b.call('tok-nochan')).status === 401)
    t.pass(`the other instance refused it after ${took} ms (resyncInterval 500 ms)`)
    for (const instance of [a, b]) {
      t.match(instance.redis.status(), { state: 'up', outages: 0 }, 'not an outage')
      t.notOk(instance.logs.some((line) => /unreachable/.test(line.message)))
    }
    const said = a.logs.find((line) => line.fields.kind === 'no_permission')
    t.match(said, { level: 'error', message: /&<keyPrefix>\*/ }, 'the log says which ACL is needed')
  },
)

t.test('an ACL user without the keys: no token is vouched for, and the log says why', async (t) => {
  await server.flush()
  const url = await aclUser('nokeys', DOCUMENTED_ACL.replace('~portcullis:*', '~other:*'))
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: url, as, awaitReady: false })
  as.active('tok-nokeys')
  await within(3000, () => a.redis.status().refusals > 0)
  const res = await a.call('tok-nokeys')
  t.equal(res.status, 503)
  t.equal(res.headers.get('retry-after'), '5')
  t.match(
    a.logs.find((line) => line.fields.kind === 'no_permission'),
    { message: /ACL user/ },
  )
})

t.test('Redis Cluster is refused at start-up: 503, and the log says so', async (t) => {
  const nodesFile = `portcullis-test-${randomUUID()}.conf`
  t.teardown(() => rm(join(tmpdir(), nodesFile), { force: true }))
  const cluster = await redisServer(t, {
    args: ['--cluster-enabled', 'yes', '--cluster-config-file', nodesFile],
  })
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: cluster.url, as, awaitReady: false })
  as.active('tok-cluster')
  await within(3000, () => a.redis.status().unsupported !== undefined)
  t.equal((await a.call('tok-cluster')).status, 503)
  t.equal(a.denyList.ready, false)
  t.match(
    a.logs.find((line) => line.fields.kind === 'cluster'),
    {
      level: 'error',
      message: /Redis Cluster is not supported/,
    },
  )
  t.match(a.redis.status(), { outages: 0 }, 'cluster errors are no outage')
})
