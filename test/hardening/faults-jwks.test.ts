import { setTimeout as sleep } from 'node:timers/promises'
import { type JwtVerifierOptions, jwtVerifier } from '@portcullis/core'
import { refusedPort } from '@portcullis/test-kit'
import t from 'tap'
import {
  type Adapter,
  dropConnection,
  eventually,
  getNotes,
  json,
  mint,
  RESOURCE,
  slow,
  startFaultApp,
  startUpstream,
} from './fault-fixtures.js'
import { makeSigningKeys } from './token-forge.js'

// The key set of the authorization server misbehaving while the protected app runs: down at
// start-up, down after warm-up, slow, answering junk, rotating under load, flooded with made-up
// key ids. Real sockets on 127.0.0.1, real clocks; every loop is bounded.

const keys = await makeSigningKeys()
const ES = keys.es256
const RS = keys.rs256
const keySet = (...signing: (typeof ES)[]) => json({ keys: signing.map((key) => key.publicJwk) })

const ADAPTERS: Adapter[] = ['fastify', 'express']

/** Gate options for `issuer` whose keys are at `jwksUri`, with the verifier kept for its status. */
function gateFor(
  issuer: string,
  jwksUri: string,
  jwks: JwtVerifierOptions['jwks'] = {},
  verifyTimeoutMs?: number,
) {
  const verifier = jwtVerifier({ issuer, audience: RESOURCE, jwksUri, jwks })
  return {
    verifier,
    options: {
      resource: RESOURCE,
      authorizationServers: [issuer],
      verifier,
      ...(verifyTimeoutMs === undefined ? {} : { verifyTimeoutMs }),
    },
  }
}

for (const adapter of ADAPTERS) {
  t.test(
    `${adapter}: key set down at start-up: the server starts, 503 with Retry-After, then recovers`,
    async (t) => {
      const port = await refusedPort()
      const issuer = `http://127.0.0.1:${port}`
      const { options } = gateFor(issuer, `${issuer}/jwks`, { cooldown: 1 })
      const app = await startFaultApp(adapter, options)
      t.teardown(() => app.close())

      const down = await getNotes(app, await mint(ES, issuer))
      t.equal(down.status, 503, 'no keys yet: 503')
      t.match(down.retryAfter, /^[1-9][0-9]*$/, 'with Retry-After')
      t.equal(down.challenge, null, 'no challenge: the token may be fine, the client must not re-authorize')
      t.match(JSON.parse(down.body), { error: 'temporarily_unavailable' })

      // The authorization server comes up on its port.
      const upstream = await startUpstream(keySet(ES), port)
      t.teardown(() => upstream.close())
      await sleep(Number(down.retryAfter) * 1000)
      const recovered = await eventually(
        async () => (await getNotes(app, await mint(ES, issuer))).status === 200,
        3000,
      )
      t.ok(recovered, 'once the key set answers, valid tokens are accepted')
    },
  )

  t.test(`${adapter}: slow key set: 503 within the fetch timeout`, async (t) => {
    const upstream = await startUpstream(slow(5000, keySet(ES)))
    t.teardown(() => upstream.close())
    const { options } = gateFor(upstream.url, `${upstream.url}/jwks`, { fetchTimeoutMs: 300 })
    const app = await startFaultApp(adapter, options)
    t.teardown(() => app.close())
    const answer = await getNotes(app, await mint(ES, upstream.url))
    t.equal(answer.status, 503)
    t.match(answer.retryAfter, /^[1-9][0-9]*$/)
    t.ok(
      answer.ms >= 250 && answer.ms < 300 + 700,
      `answered after the 300 ms timeout, not later (${answer.ms.toFixed(0)} ms)`,
    )
  })

  t.test(`${adapter}: a verifier slower than verifyTimeoutMs: 503 within that bound`, async (t) => {
    const upstream = await startUpstream(slow(5000, keySet(ES)))
    t.teardown(() => upstream.close())
    const { options } = gateFor(upstream.url, `${upstream.url}/jwks`, { fetchTimeoutMs: 5000 }, 400)
    const app = await startFaultApp(adapter, options)
    t.teardown(() => app.close())
    const answer = await getNotes(app, await mint(ES, upstream.url))
    t.equal(answer.status, 503)
    t.match(answer.retryAfter, /^[1-9][0-9]*$/)
    t.ok(answer.ms >= 350 && answer.ms < 400 + 700, `bounded by verifyTimeoutMs (${answer.ms.toFixed(0)} ms)`)
  })
}

