import { generateKeyPairSync, type JsonWebKey, type KeyObject, sign } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { importJwks, jwksKeySet, type PortcullisError, staticKeySet } from '@portcullis/core'
import { loopbackServer, rejectionOf, sendJson, sleep } from '@portcullis/test-kit'
import t from 'tap'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
const ed25519 = generateKeyPairSync('ed25519')
const x25519 = generateKeyPairSync('x25519')

const jwk = (key: KeyObject, extra: Record<string, unknown> = {}): JsonWebKey => ({
  ...key.export({ format: 'jwk' }),
  ...extra,
})

const reasonOf = async (promise: Promise<unknown>) => {
  const error = (await rejectionOf(promise)) as PortcullisError
  return `${error.code}/${error.reason}`
}

/** Waits (up to 10 s, for a loaded machine) until a background refresh has reached the server. */
async function settled(check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 10_000; !check() && Date.now() < deadline; ) await sleep(10)
}

t.test('importJwks binds each key to one algorithm and lists what it leaves out', async (t) => {
  const { keys, ignored } = importJwks({
    keys: [
      jwk(rsa.publicKey, { kid: 'rs', alg: 'RS256', use: 'sig' }),
      jwk(rsa2.publicKey, { kid: 'rsa-no-alg' }),
      jwk(rsa2.publicKey, { kid: 'ps', alg: 'PS384', key_ops: ['verify'] }),
      jwk(p256.publicKey, { kid: 'ec' }),
      jwk(p384.publicKey, { kid: 'ec384' }),
      jwk(ed25519.publicKey, { kid: 'ed' }),
      jwk(ed25519.publicKey, { kid: 'ed-rfc9864', alg: 'Ed25519' }),
      // left out:
      jwk(weakRsa.publicKey, { kid: 'weak' }),
      jwk(p384.publicKey, { kid: 'ec-wrong-alg', alg: 'ES256' }),
      jwk(rsa.publicKey, { kid: 'rsa-as-ec', alg: 'ES256' }),
      jwk(rsa.publicKey, { kid: 'hmac', alg: 'HS256' }),
      jwk(rsa.publicKey, { kid: 'enc-alg', alg: 'RSA-OAEP' }),
      jwk(rsa.publicKey, { kid: 'enc', use: 'enc' }),
      jwk(rsa.publicKey, { kid: 'ops', key_ops: ['encrypt'] }),
      jwk(rsa.privateKey, { kid: 'private' }),
      jwk(p256.privateKey, { kid: 'private-ec' }),
      { kty: 'oct', k: 'c2VjcmV0', kid: 'oct' },
      jwk(x25519.publicKey, { kid: 'x' }),
      { kty: 'RSA', n: 'AQAB', kid: 'broken' },
      jwk(rsa.publicKey, { kid: 7 }),
      jwk(rsa.publicKey, { kid: 'rs', alg: 'RS256' }),
      'not a key',
    ],
  })
  t.same(
    keys.map((k) => `${k.kid}:${k.alg}`),
    ['rs:RS256', 'rsa-no-alg:RS256', 'ps:PS384', 'ec:ES256', 'ec384:ES384', 'ed:EdDSA', 'ed-rfc9864:Ed25519'],
  )
  t.same(
    ignored.map((i) => i.kid ?? '-'),
    [
      'weak',
      'ec-wrong-alg',
      'rsa-as-ec',
      'hmac',
      'enc-alg',
      'enc',
      'ops',
      'private',
      'private-ec',
      'oct',
      'x',
      'broken',
      '-',
      'rs',
      '-',
    ],
  )
  t.match(ignored[0]?.reason, /1024 bits/)
  t.match(ignored[7]?.reason, /private/)
  t.match(ignored[9]?.reason, /symmetric/)
  t.throws(() => importJwks({ keys: {} }), /no "keys" list/)
  t.throws(() => importJwks(null), /no "keys" list/)
  t.throws(() => importJwks({ keys: [1, 2, 3] }, { maxKeys: 2 }), /3 keys, more than 2/)
  const rsaPs = importJwks({ keys: [jwk(rsa.publicKey)] }, { rsaAlgorithm: 'PS256' })
  t.equal(rsaPs.keys[0]?.alg, 'PS256', 'RSA keys without alg take the configured algorithm')
})

