// Who spends a server's CPU, from the V8 CPU profiles `http.mjs --cpu-prof` writes (one per
// server process): each sample is given to the nearest frame (from the sample up) that is not
// Node's own code, so `res.setHeader` called by the gate counts for Portcullis and the same call
// from the framework counts for the framework. Shares come from one process and one run, so they
// hold when the machine's speed moves between rounds, which CPU per request over HTTP does not.
//
//   node bench/http.mjs --only portcullis-warm,express-portcullis-warm,mcp-portcullis --cpu-prof --rounds 3
//   node bench/profile-shares.mjs bench/results/profiles            (every profile there, by scenario)
//   node bench/profile-shares.mjs a.cpuprofile b.cpuprofile
//   node bench/profile-shares.mjs --functions 12 <...>   also the functions of Portcullis with most samples
//   node bench/profile-shares.mjs --skip-ms 0 <...>      count from the first request on
//
// Samples before the first request the server parses, and in the first second after it
// (`--skip-ms`), are start-up and first sightings, left out. `Portcullis` is the share of samples in the packages' own code (packages/*/dist). When the rest
// of the server costs what the bare route costs, a route with Portcullis runs at `1 − share` of
// the bare route's speed: the warm target's ratio by profile. What Portcullis makes others do
// later (the collector's work for what it allocated) is not in the share: compare the collector's
// share with the bare scenario's.
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import { median, range } from './lib/measure.mjs'
import { countSamples, isPortcullisUrl, profileClasses, profileFiles } from './lib/profile.mjs'
import { printTable } from './lib/table.mjs'

const { values: options, positionals: inputs } = parseArgs({
  options: { functions: { type: 'string', default: '0' }, 'skip-ms': { type: 'string', default: '1000' } },
  allowPositionals: true,
})
if (inputs.length === 0) {
  console.error('usage: node bench/profile-shares.mjs <profile or directory> ...')
  process.exit(2)
}
const skipMicros = Number(options['skip-ms']) * 1000
const files = profileFiles(inputs)

const GROUPS = ['Portcullis', 'framework and SDK', 'Node (no JS caller)', 'collector', 'bench']

/** The group of a frame, or `undefined` for Node's own code and natives (the caller's group decides). */
function groupOf({ functionName, url }) {
  if (functionName === '(garbage collector)') return 'collector'
  // Waiting for work. `(program)` is native work with no JS on the stack (the event loop, sockets):
  // part of serving, Node's.
  if (functionName === '(idle)') return 'outside'
  if (functionName === '(program)' || functionName === '(root)') return 'Node (no JS caller)'
  if (isPortcullisUrl(url)) return 'Portcullis'
  if (url.includes('/node_modules/')) return 'framework and SDK'
  if (url.includes('/bench/')) return 'bench'
  // Starting up (loading modules) is not serving requests.
  if (url.startsWith('node:internal/modules')) return 'outside'
  return undefined
}

/** Shares of one profile's samples, by group (samples outside serving left out). */
function sharesOf(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const { classOf, nearest } = profileClasses(profile, groupOf, 'Node (no JS caller)')
  // The frame of Portcullis a sample is charged to: the nearest one up from the sample.
  const ownFrame = (id) => {
    const frame = nearest(id, (f) => groupOf(f) === 'Portcullis')
    if (frame === undefined) return undefined
    return `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/packages\//, '')}:${frame.lineNumber + 1}`
  }
  // Serving starts with the first request the HTTP server parses: what ran before (loading
  // modules, the first key set fetch, a startup probe) is start-up, left out.
  const serving = (id) => nearest(id, (f) => f.functionName === 'parserOnIncoming') !== undefined
  // Sample times (µs), to leave out the first `--skip-ms` of serving too: first sightings (the key
  // set's first fetch, code compiled on the first requests) are not the steady cost.
  const times = []
  let at = profile.startTime
  for (const delta of profile.timeDeltas) {
    at += delta
    times.push(at)
  }
  const first = profile.samples.findIndex(serving)
  const from = first < 0 ? 0 : times.findIndex((time) => time >= times[first] + skipMicros)
  const served = profile.samples.slice(Math.max(from, 0))
  const counts = countSamples(served, classOf)
  const functions = countSamples(
    served.filter((id) => classOf(id) === 'Portcullis'),
    ownFrame,
  )
  counts.delete('outside')
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0)
  const share = (map) => new Map([...map].map(([name, n]) => [name, n / total]))
  return { samples: total, shares: share(counts), functions: share(functions) }
}

// Scenario name: the profile's name up to its timestamp (`<kind>-<ms>.cpuprofile`, or `<kind>.cpuprofile`).
const scenarioOf = (file) => basename(file, '.cpuprofile').replace(/-\d{10,}$/, '')
const byScenario = new Map()
for (const file of files) {
  const scenario = scenarioOf(file)
  if (!byScenario.has(scenario)) byScenario.set(scenario, [])
  byScenario.get(scenario).push(sharesOf(file))
}

const percent = (share) => `${(share * 100).toFixed(1)} %`
const rows = [...byScenario].map(([scenario, profiles]) => {
  const cells = GROUPS.map((group) => {
    const values = profiles.map((p) => p.shares.get(group) ?? 0)
    const [low, high] = range(values)
    return profiles.length === 1
      ? percent(values[0])
      : `${percent(median(values))} (${percent(low)}–${percent(high)})`
  })
  const own = median(profiles.map((p) => p.shares.get('Portcullis') ?? 0))
  return [
    scenario,
    String(profiles.length),
    String(Math.round(median(profiles.map((p) => p.samples)))),
    ...cells,
    own > 0 ? `${(1 - own).toFixed(3)}x` : '',
  ]
})
console.log('shares of server CPU samples by who spends them (medians over profiles; ranges in brackets)')
printTable(
  ['scenario', 'profiles>', 'samples each>', ...GROUPS.map((g) => `${g}>`), 'bare / this, by profile>'],
  rows,
)

const top = Number(options.functions)
if (top > 0) {
  for (const [scenario, profiles] of byScenario) {
    const summed = new Map()
    for (const p of profiles)
      for (const [name, share] of p.functions)
        summed.set(name, (summed.get(name) ?? 0) + share / profiles.length)
    if (summed.size === 0) continue
    console.log(
      `\n${scenario}: the functions of Portcullis with most samples (mean share of the server's samples)`,
    )
    printTable(
      ['function', 'share>'],
      [...summed]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([name, share]) => [name, percent(share)]),
    )
  }
}
