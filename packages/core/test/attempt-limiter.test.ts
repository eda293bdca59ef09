import {
  type AttemptLimiter,
  AttemptWindows,
  clientAddressKey,
  createGate,
  jwtVerifier,
  tokenFingerprint,
} from '@portcullis/core'
import { tokenSigner } from '@portcullis/test-kit'
import t from 'tap'

const ISSUER = 'https://as.example.com/realms/main'
const RESOURCE = 'https://mcp.example.com/mcp'

const signer = await tokenSigner({
  alg: 'EdDSA',
  kid: 'k1',
  lifetime: 600,
  claims: { iss: ISSUER, aud: RESOURCE, scope: 'notes:read', sub: 'alice' },
})
const jwk = signer.publicJwk
const valid = await signer.mint({ client_id: 'c1' })
// Same claims, another key: refused at the signature.
const forged = await signer.mint({}, { forged: true })

const gateWith = (attemptLimiter: AttemptLimiter) =>
  createGate({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] }),
    attemptLimiter,
  })

t.test('clientAddressKey: IPv4 as is, IPv4-mapped unwrapped, IPv6 by /64, other text bounded', async (t) => {
  const cases: [string, string][] = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4::/64'],
    ['/run/app.sock', '/run/app.sock'],
  ]
  for (const [address, key] of cases) t.equal(clientAddressKey(address), key, address)
  t.equal(clientAddressKey('x'.repeat(500)).length, 100)
})

t.test('AttemptWindows: a fixed window per address, blocked once the count reaches the limit', async (t) => {
  let clock = 0
  const windows = new AttemptWindows({ maxAttempts: 3, window: 10, now: () => clock })
  t.equal(windows.retryAfter('a'), 0)
  windows.recordFailure('a')
  windows.recordFailure('a')
  t.equal(windows.retryAfter('a'), 0, 'under the limit')
  windows.recordFailure('a')
  t.equal(windows.retryAfter('a'), 10, 'at the limit: the rest of the window')
  t.equal(windows.retryAfter('b'), 0, 'other addresses are not affected')
  clock = 4_500
  t.equal(windows.retryAfter('a'), 6, 'rounded up to whole seconds')
  clock = 10_000
  t.equal(windows.retryAfter('a'), 0, 'the window closed')
  windows.recordFailure('a')
  t.equal(windows.retryAfter('a'), 0, 'a new window starts from one')

  windows.observe('c', 7, 2_000)
  t.equal(windows.retryAfter('c'), 2, 'a count from a shared store blocks too')
  windows.observe('c', 7, 0)
  t.equal(windows.retryAfter('c'), 0, 'an expired shared window lifts it')
  t.throws(() => new AttemptWindows({ maxAttempts: 0, window: 1 }), /AttemptWindows: option "maxAttempts"/)
  t.throws(() => new AttemptWindows({ maxAttempts: 1, window: -1 }), /option "window"/)
})

t.test('AttemptWindows holds at most maxAddresses', async (t) => {
  const windows = new AttemptWindows({ maxAttempts: 1, window: 60, maxAddresses: 100 })
  for (let i = 0; i < 1000; i++) windows.recordFailure(`10.0.${i >> 8}.${i & 255}`)
  t.equal(windows.size, 100)
})

t.test('the gate answers 429 with Retry-After past the limit, before verifying anything', async (t) => {
  const limiter = new AttemptWindows({ maxAttempts: 2, window: 30 })
  const gate = gateWith(limiter)
  const from = (clientAddress: string, token: string) =>
    gate.authenticate({ authorization: `Bearer ${token}`, clientAddress })

  for (let i = 0; i < 2; i++) {
    const refused = await from('203.0.113.7', forged)
    t.equal(refused.ok ? 200 : refused.reply.status, 401, `attempt ${i + 1} is judged`)
  }
  const limited = await from('::ffff:203.0.113.7', valid)
  if (limited.ok) return t.fail('let through past the limit')
  t.equal(limited.reply.status, 429)
  t.equal(limited.error.status, 429)
  t.same(limited.reply.headers, {
    'Cache-Control': 'no-store',
    'Content-Type': 'application/json; charset=utf-8',
    'Retry-After': '30',
  })
  t.same(limited.reply.body, {
    error: 'temporarily_unavailable',
    error_description: 'Too many refused access tokens from this client address; retry after 30 s',
  })
  t.same(limited.log.fields, {
    reason: 'attempts_exceeded',
    status: 429,
    fingerprint: tokenFingerprint(valid),
  })

  const missing = await gate.authenticate({ clientAddress: '203.0.113.7' })
  t.equal(
    missing.ok ? 200 : missing.reply.status,
    401,
    'a request without a token still learns where to get one',
  )
  t.equal((await from('198.51.100.1', valid)).ok, true, 'other addresses go on')
  t.equal((await gate.authenticate({ authorization: `Bearer ${forged}` })).ok, false)
  t.equal(limiter.size, 1, 'no address given (an adapter that does not pass it): not counted')
})

