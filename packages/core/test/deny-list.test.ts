import {
  type AuthInfo,
  createGate,
  type DenyList,
  jwtVerifier,
  MAX_CLOCK_TOLERANCE,
  MemoryDenyList,
  memoryDenyList,
  parseChallenges,
  revocationFromKey,
  revocationKey,
  revocationOf,
  temporarilyUnavailable,
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
  claims: { iss: ISSUER, aud: RESOURCE, scope: 'notes:read', client_id: 'c1', sub: 'alice' },
})
const jwk = signer.publicJwk

let serial = 0
const mint = (claims: Record<string, unknown> = {}) => signer.mint({ jti: `jti-${++serial}`, ...claims })

function gateWith(denyList: DenyList) {
  const verifier = jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] })
  return {
    verifier,
    gate: createGate({ resource: RESOURCE, authorizationServers: [ISSUER], verifier, denyList }),
  }
}

const auth = (token: string, extra: AuthInfo['extra'] = {}): AuthInfo => ({
  token,
  clientId: 'c1',
  scopes: [],
  extra: { fingerprint: tokenFingerprint(token), ...extra },
})

t.test('revocationOf names a token by fingerprint or jti, never keeps the token', async (t) => {
  const at = 1_800_000_000_000
  const now = () => at
  const byToken = revocationOf({ token: 'secret-token' }, { defaultTtl: 60, now })
  t.same(byToken, { fingerprint: tokenFingerprint('secret-token'), expiresAt: 1_800_000_060 })
  t.notMatch(JSON.stringify(byToken), /secret-token/)
  t.same(revocationOf({ fingerprint: 'AAAAAAAAAAAAAAAA', expiresAt: 5 }, { defaultTtl: 60 }), {
    fingerprint: 'AAAAAAAAAAAAAAAA',
    expiresAt: 5,
  })
  t.same(revocationOf({ jti: 'j1', issuer: ISSUER }, { defaultTtl: 1, now }), {
    jti: 'j1',
    issuer: ISSUER,
    expiresAt: 1_800_000_001,
  })
  t.throws(() => revocationOf({}, { defaultTtl: 1 }), /revocation: name the token by exactly one of/)
  t.throws(
    () => revocationOf({ token: 'a', jti: 'b' }, { defaultTtl: 1 }),
    /name the token by exactly one of token, fingerprint or jti/,
  )
  t.throws(
    () => revocationOf({ fingerprint: 'short' }, { defaultTtl: 1 }),
    /option "fingerprint": a fingerprint/,
  )
  t.throws(
    () => revocationOf({ token: 'a', issuer: ISSUER }, { defaultTtl: 1 }),
    /option "issuer": issuer narrows a jti/,
  )
  t.throws(() => revocationOf({ jti: 'a', expiresAt: Number.NaN }, { defaultTtl: 1 }), /option "expiresAt"/)
})

t.test('revocationKey is one text per token and reads back; junk reads as nothing', async (t) => {
  for (const revocation of [
    { fingerprint: 'abcdefghijklmnop', expiresAt: 9 },
    { jti: 'j "1"\n', expiresAt: 9 },
    { jti: 'j1', issuer: 'https://x.example/ a"b', expiresAt: 9 },
  ]) {
    const key = revocationKey(revocation)
    t.same(revocationFromKey(key, 9), revocation)
    t.equal(revocationKey({ ...revocation, expiresAt: 100 }), key, 'the expiry is not part of the key')
  }
  for (const junk of [
    '',
    'x',
    '{}',
    '["f"]',
    '["f","short"]',
    '["j","",""]',
    '["j",1,"a"]',
    '["q","a"]',
    'null',
  ]) {
    t.equal(revocationFromKey(junk, 9), undefined, junk)
  }
  t.equal(revocationFromKey('["f","abcdefghijklmnop"]', Number.NaN), undefined)
})

