import { LruCache } from '@portcullis/core'
import t from 'tap'

const clock = () => {
  let now = 1_000_000
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms
    },
  }
}

t.test('rejects a maxEntries that is not a positive integer', async (t) => {
  for (const maxEntries of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new LruCache({ maxEntries }), /maxEntries must be a positive integer/, String(maxEntries))
  }
})

t.test('returns what was set until the TTL passes', async (t) => {
  const c = clock()
  const cache = new LruCache<string>({ maxEntries: 10, now: c.now })
  cache.set('a', 'A', 1000)
  t.equal(cache.get('a'), 'A')
  c.advance(999)
  t.equal(cache.get('a'), 'A')
  c.advance(1)
  t.equal(cache.get('a'), undefined, 'expired exactly at the TTL')
  t.equal(cache.size, 0, 'an expired entry is removed when read')
})

t.test('a zero, negative or NaN TTL stores nothing and drops an older value', async (t) => {
  const cache = new LruCache<string>({ maxEntries: 10 })
  for (const ttl of [0, -5, Number.NaN]) {
    cache.set('k', 'old', 60_000)
    cache.set('k', 'new', ttl)
    t.equal(cache.get('k'), undefined, `ttl ${ttl}`)
    t.equal(cache.size, 0)
  }
})

t.test('evicts the least recently used entry past maxEntries', async (t) => {
  const cache = new LruCache<number>({ maxEntries: 3 })
  cache.set('a', 1, 60_000)
  cache.set('b', 2, 60_000)
  cache.set('c', 3, 60_000)
  t.equal(cache.get('a'), 1, 'reading a makes b the least recently used')
  cache.set('d', 4, 60_000)
  t.equal(cache.size, 3)
  t.equal(cache.get('b'), undefined, 'b evicted')
  t.same([cache.get('a'), cache.get('c'), cache.get('d')], [1, 3, 4])
})

t.test('re-setting a key refreshes its value, TTL and recency without growing', async (t) => {
  const c = clock()
  const cache = new LruCache<number>({ maxEntries: 2, now: c.now })
  cache.set('a', 1, 100)
  cache.set('b', 2, 100)
  cache.set('a', 10, 1000)
  t.equal(cache.size, 2)
  cache.set('c', 3, 1000)
  t.equal(cache.get('b'), undefined, 'b was the least recently used')
  c.advance(500)
  t.equal(cache.get('a'), 10, 'new TTL applies')
})

t.test('stays bounded under many distinct keys', async (t) => {
  const cache = new LruCache<number>({ maxEntries: 100 })
  for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, i, 60_000)
  t.equal(cache.size, 100)
  t.equal(cache.get('k9999'), 9999)
  t.equal(cache.get('k9899'), undefined)
  t.equal(cache.get('k9900'), 9900)
})

t.test('delete and clear', async (t) => {
  const cache = new LruCache<number>({ maxEntries: 5 })
  cache.set('a', 1, 1000)
  cache.set('b', 2, 1000)
  cache.delete('a')
  cache.delete('missing')
  t.equal(cache.get('a'), undefined)
  t.equal(cache.size, 1)
  cache.clear()
  t.equal(cache.size, 0)
  t.equal(cache.get('b'), undefined)
})

t.test('keys that look like object properties are plain keys', async (t) => {
  const cache = new LruCache<string>({ maxEntries: 5 })
  t.equal(cache.get('__proto__'), undefined)
  t.equal(cache.get('constructor'), undefined)
  cache.set('__proto__', 'x', 1000)
  t.equal(cache.get('__proto__'), 'x')
})
