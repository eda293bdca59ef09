// What a full cache pays per insert (each insert evicts the oldest entry): core's LruCache against
// a bare Map that evicts through its insertion order, at 100 and 10,000 entries, by CPU time.
// A Map's front is walked over every slot deleted since its table was last rebuilt, so the bare
// Map's eviction grows with the cache; LruCache keeps a linked list and stays flat.
//
//   node bench/cache-eviction.mjs [--inserts 300000]
//   PORTCULLIS_BASELINE=<checkout, built> node bench/cache-eviction.mjs   # adds that checkout's LruCache
import { parseArgs } from 'node:util'
import { builds } from './lib/load-builds.mjs'
import { cpuMicrosSync, loadAverage } from './lib/measure.mjs'
import { printTable } from './lib/table.mjs'

const { values: args } = parseArgs({ options: { inserts: { type: 'string', default: '300000' } } })
const { core } = await builds('core')
const inserts = Number(args.inserts)
const keys = Array.from({ length: inserts + 50_000 }, (_, i) => `token-tail-${i}-${'x'.repeat(16)}`)
const perInsert = (run) => (cpuMicrosSync(run) / inserts).toFixed(2)

const fill = (Lru, max) => {
  const cache = new Lru({ maxEntries: max })
  for (let i = 0; i < 50_000; i++) cache.set(keys[i], i, 60_000)
  return perInsert(() => {
    for (let i = 50_000; i < 50_000 + inserts; i++) cache.set(keys[i], i, 60_000)
  })
}
const mapEviction = (max) => {
  const map = new Map()
  const evict = (i) => {
    map.set(keys[i], i)
    if (map.size > max) map.delete(map.keys().next().value)
  }
  for (let i = 0; i < 50_000; i++) evict(i)
  return perInsert(() => {
    for (let i = 50_000; i < 50_000 + inserts; i++) evict(i)
  })
}
const baseline = core.baseline?.LruCache
console.log(`load average ${loadAverage().join(' ')}`)
printTable(
  [
    'entries>',
    'LruCache µs/insert>',
    ...(baseline === undefined ? [] : ['baseline LruCache µs/insert>']),
    'Map (insertion order) µs/insert>',
  ],
  [100, 10_000].map((max) => [
    max.toLocaleString('en'),
    fill(core.this.LruCache, max),
    ...(baseline === undefined ? [] : [fill(baseline, max)]),
    mapEviction(max),
  ]),
)