t.test('bound keys verify their own algorithm only', async (t) => {
  const data = Buffer.from('header.payload')
  const { keys } = importJwks({
    keys: [
      jwk(rsa.publicKey, { kid: 'r' }),
      jwk(p256.publicKey, { kid: 'e' }),
      jwk(ed25519.publicKey, { kid: 'd' }),
    ],
  })
  const [r, e, d] = keys
  t.ok(r?.verify(data, sign('sha256', data, rsa.privateKey)))
  t.notOk(r?.verify(data, sign('sha384', data, rsa.privateKey)), 'RS384 signature under an RS256 key')
  t.ok(e?.verify(data, sign('sha256', data, { key: p256.privateKey, dsaEncoding: 'ieee-p1363' })))
  t.notOk(e?.verify(data, sign('sha256', data, p256.privateKey)), 'DER signature is not JWS')
  t.ok(d?.verify(data, sign(null, data, ed25519.privateKey)))
  t.notOk(d?.verify(data, Buffer.alloc(64)))
  t.notOk(d?.verify(data, Buffer.alloc(3)), 'wrong length is false, not a throw')
})

t.test('staticKeySet lookup rules', async (t) => {
  const keySet = staticKeySet([
    jwk(rsa.publicKey, { kid: 'a' }),
    { key: p256.publicKey, kid: 'b' },
    { key: jwk(rsa2.publicKey), alg: 'PS256', kid: 'c' },
    ed25519.publicKey,
  ])
  t.equal((await keySet.getKey({ alg: 'RS256', kid: 'a' })).alg, 'RS256')
  t.equal((await keySet.getKey({ alg: 'ES256', kid: 'b' })).alg, 'ES256')
  t.equal((await keySet.getKey({ alg: 'PS256', kid: 'c' })).alg, 'PS256')
  t.equal((await keySet.getKey({ alg: 'EdDSA' })).kid, undefined, 'no kid: the only EdDSA key')
  t.equal((await keySet.getKey({ alg: 'ES256' })).kid, 'b', 'no kid: the only ES256 key')
  t.equal(await reasonOf(keySet.getKey({ alg: 'PS256', kid: 'a' })), 'invalid_token/key_unsuitable')
  t.equal(await reasonOf(keySet.getKey({ alg: 'RS256', kid: 'zzz' })), 'invalid_token/kid_unknown')
  t.equal(await reasonOf(keySet.getKey({ alg: 'ES384' })), 'invalid_token/kid_unknown')
  const two = staticKeySet([jwk(rsa.publicKey, { kid: 'a' }), jwk(rsa2.publicKey, { kid: 'b' })])
  t.equal(await reasonOf(two.getKey({ alg: 'RS256' })), 'invalid_token/kid_unknown', 'no kid, two keys fit')
  t.equal(keySet.status().keys, 4)
  t.throws(() => staticKeySet([jwk(rsa.privateKey)]), /key 0: private key material/)
  t.throws(() => staticKeySet([rsa.privateKey]), /key 0: not a public key/)
  t.throws(() => staticKeySet([{ key: p256.publicKey, alg: 'RS256' }]), /key 0: a ec key cannot sign RS256/)
  t.throws(() => staticKeySet([]), /non-empty/)
  t.throws(
    () =>
      staticKeySet([
        { key: rsa.publicKey, kid: 'a' },
        { key: rsa2.publicKey, kid: 'a' },
      ]),
    /share a kid/,
  )
})

/** A JWKS endpoint whose answer the test changes as it goes. */
async function jwksServer(initial: { keys: unknown[] }) {
  const state = {
    body: initial as unknown,
    status: 200,
    cacheControl: undefined as string | undefined,
    delayMs: 0,
    raw: undefined as string | undefined,
  }
  const server = await loopbackServer(async (_req, res: ServerResponse) => {
    if (state.delayMs > 0) await sleep(state.delayMs)
    if (state.raw !== undefined) {
      res.writeHead(state.status, { 'content-type': 'application/json' })
      res.end(state.raw)
      return
    }
    if (state.cacheControl !== undefined) res.setHeader('cache-control', state.cacheControl)
    sendJson(res, state.status, state.body)
  })
  return { server, state, uri: `${server.origin}/jwks` }
}

function clock(start = 1_700_000_000_000) {
  const c = { t: start, now: () => c.t, advance: (seconds: number) => (c.t += seconds * 1000) }
  return c
}