t.test('MemoryDenyList matches by fingerprint, by jti of any issuer, by jti of one issuer', async (t) => {
  let clock = 1_000_000
  const list = new MemoryDenyList({ now: () => clock })
  const later = (clock + 60_000) / 1000
  t.equal(list.isDenied(auth('t1')), false, 'empty list denies nothing')
  t.ok(list.add({ fingerprint: tokenFingerprint('t1'), expiresAt: later }))
  t.ok(list.add({ jti: 'any-issuer', expiresAt: later }))
  t.ok(list.add({ jti: 'one-issuer', issuer: ISSUER, expiresAt: later }))
  t.equal(list.size, 3)
  t.equal(list.isDenied(auth('t1')), true)
  t.equal(list.isDenied({ token: 't1', clientId: '', scopes: [] }), true, 'fingerprint computed when absent')
  t.equal(list.isDenied(auth('t2')), false)
  t.equal(list.isDenied(auth('t3', { iss: 'https://other.example', claims: { jti: 'any-issuer' } })), true)
  t.equal(list.isDenied(auth('t4', { iss: ISSUER, claims: { jti: 'one-issuer' } })), true)
  t.equal(list.isDenied(auth('t5', { claims: { iss: ISSUER, jti: 'one-issuer' } })), true, 'iss from claims')
  t.equal(list.isDenied(auth('t6', { iss: 'https://other.example', claims: { jti: 'one-issuer' } })), false)
  t.equal(list.isDenied(auth('t7', { claims: { jti: 42 } })), false, 'a jti that is not a string')
  t.same(
    list.entries().map(revocationKey).sort(),
    [
      revocationKey({ fingerprint: tokenFingerprint('t1'), expiresAt: 0 }),
      revocationKey({ jti: 'any-issuer', expiresAt: 0 }),
      revocationKey({ jti: 'one-issuer', issuer: ISSUER, expiresAt: 0 }),
    ].sort(),
  )
  list.delete({ jti: 'any-issuer', expiresAt: 0 })
  t.equal(list.isDenied(auth('t3', { claims: { jti: 'any-issuer' } })), false, 'deleted')

  clock += 60_000 + 1000
  t.equal(
    list.isDenied(auth('t1')),
    true,
    'past exp, within the clock tolerance verifiers allow: still denied',
  )
  clock += MAX_CLOCK_TOLERANCE * 1000
  t.equal(list.isDenied(auth('t1')), false, 'lapsed entries (exp + MAX_CLOCK_TOLERANCE) deny nothing')
  t.equal(
    list.add({ jti: 'old', expiresAt: clock / 1000 - MAX_CLOCK_TOLERANCE - 1 }),
    false,
    'a lapsed revocation is not added',
  )
  t.same(list.entries(), [])
})

t.test(
  'MemoryDenyList is bounded: full of live entries it refuses more, expired ones make room',
  async (t) => {
    let clock = 0
    const list = new MemoryDenyList({ maxEntries: 2, now: () => clock })
    list.add({ jti: 'a', expiresAt: 10 })
    list.add({ jti: 'b', expiresAt: 100 })
    t.ok(list.add({ jti: 'a', expiresAt: 20 }), 'a repeated entry takes no room')
    t.throws(() => list.add({ jti: 'c', expiresAt: 100 }), RangeError)
    t.equal(list.size, 2)
    clock = (20 + MAX_CLOCK_TOLERANCE) * 1000
    t.ok(list.add({ jti: 'c', expiresAt: 100 }), 'room once one has lapsed')
    t.same(
      list
        .entries()
        .map((r) => ('jti' in r ? r.jti : ''))
        .sort(),
      ['b', 'c'],
    )
    t.throws(() => new MemoryDenyList({ maxEntries: 0 }), /MemoryDenyList: option "maxEntries"/)
    // The factory's errors name the factory, as every other factory's do.
    t.throws(() => memoryDenyList({ maxEntries: 0 }), {
      name: 'TypeError',
      message: /^memoryDenyList: option "maxEntries"/,
      owner: 'memoryDenyList',
    })
  },
)

t.test(
  'MemoryDenyList.replace takes a whole list, the latest-expiring first when it is too long',
  async (t) => {
    const list = new MemoryDenyList({ maxEntries: 2, now: () => 0 })
    list.add({ jti: 'gone', expiresAt: 50 })
    const dropped = list.replace([
      { jti: 'x', expiresAt: 10 },
      { jti: 'y', expiresAt: 30 },
      { jti: 'z', expiresAt: 20 },
      { jti: 'lapsed', expiresAt: -MAX_CLOCK_TOLERANCE - 1 },
    ])
    t.equal(dropped, 1)
    t.same(
      list
        .entries()
        .map((r) => ('jti' in r ? r.jti : ''))
        .sort(),
      ['y', 'z'],
    )
  },
)

