import { SingleFlight } from '@portcullis/core/adapter'
import t from 'tap'

const deferred = <V>() => {
  let resolve!: (v: V) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<V>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

t.test('concurrent callers with one key share one call', async (t) => {
  const flight = new SingleFlight<number>()
  const gate = deferred<number>()
  let calls = 0
  const fn = () => {
    calls++
    return gate.promise
  }
  const all = Promise.all(Array.from({ length: 50 }, () => flight.run('k', fn)))
  t.equal(flight.pending, 1)
  gate.resolve(42)
  t.same(await all, Array(50).fill(42))
  t.equal(calls, 1)
  t.equal(flight.pending, 0, 'the slot is freed once settled')
})

t.test('different keys run independently', async (t) => {
  const flight = new SingleFlight<string>()
  let calls = 0
  const [a, b] = await Promise.all([
    flight.run('a', async () => {
      calls++
      return 'A'
    }),
    flight.run('b', async () => {
      calls++
      return 'B'
    }),
  ])
  t.same([a, b, calls], ['A', 'B', 2])
})

t.test('a rejection reaches every waiter and is not remembered', async (t) => {
  const flight = new SingleFlight<number>()
  const gate = deferred<number>()
  const waiters = [flight.run('k', () => gate.promise), flight.run('k', () => gate.promise)]
  gate.reject(new Error('boom'))
  for (const w of waiters) await t.rejects(w, /boom/)
  t.equal(flight.pending, 0)
  t.equal(await flight.run('k', async () => 7), 7, 'the next call runs afresh')
})

t.test('a synchronous throw rejects and frees the slot', async (t) => {
  const flight = new SingleFlight<number>()
  await t.rejects(
    flight.run('k', () => {
      throw new Error('sync')
    }),
    /sync/,
  )
  t.equal(flight.pending, 0, 'no stale rejected promise left behind')
  t.equal(await flight.run('k', async () => 1), 1)
})

t.test('a call after the previous one settled runs again', async (t) => {
  const flight = new SingleFlight<number>()
  let calls = 0
  await flight.run('k', async () => ++calls)
  await flight.run('k', async () => ++calls)
  t.equal(calls, 2)
})
