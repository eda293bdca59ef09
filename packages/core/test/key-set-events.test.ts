import { generateKeyPairSync } from 'node:crypto'
import { jwksKeySet, type KeySetEvent, onKeySetEvent } from '@portcullis/core'
import { loopbackServer, sendJson } from '@portcullis/test-kit'
import t from 'tap'

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = { ...p256.publicKey.export({ format: 'jwk' }), kid: 'e1' }

t.test('a remote key set publishes failed refreshes and the recovery', async (t) => {
  let status = 200
  const server = await loopbackServer((_req, res) => sendJson(res, status, { keys: [jwk] }))
  t.teardown(() => server.close())
  const jwksUri = `${server.origin}/jwks`
  let clock = 1_000_000
  const keySet = jwksKeySet({ jwksUri, now: () => clock, cacheMaxAge: 60, cacheMinAge: 60, cooldown: 10 })
  const events: KeySetEvent[] = []
  const stop = onKeySetEvent((event) => {
    if (event.jwksUri === jwksUri) events.push(event)
  })
  t.teardown(stop)

  await keySet.getKey({ alg: 'ES256', kid: 'e1' })
  t.same(events, [], 'a first success is not news')

  status = 503
  clock += 61_000
  await keySet.refresh().catch(() => {})
  t.same(events, [{ type: 'refresh_failed', jwksUri, error: events[0]?.error, keys: 1, stale: true }])
  t.match(events[0]?.error, /503/)
  t.equal((await keySet.getKey({ alg: 'ES256', kid: 'e1' })).kid, 'e1', 'held keys still serve')

  status = 200
  await keySet.refresh()
  t.same(events[1], { type: 'refresh_recovered', jwksUri, keys: 1, stale: false })
  await keySet.refresh()
  t.equal(events.length, 2, 'only the first success after a failure is a recovery')
})

t.test('no key set at all: each failed fetch is published with no keys held', async (t) => {
  const server = await loopbackServer((_req, res) =>
    sendJson(res, 200, { keys: [{ kty: 'oct', k: 'AAAA' }] }),
  )
  t.teardown(() => server.close())
  const jwksUri = `${server.origin}/jwks`
  const events: KeySetEvent[] = []
  const stop = onKeySetEvent((event) => {
    if (event.jwksUri === jwksUri) events.push(event)
  })
  t.teardown(stop)
  const keySet = jwksKeySet({ jwksUri })
  await keySet.getKey({ alg: 'ES256' }).catch(() => {})
  t.match(events, [
    { type: 'key_ignored', keys: 0, ignored: { reason: /symmetric/ } },
    { type: 'refresh_failed', keys: 0, stale: false, error: /no usable signing key/ },
  ])
})

t.test('a listener that throws breaks nothing; stop() stops the reports', async (t) => {
  let status = 503
  const server = await loopbackServer((_req, res) => sendJson(res, status, { keys: [jwk] }))
  t.teardown(() => server.close())
  const jwksUri = `${server.origin}/jwks`
  let calls = 0
  const stop = onKeySetEvent((event) => {
    if (event.jwksUri !== jwksUri) return
    calls++
    throw new Error('listener bug')
  })
  const keySet = jwksKeySet({ jwksUri, cooldown: 0 })
  const failure = await keySet.getKey({ alg: 'ES256', kid: 'e1' }).catch((error: Error) => error)
  t.match(failure, { reason: 'jwks_unavailable' }, 'the key set answers as without a listener')
  t.equal(calls, 1)
  stop()
  status = 200
  await keySet.refresh()
  t.equal(calls, 1, 'no report after stop()')
  t.equal((await keySet.getKey({ alg: 'ES256', kid: 'e1' })).kid, 'e1')
})