t.test(
  'the gate refuses a revoked token at once, also when the verifier answers from its cache',
  async (t) => {
    const denyList = new MemoryDenyList()
    const { gate, verifier } = gateWith(denyList)
    const token = await mint()
    const first = await gate.authenticate({ authorization: `Bearer ${token}` })
    t.equal(first.ok, true)
    t.equal(verifier.stats().cache?.entries, 1, 'the outcome is cached')

    denyList.add(revocationOf({ token }, { defaultTtl: 600 }))
    const second = await gate.authenticate({ authorization: `Bearer ${token}` })
    if (second.ok) return t.fail('a revoked token was accepted')
    t.equal(second.reply.status, 401)
    t.same(second.log.fields, { reason: 'token_revoked', status: 401, fingerprint: tokenFingerprint(token) })
    const [challenge] = parseChallenges(second.reply.headers['WWW-Authenticate']!)
    t.equal(challenge?.params.error, 'invalid_token')
    t.equal(challenge?.params.error_description, 'The access token has been revoked')

    const other = await mint()
    t.equal((await gate.authenticate({ authorization: `Bearer ${other}` })).ok, true, 'other tokens pass')
  },
)

t.test('the gate refuses by jti of the token issuer', async (t) => {
  const denyList = new MemoryDenyList()
  const { gate } = gateWith(denyList)
  const token = await mint({ jti: 'session-42' })
  denyList.add(revocationOf({ jti: 'session-42', issuer: ISSUER }, { defaultTtl: 600 }))
  const result = await gate.authenticate({ authorization: `Bearer ${token}` })
  t.equal(result.ok ? 'accepted' : result.log.fields.reason, 'token_revoked')
  denyList.replace([])
  t.equal((await gate.authenticate({ authorization: `Bearer ${token}` })).ok, true, 'lifted by a resync')
})

t.test('a deny list that cannot answer fails the request closed', async (t) => {
  const token = await mint()
  const stale = gateWith({
    isDenied: () => {
      throw temporarilyUnavailable('revocation_unavailable', 'The revocation list is out of date', 9)
    },
  }).gate
  const a = await stale.authenticate({ authorization: `Bearer ${token}` })
  if (a.ok) return t.fail('accepted')
  t.equal(a.reply.status, 503)
  t.equal(a.reply.headers['Retry-After'], '9')
  t.equal(a.log.fields.reason, 'revocation_unavailable')

  const broken = gateWith({
    isDenied: () => {
      throw new Error(`boom ${token}`)
    },
  }).gate
  const b = await broken.authenticate({ authorization: `Bearer ${token}` })
  if (b.ok) return t.fail('accepted')
  t.equal(b.reply.status, 503)
  t.equal(b.log.severity, 'error')
  t.notMatch(JSON.stringify(b.log), token, 'the token is scrubbed from the logged failure')
  t.throws(
    () =>
      createGate({
        resource: RESOURCE,
        authorizationServers: [ISSUER],
        verifier: gateWith({ isDenied: () => false }).verifier,
        denyList: {} as DenyList,
      }),
    /createGate: option "denyList": must be a DenyList/,
  )
})

t.test(
  'a deny list that cannot vouch yet (unavailableFor) makes the gate answer 503 for valid tokens',
  async (t) => {
    const token = await mint()
    let wait = 7
    let denied = false
    const { gate } = gateWith({ isDenied: () => denied, unavailableFor: () => wait })
    t.equal(gate.ready(), false, 'not ready, for readiness checks')
    const a = await gate.authenticate({ authorization: `Bearer ${token}` })
    if (a.ok) return t.fail('a token was vouched for before the list was known')
    t.equal(a.reply.status, 503)
    t.equal(a.reply.headers['Retry-After'], '7')
    t.same(a.reply.body, {
      error: 'temporarily_unavailable',
      error_description: 'The list of revoked tokens cannot be confirmed right now; retry later',
    })
    t.equal(a.log.fields.reason, 'revocation_unavailable')
    const bad = await gate.authenticate({ authorization: 'Bearer not.a.token' })
    t.equal(bad.ok ? 200 : bad.reply.status, 401, 'an invalid token is still refused as such')

    wait = 0
    t.equal(gate.ready(), true)
    t.equal(
      (await gate.authenticate({ authorization: `Bearer ${token}` })).ok,
      true,
      'vouched for once known',
    )
    denied = true
    t.equal((await gate.authenticate({ authorization: `Bearer ${token}` })).ok, false)

    const failing = gateWith({
      isDenied: () => false,
      unavailableFor: () => {
        throw new Error('cannot tell')
      },
    }).gate
    const b = await failing.authenticate({ authorization: `Bearer ${token}` })
    t.equal(b.ok ? 200 : b.reply.headers['Retry-After'], '5', 'a list that cannot say: 503, fail closed')
    t.equal(gateWith(new MemoryDenyList()).gate.ready(), true, 'a memory list is always known')
  },
)
