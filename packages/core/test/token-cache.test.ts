import { type AuthInfo, invalidToken, tokenFingerprint } from '@portcullis/core'
import { TokenCache } from '@portcullis/core/adapter'
import t from 'tap'

const SHARED_END = 'x'.repeat(40)
const authInfo = (token: string): AuthInfo =>
  Object.freeze({ token, clientId: 'c', scopes: ['read'], expiresAt: Math.floor(Date.now() / 1000) + 600 })

t.test('two tokens that end alike never share an outcome', async (t) => {
  const cache = new TokenCache({ maxEntries: 10 })
  const calls: string[] = []
  const verify = async (token: string) => {
    calls.push(token)
    return authInfo(token)
  }
  const first = `first.${SHARED_END}`
  const second = `second.${SHARED_END}`
  t.equal((await cache.verify(first, 0, verify)).token, first)
  t.equal(cache.peek(second), undefined, 'the other token is not a hit')
  t.equal((await cache.verify(second, 0, verify)).token, second)
  t.same(calls, [first, second], 'each verified on its own')
  t.equal(cache.peek(second)?.authInfo?.token, second)
  t.equal(cache.peek(first), undefined, 'the later one took the place of the earlier')
})

t.test('concurrent first sightings share one verification; tokens that end alike do not', async (t) => {
  const cache = new TokenCache({ maxEntries: 10 })
  let calls = 0
  const verify = async (token: string) => {
    calls++
    await new Promise((resolve) => setTimeout(resolve, 5))
    return authInfo(token)
  }
  const a = `a.${SHARED_END}`
  const b = `b.${SHARED_END}`
  const answers = await Promise.all([
    cache.verify(a, 0, verify),
    cache.verify(a, 0, verify),
    cache.verify(b, 0, verify),
  ])
  t.equal(calls, 2)
  t.same(
    answers.map((answer) => answer.token),
    [a, a, b],
  )
  t.equal(cache.stats().pending, 0)
})

t.test('a refused token is remembered by hash, for negativeTtl, with its fingerprint', async (t) => {
  let now = 1_000_000
  const cache = new TokenCache({ maxEntries: 10, negativeTtl: 5, now: () => now })
  let calls = 0
  const bad = `bad.${'y'.repeat(2000)}`
  const refuse = async () => {
    calls++
    throw invalidToken('signature_invalid', 'no')
  }
  await t.rejects(cache.verify(bad, 0, refuse), { name: 'PortcullisError', reason: 'signature_invalid' })
  await t.rejects(cache.verify(bad, 0, refuse), { name: 'PortcullisError', reason: 'signature_invalid' })
  t.equal(calls, 1, 'the replay cost no verification')
  t.equal(cache.peek(bad)?.fingerprint, tokenFingerprint(bad))
  t.equal(cache.peek(bad)?.authInfo, undefined)
  now += 5000
  t.equal(cache.peek(bad), undefined, 'forgotten after negativeTtl')
  t.equal(TokenCache.keyOf(bad).length, 43, 'refusals are keyed by a SHA-256, whatever the token length')
})

t.test('a verified outcome carries the fingerprint of the token', async (t) => {
  const cache = new TokenCache({ maxEntries: 10 })
  const token = `tok.${'z'.repeat(50)}`
  await cache.verify(token, 0, async (tk) => authInfo(tk))
  t.equal(cache.peek(token)?.fingerprint, tokenFingerprint(token))
  t.equal(cache.peek(`${token}z`), undefined)
  t.equal(cache.peek(token.slice(1)), undefined, 'a token with the same end but shorter is no hit')
})
