import { McpSessionStore } from '@portcullis/core'
import t from 'tap'

function harness(
  limits: Partial<{ maxSessions: number; maxSessionsPerPrincipal: number; idleTimeoutMs: number }> = {},
) {
  let now = 1_000_000
  const closed: string[] = []
  const store = new McpSessionStore(
    { maxSessions: 100, maxSessionsPerPrincipal: 10, idleTimeoutMs: 60_000, ...limits },
    () => now,
  )
  const open = (id: string, principal: string) =>
    store.add({
      id,
      principal,
      close: async () => {
        closed.push(id)
      },
    })
  return { store, open, closed, advance: (ms: number) => (now += ms) }
}

t.test('a session is found only by the principal that opened it', async (t) => {
  const { store, open } = harness()
  t.teardown(() => store.closeAll())
  open('s1', 'alice')
  t.equal(store.find('s1', 'alice')?.id, 's1')
  t.equal(store.find('s1', 'bob'), undefined)
  t.equal(store.find('s2', 'alice'), undefined)
  t.equal(store.find('s1', 'alice')?.id, 's1', 'a foreign lookup does not disturb the owner')
})

t.test('per-principal cap: a new session closes that principal’s least recently used one', async (t) => {
  const { store, open, closed } = harness({ maxSessionsPerPrincipal: 2 })
  t.teardown(() => store.closeAll())
  open('a1', 'alice')
  open('b1', 'bob')
  open('a2', 'alice')
  store.find('a1', 'alice') // a1 is now more recent than a2
  open('a3', 'alice')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closed, ['a2'])
  t.ok(store.find('a1', 'alice'))
  t.ok(store.find('b1', 'bob'), "another principal's sessions are untouched")
  t.equal(store.size, 3)
})

t.test('global cap: the least recently used session makes room', async (t) => {
  const { store, open, closed } = harness({ maxSessions: 3 })
  t.teardown(() => store.closeAll())
  open('s1', 'p1')
  open('s2', 'p2')
  open('s3', 'p3')
  store.find('s1', 'p1')
  open('s4', 'p4')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closed, ['s2'])
  t.equal(store.size, 3)
})

t.test('idle sessions expire on lookup and on sweep', async (t) => {
  const { store, open, closed, advance } = harness({ idleTimeoutMs: 60_000 })
  t.teardown(() => store.closeAll())
  open('s1', 'p')
  open('s2', 'p')
  advance(30_000)
  t.ok(store.find('s1', 'p'), 'used: kept alive')
  advance(40_000)
  t.equal(store.find('s2', 'p'), undefined, 'idle for 70 s: gone')
  t.ok(store.find('s1', 'p'), 's1 was used 40 s ago')
  advance(61_000)
  store.sweep()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closed.sort(), ['s1', 's2'])
  t.equal(store.size, 0)
})

t.test('forget drops without closing; closeAll closes every session', async (t) => {
  const { store, open, closed } = harness()
  open('s1', 'p')
  open('s2', 'p')
  store.forget('s1')
  t.equal(store.find('s1', 'p'), undefined)
  await store.closeAll()
  t.same(closed, ['s2'])
})