t.test('junk from the key set endpoint: 503 every time, never a 401 or an acceptance', async (t) => {
  const junk: Array<[string, Parameters<typeof startUpstream>[0]]> = [
    ['HTML instead of JSON', json('<html>oops</html>', 200, { 'content-type': 'text/html' })],
    ['truncated JSON', json('{"keys":[{"kty":"EC"')],
    ['a JSON array', json([ES.publicJwk])],
    ['keys that is not a list', json({ keys: ES.publicJwk })],
    [
      'only symmetric and encryption keys',
      json({
        keys: [
          { kty: 'oct', k: 'c2VjcmV0', kid: 'es-1' },
          { ...RS.publicJwk, use: 'enc' },
        ],
      }),
    ],
    ['private key material', json({ keys: [{ ...ES.publicJwk, d: 'AAAA' }] })],
    ['an error status', json({ error: 'server_error' }, 500)],
    ['a redirect elsewhere', json('', 302, { location: 'http://127.0.0.1:1/jwks' })],
    ['an oversized body (2 MiB)', json({ keys: [ES.publicJwk], padding: 'x'.repeat(2 * 1024 * 1024) })],
    [
      'more keys than allowed (101)',
      json({ keys: Array.from({ length: 101 }, (_, i) => ({ ...ES.publicJwk, kid: `k${i}` })) }),
    ],
    ['a dropped connection', dropConnection],
  ]
  for (const [name, behaviour] of junk) {
    await t.test(name, async (t) => {
      const upstream = await startUpstream(behaviour)
      t.teardown(() => upstream.close())
      const { options, verifier } = gateFor(upstream.url, `${upstream.url}/jwks`)
      const app = await startFaultApp('fastify', options)
      t.teardown(() => app.close())
      const answer = await getNotes(app, await mint(ES, upstream.url))
      t.equal(answer.status, 503)
      t.match(answer.retryAfter, /^[1-9][0-9]*$/)
      t.ok(answer.ms < 5000, 'bounded')
      t.type(verifier.keySet.status().lastError, 'string', 'the key set says why')
      t.equal(verifier.keySet.status().keys, 0)
    })
  }
})

t.test(
  'key set down after warm-up: held keys keep working; status() and the log report the outage',
  async (t) => {
    const upstream = await startUpstream(keySet(ES))
    t.teardown(() => upstream.close())
    const issuer = upstream.url
    // Keys live 1 s, a failed refresh is retried after the 1 s cooldown.
    const { options, verifier } = gateFor(issuer, `${issuer}/jwks`, {
      cacheMaxAge: 1,
      cacheMinAge: 1,
      cooldown: 1,
    })
    const app = await startFaultApp('fastify', options)
    t.teardown(() => app.close())

    t.equal((await getNotes(app, await mint(ES, issuer))).status, 200, 'warm')
    t.equal(upstream.hits, 1)
    upstream.behave(dropConnection)
    await sleep(1100)

    // 2.5 s of requests with fresh tokens (no verified-token cache hits), the keys stale all along.
    const statuses: number[] = []
    const until = Date.now() + 2500
    while (Date.now() < until) {
      statuses.push((await getNotes(app, await mint(ES, issuer))).status)
      await sleep(25)
    }
    t.ok(statuses.length > 20, `${statuses.length} requests during the outage`)
    t.same([...new Set(statuses)], [200], 'every valid token accepted from the held keys')
    const status = verifier.keySet.status()
    t.equal(status.stale, true, 'status: stale')
    t.equal(status.keys, 1, 'status: the held key')
    t.type(status.lastError, 'string', 'status: why the refresh failed')
    t.ok(upstream.hits - 1 <= 4, `refresh attempts bounded by the cooldown (${upstream.hits - 1} in 2.5 s)`)

    const entries = app.logs.map((line) => JSON.parse(line))
    const outage = entries.find((entry) => entry.msg?.includes('signing keys'))
    t.ok(outage, 'the plugin logged the outage')
    t.equal(outage?.level, 40, 'at warn level')
    t.match(outage?.keySet, { jwksUri: `${issuer}/jwks`, stale: true, keys: 1 })
    t.type(outage?.keySet?.error, 'string')

    upstream.behave(keySet(ES))
    const fresh = await eventually(async () => {
      await getNotes(app, await mint(ES, issuer))
      return verifier.keySet.status().stale === false
    }, 3000)
    t.ok(fresh, 'refreshed once the key set is back')
    t.equal(verifier.keySet.status().lastError, undefined)
    const recovery = app.logs
      .map((line) => JSON.parse(line))
      .find((entry) => entry.msg?.includes('refreshed again'))
    t.equal(recovery?.level, 30, 'the recovery is logged at info level')
  },
)

