import type { McpSessionLimits } from '@portcullis/core'
import { McpSessionStore } from '@portcullis/core/adapter'
import t from 'tap'

function harness(limits: Partial<McpSessionLimits> = {}) {
  let now = 1_000_000
  const closed: string[] = []
  const store = new McpSessionStore(
    {
      maxSessions: 100,
      maxSessionsPerPrincipal: 10,
      idleTimeoutMs: 60_000,
      evictAfterIdleMs: 5_000,
      ...limits,
    },
    () => now,
  )
  const open = (id: string, principal: string, subject?: string) =>
    store.add({
      id,
      principal,
      ...(subject === undefined ? {} : { subject }),
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

t.test('global cap: only an idle session makes room, the least recently used one', async (t) => {
  const { store, open, closed, advance } = harness({ maxSessions: 3 })
  t.teardown(() => store.closeAll())
  open('s1', 'p1')
  open('s2', 'p2')
  open('s3', 'p3')
  advance(6_000)
  store.find('s1', 'p1')
  t.ok(open('s4', 'p4'))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closed, ['s2'])
  t.equal(store.size, 3)
})

t.test('global cap: no live session is closed for a newcomer; it is refused with a wait', async (t) => {
  const { store, open, closed, advance } = harness({ maxSessions: 3 })
  t.teardown(() => store.closeAll())
  open('s1', 'p1')
  open('s2', 'p2')
  open('s3', 'p3')
  advance(2_000)
  t.equal(store.admit({ principal: 'p4' }), 3, 'the first becomes idle in 3 s')
  t.notOk(open('s4', 'p4'), 'a session with no room is not kept')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closed, ['s4'], 'only the newcomer is closed')
  t.ok(store.find('s1', 'p1') && store.find('s2', 'p2') && store.find('s3', 'p3'))
  // A request open on a session keeps it live however long ago it began.
  const release = [store.track('s1'), store.track('s2'), store.track('s3')]
  advance(60_000)
  t.ok((store.admit({ principal: 'p4' }) ?? 0) >= 1, 'every session has a request open: no room')
  release[1]!()
  advance(6_000)
  t.equal(store.admit({ principal: 'p4' }), undefined, 's2 is idle again: room')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closed, ['s4', 's2'])
})

t.test('a flood from one subject through many clients leaves other subjects working', async (t) => {
  const { store, open, closed } = harness({
    maxSessions: 10,
    maxSessionsPerPrincipal: 5,
    maxSessionsPerSubject: 5,
  })
  t.teardown(() => store.closeAll())
  open('alice', 'alice|app', 'alice')
  open('bob', 'bob|app', 'bob')
  for (let i = 0; i < 50; i++) open(`m${i}`, `mallory|client-${i}`, 'mallory')
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(store.find('alice', 'alice|app'), "alice's session survives")
  t.ok(store.find('bob', 'bob|app'), "bob's session survives")
  t.equal(store.size, 7, 'mallory holds at most 5')
  t.notOk(closed.includes('alice') || closed.includes('bob'))
  t.ok(store.find('m49', 'mallory|client-49'), "mallory's newest are hers")
})

t.test('when full, the idle session of whoever holds the most goes first', async (t) => {
  const { store, open, closed, advance } = harness({ maxSessions: 4, maxSessionsPerSubject: 10 })
  t.teardown(() => store.closeAll())
  open('a1', 'alice|app', 'alice')
  open('m1', 'mallory|1', 'mallory')
  open('m2', 'mallory|2', 'mallory')
  open('m3', 'mallory|3', 'mallory')
  advance(10_000)
  t.ok(open('b1', 'bob|app', 'bob'))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(closed, ['m1'], "mallory's oldest, though alice's is older")
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