t.test('remote: lazy, single-flight cold start, Cache-Control within floor and ceiling', async (t) => {
  const { server, state, uri } = await jwksServer({ keys: [jwk(rsa.publicKey, { kid: 'k1', alg: 'RS256' })] })
  t.teardown(() => server.close())
  const c = clock()
  state.cacheControl = 'public, max-age=120'
  const keySet = jwksKeySet({ jwksUri: uri, now: c.now })
  t.equal(server.count(), 0, 'nothing fetched before first use')
  const keys = await Promise.all(Array.from({ length: 25 }, () => keySet.getKey({ alg: 'RS256', kid: 'k1' })))
  t.equal(server.count(), 1, '25 concurrent cold lookups share one fetch')
  t.ok(keys.every((k) => k === keys[0]))
  t.match(server.requests[0]?.headers.accept, /application\/jwk-set\+json/)
  c.advance(119)
  await keySet.getKey({ alg: 'RS256', kid: 'k1' })
  t.equal(server.count(), 1, 'fresh within max-age')
  t.equal(keySet.status().stale, false)
  c.advance(2)
  t.equal(keySet.status().stale, true, 'past max-age')
  await keySet.getKey({ alg: 'RS256', kid: 'k1' })
  await settled(() => server.count() >= 2 && !keySet.status().stale)
  t.equal(server.count(), 2, 'past max-age: refreshed (in the background)')
  t.equal(keySet.status().stale, false)

  state.cacheControl = 'max-age=5'
  await keySet.refresh()
  const fetches = server.count()
  c.advance(59)
  await keySet.getKey({ alg: 'RS256', kid: 'k1' })
  t.equal(server.count(), fetches, 'max-age below the 60 s floor is raised to it')

  state.cacheControl = 'max-age=86400'
  await keySet.refresh()
  c.advance(601)
  await keySet.getKey({ alg: 'RS256', kid: 'k1' })
  await settled(() => server.count() >= fetches + 2)
  t.equal(server.count(), fetches + 2, 'max-age above the 600 s ceiling is cut to it')

  state.cacheControl = 'no-cache'
  await keySet.refresh()
  c.advance(61)
  t.equal(keySet.status().stale, true, 'no-cache: the floor')
})

t.test('remote: rotation and the unknown-kid flood', async (t) => {
  const { server, state, uri } = await jwksServer({
    keys: [jwk(rsa.publicKey, { kid: 'old', alg: 'RS256' })],
  })
  t.teardown(() => server.close())
  const c = clock()
  const keySet = jwksKeySet({ jwksUri: uri, now: c.now, cooldown: 30 })
  await keySet.getKey({ alg: 'RS256', kid: 'old' })
  t.equal(server.count(), 1)

  // A flood of made-up kids right after a fetch: inside the cooldown, no fetch at all.
  const flood = await Promise.all(
    Array.from({ length: 200 }, (_, i) => reasonOf(keySet.getKey({ alg: 'RS256', kid: `random-${i}` }))),
  )
  t.ok(flood.every((r) => r === 'invalid_token/kid_unknown'))
  t.equal(server.count(), 1, 'no fetch inside the cooldown')

  // The issuer rotates: the new kid is found once the cooldown has passed.
  state.body = {
    keys: [jwk(rsa.publicKey, { kid: 'old', alg: 'RS256' }), jwk(rsa2.publicKey, { kid: 'new' })],
  }
  t.equal(await reasonOf(keySet.getKey({ alg: 'RS256', kid: 'new' })), 'invalid_token/kid_unknown')
  t.equal(server.count(), 1)
  c.advance(31)
  t.equal((await keySet.getKey({ alg: 'RS256', kid: 'new' })).kid, 'new', 'rotation picked up')
  t.equal(server.count(), 2)

  // Many cooldown periods of flooding, concurrent and sequential: at most one fetch per period.
  for (let period = 0; period < 5; period++) {
    c.advance(31)
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        keySet.getKey({ alg: 'RS256', kid: `x${period}-${i}` }).catch(() => {}),
      ),
    )
    for (let i = 0; i < 20; i++) await keySet.getKey({ alg: 'RS256', kid: `y${period}-${i}` }).catch(() => {})
  }
  t.equal(server.count(), 2 + 5, 'one fetch per cooldown period, whatever the flood')

  // A key the issuer dropped stops working after the next refresh.
  state.body = { keys: [jwk(rsa2.publicKey, { kid: 'new' })] }
  c.advance(31)
  await keySet.refresh()
  t.equal(await reasonOf(keySet.getKey({ alg: 'RS256', kid: 'old' })), 'invalid_token/kid_unknown')
})

t.test('remote: outage after warm-up serves stale keys within staleIfError', async (t) => {
  const { server, state, uri } = await jwksServer({ keys: [jwk(p256.publicKey, { kid: 'e1' })] })
  t.teardown(() => server.close())
  const c = clock()
  const keySet = jwksKeySet({ jwksUri: uri, now: c.now, staleIfError: 3600 })
  await keySet.getKey({ alg: 'ES256', kid: 'e1' })
  const warmAt = keySet.status().lastFetchAt
  state.status = 503
  c.advance(601)
  t.equal((await keySet.getKey({ alg: 'ES256', kid: 'e1' })).kid, 'e1', 'stale key still works')
  await settled(() => keySet.status().lastError !== undefined)
  const status = keySet.status()
  t.equal(status.stale, true)
  t.match(status.lastError, /HTTP 503/)
  t.equal(status.lastFetchAt, warmAt)
  t.equal(status.keys, 1)
  t.equal(server.count(), 2, 'the refresh was tried')
  c.advance(10)
  await keySet.getKey({ alg: 'ES256', kid: 'e1' })
  await sleep(100)
  t.equal(server.count(), 2, 'failed refreshes are not retried inside the cooldown')
  c.advance(3000)
  await keySet.getKey({ alg: 'ES256', kid: 'e1' })
  await settled(() => server.count() >= 3)
  t.equal(server.count(), 3, 'retried after the cooldown')
  c.advance(600)
  const error = (await rejectionOf(keySet.getKey({ alg: 'ES256', kid: 'e1' }))) as PortcullisError
  t.equal(error.reason, 'jwks_unavailable', 'past staleIfError the keys are no longer trusted')
  t.equal(error.status, 503)
  t.ok((error.retryAfter ?? 0) >= 1)
  state.status = 200
  c.advance(6)
  t.equal((await keySet.getKey({ alg: 'ES256', kid: 'e1' })).kid, 'e1', 'recovers once the endpoint does')
  t.equal(keySet.status().lastError, undefined)
})