t.test('valid tokens and server trouble are not counted; a failing limiter never blocks', async (t) => {
  const counted: string[] = []
  const gate = gateWith({ retryAfter: () => 0, recordFailure: (address) => void counted.push(address) })
  await gate.authenticate({ authorization: `Bearer ${valid}`, clientAddress: '10.0.0.1' })
  await gate.authenticate({ authorization: 'Bearer a b', clientAddress: '10.0.0.2' })
  await gate.authenticate({ clientAddress: '10.0.0.3' })
  await gate.authenticate({ authorization: `Bearer ${forged}`, clientAddress: '2001:db8::7' })
  t.same(counted, ['2001:db8:0:0::/64'], 'only the refused token, under its address key')

  const broken = gateWith({
    retryAfter: () => {
      throw new Error('limiter down')
    },
    recordFailure: () => Promise.reject(new Error('limiter down')),
  })
  t.equal(
    (await broken.authenticate({ authorization: `Bearer ${valid}`, clientAddress: '10.0.0.1' })).ok,
    true,
  )
  const refused = await broken.authenticate({ authorization: `Bearer ${forged}`, clientAddress: '10.0.0.1' })
  t.equal(refused.ok ? 200 : refused.reply.status, 401)
  const odd = gateWith({ retryAfter: () => Number.NaN, recordFailure: () => {} })
  t.equal((await odd.authenticate({ authorization: `Bearer ${valid}`, clientAddress: '10.0.0.1' })).ok, true)
  t.throws(
    () =>
      createGate({
        resource: RESOURCE,
        authorizationServers: [ISSUER],
        verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] }),
        attemptLimiter: { retryAfter: () => 0 } as unknown as AttemptLimiter,
      }),
    /createGate: option "attemptLimiter": must be an AttemptLimiter/,
  )
})

t.test('a limiter that hangs delays a refusal by at most verifyTimeoutMs', async (t) => {
  const gate = createGate({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] }),
    verifyTimeoutMs: 50,
    attemptLimiter: { retryAfter: () => 0, recordFailure: () => new Promise(() => {}) },
  })
  const started = Date.now()
  const result = await gate.authenticate({ authorization: `Bearer ${forged}`, clientAddress: '10.0.0.1' })
  t.equal(result.ok ? 200 : result.reply.status, 401)
  t.ok(Date.now() - started < 1000, 'answered')
})

t.test('a clientAddress function is read only when a limiter needs the address', async (t) => {
  let reads = 0
  const address = () => {
    reads++
    return '198.51.100.9'
  }
  const unlimited = createGate({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] }),
  })
  t.ok((await unlimited.authenticate({ authorization: `Bearer ${valid}`, clientAddress: address })).ok)
  t.equal(reads, 0, 'no limiter: never read')

  const windows = new AttemptWindows({ maxAttempts: 1, window: 60 })
  const limited = gateWith(windows)
  const first = await limited.authenticate({ authorization: `Bearer ${forged}`, clientAddress: address })
  t.equal(first.ok ? 200 : first.reply.status, 401)
  const second = await limited.authenticate({ authorization: `Bearer ${valid}`, clientAddress: address })
  t.equal(second.ok ? 200 : second.reply.status, 429, 'the address the function gave was counted')
  t.ok(reads >= 2)
})

t.test('a limiter with forResource is asked once for the gate resource, and that one counts', async (t) => {
  const asked: string[] = []
  const counted: string[] = []
  const shared: AttemptLimiter = {
    retryAfter: () => 0,
    recordFailure: () => void t.fail('the shared limiter itself is not used'),
    forResource: (resource) => {
      asked.push(resource)
      return { retryAfter: () => 0, recordFailure: (address) => void counted.push(address) }
    },
  }
  const gate = gateWith(shared)
  t.same(asked, [RESOURCE], 'asked at start-up with the resource')
  await gate.authenticate({ authorization: `Bearer ${forged}`, clientAddress: '10.0.0.9' })
  t.same(counted, ['10.0.0.9'])
  t.same(asked, [RESOURCE], 'once, not per request')
})
