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

t.test('evicts the least recently used entry, as a reference model does, over many operations', async (t) => {
  const cache = new LruCache<number>({ maxEntries: 50 })
  const model: string[] = [] // oldest first
  let seed = 7
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed % n
  }
  let mismatches = 0
  for (let i = 0; i < 20_000; i++) {
    const key = `k${random(120)}`
    const op = random(10)
    const at = model.indexOf(key)
    if (op < 5) {
      if (at >= 0) model.splice(at, 1)
      model.push(key)
      if (model.length > 50) model.shift()
      cache.set(key, i, 60_000)
    } else if (op < 9) {
      const held = cache.get(key) !== undefined
      if (held !== at >= 0) mismatches++
      if (at >= 0) model.push(...model.splice(at, 1))
    } else {
      if (at >= 0) model.splice(at, 1)
      cache.delete(key)
    }
    if (cache.size !== model.length) mismatches++
  }
  t.equal(mismatches, 0, 'same entries as the model after every operation')
  for (const key of model) t.not(cache.get(key), undefined, `${key} held`)
  cache.clear()
  t.equal(cache.size, 0)
  cache.set('again', 1, 60_000)
  t.equal(cache.get('again'), 1, 'usable after clear')
})