t.test('keys rotated under load: no valid request refused', async (t) => {
  let served = [ES]
  const upstream = await startUpstream((req, res) => keySet(...served)(req, res))
  t.teardown(() => upstream.close())
  const issuer = upstream.url
  // An unknown kid may refetch once per 1 s cooldown; lifetimes are the defaults (60–600 s), so
  // only a rotation makes the verifier fetch again.
  const { options } = gateFor(issuer, `${issuer}/jwks`, { cooldown: 1 })
  const app = await startFaultApp('fastify', options)
  t.teardown(() => app.close())
  let signer = ES
  t.equal((await getNotes(app, await mint(signer, issuer))).status, 200, 'warm')
  await sleep(1100)

  const results: Array<{ status: number; kid: string }> = []
  let running = true
  const worker = async () => {
    while (running) {
      const key = signer
      const answer = await getNotes(app, await mint(key, issuer))
      results.push({ status: answer.status, kid: key.kid })
    }
  }
  const workers = Array.from({ length: 8 }, worker)
  await sleep(500)
  // The issuer publishes a new key and signs with it at once.
  served = [ES, RS]
  signer = RS
  await sleep(1200)
  // The old key is retired once no token it signed is in use.
  served = [RS]
  await sleep(300)
  // A second rotation, more than a cooldown after the first.
  const third = keys['attacker-es256'] // just another key pair, published by the issuer this time
  served = [RS, third]
  signer = third
  await sleep(1000)
  running = false
  await Promise.all(workers)

  const refused = results.filter((result) => result.status !== 200)
  // Enough traffic to straddle both rotations (a loaded machine sends fewer; the kid checks below matter).
  t.ok(results.length > 30, `${results.length} requests under load`)
  t.same(refused, [], 'zero valid requests refused')
  for (const kid of [ES.kid, RS.kid, third.kid]) {
    t.ok(
      results.some((result) => result.kid === kid),
      `tokens signed with ${kid} were sent`,
    )
  }
  t.ok(upstream.hits <= 4, `key set fetched ${upstream.hits} times (warm-up and one per rotation)`)
})

t.test('a flood of made-up key ids: at most one fetch per cooldown, valid tokens unaffected', async (t) => {
  const upstream = await startUpstream(keySet(ES))
  t.teardown(() => upstream.close())
  const issuer = upstream.url
  const { options } = gateFor(issuer, `${issuer}/jwks`, { cooldown: 1 })
  const app = await startFaultApp('fastify', options)
  t.teardown(() => app.close())
  t.equal((await getNotes(app, await mint(ES, issuer))).status, 200, 'warm')
  const hitsBefore = upstream.hits

  const attacker = keys['attacker-es256']
  const statuses = new Map<string, number>()
  const started = Date.now()
  let running = true
  const flood = async () => {
    while (running) {
      const answer = await getNotes(app, await mint(attacker, issuer, {}, crypto.randomUUID()))
      const key = `forged ${answer.status}`
      statuses.set(key, (statuses.get(key) ?? 0) + 1)
    }
  }
  const legit = async () => {
    while (running) {
      const answer = await getNotes(app, await mint(ES, issuer))
      const key = `valid ${answer.status}`
      statuses.set(key, (statuses.get(key) ?? 0) + 1)
      await sleep(20)
    }
  }
  const tasks = [...Array.from({ length: 6 }, flood), legit()]
  await sleep(2500)
  running = false
  await Promise.all(tasks)
  const seconds = (Date.now() - started) / 1000
  const fetches = upstream.hits - hitsBefore

  t.ok(
    (statuses.get('forged 401') ?? 0) > 20, // a loaded machine sends fewer; the bound on fetches below is the point
    `forged tokens refused: ${JSON.stringify(Object.fromEntries(statuses))}`,
  )
  t.same(
    [...statuses.keys()].sort(),
    ['forged 401', 'valid 200'],
    'forged tokens only ever 401, valid tokens only ever 200',
  )
  t.ok(
    fetches <= Math.ceil(seconds / 1) + 1,
    `${fetches} key set fetches in ${seconds.toFixed(1)} s (cooldown 1 s)`,
  )
})
