// The HTTP bench's table of one server process against two (node:cluster, one port), with and
// without state shared through Redis: req/s and CPU per request of both, and the ratios two / one.
import { fmtInt, fmtRatio, printTable } from './lib/table.mjs'

/** [one process, two processes] scenario names. */
const PAIRS = [
  ['portcullis-warm', 'portcullis-warm-2p'],
  ['portcullis-cold-event-loop', 'portcullis-cold-event-loop-2p'],
  ['portcullis-cold-thread-pool', 'portcullis-cold-thread-pool-2p'],
  ['redis-jwt-warm', 'redis-jwt-warm-2p'],
  ['redis-jwt-cold', 'redis-jwt-cold-2p'],
  ['redis-introspection-warm', 'redis-introspection-warm-2p'],
  ['redis-introspection-cold', 'redis-introspection-cold-2p'],
]

/**
 * Prints the pairs the run measured. CPU per request is the servers' (all processes, all threads)
 * plus, for the Redis scenarios, redis-server's own (shown apart as well).
 */
export function printTwoProcessTable(results) {
  const byName = new Map(results.filter((r) => r.rps !== undefined).map((r) => [r.name, r]))
  const rows = []
  for (const [one, two] of PAIRS) {
    const a = byName.get(one)
    const b = byName.get(two)
    if (a === undefined || b === undefined) continue
    const total = (r) => r.cpuUsPerRequest + (r.redisCpuUsPerRequest ?? 0)
    const redisCpu = (r) => (r.redisCpuUsPerRequest === undefined ? '' : r.redisCpuUsPerRequest.toFixed(1))
    rows.push([
      one,
      fmtInt(a.rps),
      fmtInt(b.rps),
      fmtRatio(b.rps / a.rps),
      total(a).toFixed(0),
      total(b).toFixed(0),
      fmtRatio(total(b) / total(a)),
      redisCpu(a),
      redisCpu(b),
    ])
  }
  if (rows.length === 0) return
  console.log('\nOne server process against two (node:cluster, one port):\n')
  printTable(
    [
      'scenario (one process)',
      'req/s, one>',
      'req/s, two>',
      'two / one req/s>',
      'CPU µs/req, one>',
      'CPU µs/req, two>',
      'two / one CPU>',
      'of which redis-server, one>',
      'of which redis-server, two>',
    ],
    rows,
  )
}
