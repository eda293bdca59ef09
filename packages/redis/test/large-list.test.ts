import { revocationKey, tokenFingerprint } from '@portcullis/core'
import { redisServer } from '@portcullis/test-kit'
import { Redis } from 'ioredis'
import t from 'tap'
import { authorizationServer, nowS, startInstance, within } from './fixtures/instances.js'

// The advertised maximum (maxEntries, 100,000 by default) must load within the command timeout
// of each page, on three instances at once (in this one process), on this machine. Two places are
// left for the revocations that follow.
const ENTRIES = 100_000 - 2
const server = await redisServer(t)

/** Writes `n` revocations the way instances lay them out, the first three for known tokens. */
async function seed(n: number): Promise<string[]> {
  const admin = new Redis({ port: server.port, host: '127.0.0.1' })
  try {
    await admin.flushall()
    const known = ['tok-big-0', 'tok-big-1', 'tok-big-2']
    const exp = nowS() + 3600
    for (let start = 0; start < n; start += 10_000) {
      const args: (string | number)[] = []
      for (let i = start; i < Math.min(n, start + 10_000); i++) {
        const fingerprint =
          i < known.length ? tokenFingerprint(known[i]!) : `seed${String(i).padStart(12, '0')}`
        args.push(exp, revocationKey({ fingerprint, expiresAt: exp }))
      }
      await admin.zadd('portcullis:deny', ...args)
    }
    await admin.zadd('portcullis:deny', '+inf', '["e","seeded"]')
    await admin.hset('portcullis:deny:meta', 'epoch', 'seeded', 'version', 1, 'since', Date.now() - 60_000)
    return known
  } finally {
    admin.disconnect()
  }
}

t.test(
  `${(ENTRIES + 2).toLocaleString('en')} revocations (maxEntries) load on three instances at once`,
  async (t) => {
    const known = await seed(ENTRIES)
    const as = await authorizationServer(t)
    for (const token of [...known, 'tok-fine']) as.active(token)
    const instances = await Promise.all(
      // The default command timeout (250 ms) bounds each page.
      [0, 1, 2].map(() =>
        startInstance(t, {
          redisUrl: server.url,
          as,
          awaitReady: false,
          connection: { commandTimeoutMs: 250 },
        }),
      ),
    )
    const took = await Promise.all(instances.map((instance) => within(60_000, () => instance.denyList.ready)))
    t.pass(`all three ready after ${Math.max(...took)} ms (each: ${took.join(', ')} ms)`)
    for (const instance of instances) {
      t.equal(instance.denyList.stats().entries, ENTRIES)
      for (const token of known) t.equal((await instance.call(token)).status, 401)
      t.equal((await instance.call('tok-fine')).status, 200)
    }

    // One more revocation: a message, not a reread of the whole list, keeps the others in step.
    const [a, b, c] = instances as [(typeof instances)[0], (typeof instances)[0], (typeof instances)[0]]
    await a.denyList.revoke({ token: 'tok-fine' })
    await within(3000, async () => (await b.call('tok-fine')).status === 401)
    await within(3000, async () => (await c.call('tok-fine')).status === 401)
    t.pass('a new revocation reaches the others by pub/sub')

    // A revoke that fails while a full read runs is written once Redis takes writes again.
    const admin = new Redis({ port: server.port, host: '127.0.0.1' })
    t.teardown(() => admin.disconnect())
    // Another writer moved the version: the next check reads the whole list (100 pages).
    await admin.hincrby('portcullis:deny:meta', 'version', 1)
    await admin.config('SET', 'maxmemory-policy', 'noeviction')
    await admin.config('SET', 'maxmemory', '1')
    let syncDone = false
    const syncing = a.denyList.sync().then(() => {
      syncDone = true
    })
    const { shared } = await a.denyList.revoke({ token: 'tok-raced' })
    t.equal(shared, false, 'refused: Redis takes no writes')
    t.equal(syncDone, false, 'while the full read was still running')
    await syncing
    await admin.config('SET', 'maxmemory', '0')
    const member = revocationKey({ fingerprint: tokenFingerprint('tok-raced'), expiresAt: 0 })
    const written = await within(5000, async () => (await admin.zscore('portcullis:deny', member)) !== null)
    t.pass(`written ${written} ms after Redis took writes again`)
  },
)