t.test('remote: failures with no keys held', async (t) => {
  const { server, state, uri } = await jwksServer({ keys: [] })
  t.teardown(() => server.close())
  const c = clock()
  const keySet = jwksKeySet({ jwksUri: uri, now: c.now, fetchTimeoutMs: 300, maxBytes: 2048 })
  const expectUnavailable = async (pattern: RegExp, label: string) => {
    c.advance(10)
    const error = (await rejectionOf(keySet.getKey({ alg: 'RS256', kid: 'k' }))) as PortcullisError
    t.equal(`${error.code}/${error.reason}`, 'temporarily_unavailable/jwks_unavailable', label)
    t.match((error.cause as Error).message, pattern, label)
    t.equal(keySet.status().lastError, (error.cause as Error).message)
    t.notMatch(error.message, uri, 'the message does not name the internal URL')
  }
  await expectUnavailable(/no usable signing key/, 'empty key set')
  state.body = { keys: [{ kty: 'oct', k: 'AAAA' }] }
  await expectUnavailable(/no usable signing key \(1 ignored\)/, 'only unusable keys')
  t.equal(keySet.status().ignored.length, 1)
  state.raw = '<html>gateway</html>'
  await expectUnavailable(/not JSON/, 'garbage body')
  state.raw = '[1,2]'
  await expectUnavailable(/not a JSON object/, 'array body')
  state.raw = '{"keys":"nope"}'
  await expectUnavailable(/no "keys" list/, 'keys not a list')
  state.raw = undefined
  state.body = { keys: [jwk(rsa.publicKey, { kid: 'k', pad: 'x'.repeat(4096) })] }
  await expectUnavailable(/limit/, 'oversized body')
  state.body = { keys: [jwk(rsa.publicKey, { kid: 'k' })] }
  state.delayMs = 2000
  const started = Date.now()
  await expectUnavailable(/300 ms/, 'slow endpoint')
  t.ok(Date.now() - started < 1500, 'bounded by fetchTimeoutMs')
  state.delayMs = 0
  const fetches = server.count()
  const error = (await rejectionOf(keySet.getKey({ alg: 'RS256', kid: 'k' }))) as PortcullisError
  t.equal(error.reason, 'jwks_unavailable', 'right after a failure: backoff')
  t.equal(server.count(), fetches, 'no fetch during the backoff')
  c.advance(5)
  t.equal((await keySet.getKey({ alg: 'RS256', kid: 'k' })).kid, 'k')
})

t.test('remote: options are validated at creation', async (t) => {
  t.throws(() => jwksKeySet({ jwksUri: 'http://idp.example/jwks' }), /jwksKeySet: option "jwksUri": .*https/)
  t.throws(() => jwksKeySet({ jwksUri: 'not a url' }), /option "jwksUri"/)
  t.throws(() => jwksKeySet({ jwksUri: 'https://idp.example/jwks', cooldown: -1 }), /option "cooldown"/)
  t.throws(
    () => jwksKeySet({ jwksUri: 'https://idp.example/jwks', cacheMinAge: 700 }),
    /option "cacheMinAge"/,
  )
  t.throws(
    () => jwksKeySet({ jwksUri: 'https://idp.example/jwks', fetchTimeoutMs: 0 }),
    /option "fetchTimeoutMs"/,
  )
  t.throws(
    () => jwksKeySet({ jwksUri: 'https://idp.example/jwks', rsaAlgorithm: 'HS256' as 'RS256' }),
    /rsaAlgorithm/,
  )
  t.throws(() => jwksKeySet({ jwksUri: 'https://idp.example/jwks', cooldwn: 1 } as never), /cooldwn/)
  t.equal(jwksKeySet({ jwksUri: new URL('https://idp.example/jwks') }).jwksUri, 'https://idp.example/jwks')
  t.equal(jwksKeySet({ jwksUri: 'http://127.0.0.1:9/jwks' }).jwksUri, 'http://127.0.0.1:9/jwks')
})
