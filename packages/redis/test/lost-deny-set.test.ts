import { redisServer } from '@portcullis/test-kit'
import t, { type Test } from 'tap'
import { authorizationServer, type Instance, startInstance, within } from './fixtures/instances.js'

// A set evicted, deleted or flushed is noticed by its epoch and written back by the instances
// that hold its revocations. The bound asserted: a fresh instance refuses every revoked token from
// its first answer (503 before it is ready, 401 after), and the set is whole again within
// 2 × resyncInterval + the write-back (here resyncInterval 0.5 s; allowed 5 s on a loaded machine).
const server = await redisServer(t, { args: ['--maxmemory', '4mb', '--maxmemory-policy', 'allkeys-lru'] })
t.beforeEach(() => server.flush())
const BOUND_MS = 5000

async function revokeMany(
  as: Awaited<ReturnType<typeof authorizationServer>>,
  by: Instance,
  n: number,
  tag: string,
) {
  const tokens = Array.from({ length: n }, (_, i) => `tok-${tag}-${i}`)
  for (const token of tokens) {
    as.active(token)
    await by.denyList.revoke({ token })
  }
  return tokens
}

/** How many of `tokens` an instance admits (200); 503s (not ready) and 401s admit nothing. */
async function admitted(instance: Instance, tokens: readonly string[]): Promise<number> {
  let count = 0
  for (const token of tokens) if ((await instance.call(token)).status === 200) count++
  return count
}

/** Starts an instance and checks it never admits a revoked token, from its first request on. */
async function freshInstance(
  t: Test,
  as: Awaited<ReturnType<typeof authorizationServer>>,
  revoked: string[],
) {
  const started = Date.now()
  const instance = await startInstance(t, { redisUrl: server.url, as, awaitReady: false })
  let leaked = 0
  while (!instance.denyList.ready) {
    leaked += await admitted(instance, revoked.slice(0, 5))
    if (Date.now() - started > BOUND_MS) break
  }
  t.equal(leaked, 0, 'nothing revoked admitted while it loads')
  t.ok(instance.denyList.ready, `ready after ${Date.now() - started} ms`)
  return instance
}

for (const [name, lose] of [
  ['deleted by an operator (DEL)', (a: Instance) => a.redis.client.del('portcullis:deny')],
  [
    'deleted with its meta (DEL both)',
    (a: Instance) => a.redis.client.del('portcullis:deny', 'portcullis:deny:meta'),
  ],
  ['flushed (FLUSHALL)', () => server.flush()],
] as const) {
  t.test(`a deny set ${name} is written back; fresh instances refuse every revoked token`, async (t) => {
    const as = await authorizationServer(t)
    const a = await startInstance(t, { redisUrl: server.url, as })
    const b = await startInstance(t, { redisUrl: server.url, as })
    const revoked = await revokeMany(as, a, 20, 'first')
    await within(1000, () => b.denyList.stats().entries === 20)
    await lose(a)
    const c = await freshInstance(t, as, revoked)
    t.equal(await admitted(c, revoked), 0, 'a fresh instance refuses 20/20 revoked tokens once ready')
    t.equal(await a.redis.client.zcount('portcullis:deny', '-inf', '(+inf'), 20, 'the set is whole again')
    t.ok(a.denyList.stats().restored + b.denyList.stats().restored >= 1, 'an instance restored it')
    t.ok(
      [...a.logs, ...b.logs].some(
        (line) => line.level === 'warn' && /deny list in Redis was lost/.test(line.message),
      ),
      'the loss is logged',
    )
  })
}

t.test(
  'flushed, then as many new revocations (the version counts back up): nothing is lost, even after a rolling restart',
  async (t) => {
    const as = await authorizationServer(t)
    const a = await startInstance(t, { redisUrl: server.url, as })
    const b = await startInstance(t, { redisUrl: server.url, as })
    const old = await revokeMany(as, a, 20, 'old')
    await within(1000, () => b.denyList.stats().entries === 20)
    await server.flush()
    // Another instance, started after the flush, makes 20 new revocations at once.
    const d = await startInstance(t, { redisUrl: server.url, as, awaitReady: false })
    await d.redis.ready()
    const recent = await revokeMany(as, d, 20, 'new')
    const e = await freshInstance(t, as, [...old, ...recent])
    await within(BOUND_MS, async () => (await admitted(e, [...old, ...recent])) === 0)
    t.pass('a fresh instance refuses 40/40')
    // Rolling restart: the instances that held the old revocations go away.
    for (const gone of [a, b, d]) {
      gone.denyList.close()
      await gone.app.close()
      await gone.redis.close()
    }
    const f = await freshInstance(t, as, [...old, ...recent])
    t.equal(await admitted(f, [...old, ...recent]), 0, 'after the restart, 0/40 admitted')
  },
)

t.test('evicted under allkeys-lru by memory pressure: noticed and written back', async (t) => {
  const as = await authorizationServer(t)
  const a = await startInstance(t, { redisUrl: server.url, as })
  const b = await startInstance(t, { redisUrl: server.url, as })
  const revoked = await revokeMany(as, a, 20, 'evicted')
  await within(1000, () => b.denyList.stats().entries === 20)
  // Fill Redis until the set is evicted (what 10k limiter keys did before they were bounded).
  const value = 'x'.repeat(64 * 1024)
  let written = 0
  while ((await a.redis.client.exists('portcullis:deny')) === 1 && written < 2000) {
    const batch = a.redis.client.pipeline()
    for (let i = 0; i < 20; i++) batch.set(`junk:${written++}`, value)
    await batch.exec()
  }
  t.ok(written < 2000, `the set was evicted after ${written} junk keys`)
  const c = await freshInstance(t, as, revoked)
  t.equal(await admitted(c, revoked), 0, 'a fresh instance refuses 20/20 revoked tokens once ready')
  t.match(a.redis.status(), { state: 'up', outages: 0 })
})
