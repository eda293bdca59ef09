// What one server spends per request that another does not, function by function, from the V8 CPU
// profiles `http.mjs --cpu-prof` writes: each function's self time as a share of its server's
// samples (idle left out), times that server's main-thread CPU per request (http.mjs's "of which
// main thread"), so the two servers' figures are in µs per request and can be subtracted. A
// profile samples the main thread only: the collector's helper threads are not in it.
//
//   node bench/http.mjs --only express-floor-guarded-warm,express-portcullis-warm --rounds 3 --duration 4 --warmup 4 --no-build --pin --cpu-prof
//   node bench/profile-diff.mjs bench/results/profiles express-floor:122 express-portcullis:136
//   node bench/profile-diff.mjs --functions 30 --skip-ms 3000 <dir> <kind>:<µs> <kind>:<µs>
//
// `<kind>` is a profile name's prefix (the server kind, `<kind>-<ms>.cpuprofile`); every profile of
// it in `<dir>` is summed. Samples in the first `--skip-ms` of each profile are left out (warm-up).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { isPortcullisUrl } from './lib/profile.mjs'
import { printTable } from './lib/table.mjs'

const { values: options, positionals } = parseArgs({
  options: { functions: { type: 'string', default: '30' }, 'skip-ms': { type: 'string', default: '3000' } },
  allowPositionals: true,
})
const [dir, ...pairs] = positionals
if (dir === undefined || pairs.length !== 2 || pairs.some((p) => !/^[\w.-]+:\d+(\.\d+)?$/.test(p))) {
  console.error(
    'usage: node bench/profile-diff.mjs <profiles dir> <kind>:<main-thread µs/req> <kind>:<main-thread µs/req>',
  )
  process.exit(2)
}
const skipMicros = Number(options['skip-ms']) * 1000

/** Where a frame's code lives: Portcullis's packages, a dependency, Node, the bench, or V8's own. */
function originOf({ functionName, url }) {
  if (url === '') return functionName.startsWith('(') ? functionName : 'native'
  if (isPortcullisUrl(url)) return 'Portcullis'
  if (url.includes('/node_modules/')) return 'framework and deps'
  if (url.startsWith('node:')) return 'Node'
  return 'bench (the floor)'
}

const shortUrl = (url) =>
  url
    .replace(/^.*\/node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '')
    .replace(/^.*\/packages\//, '')
    .replace(/^file:\/\/.*\/bench\//, 'bench/')

/** Self µs per request by function, and by origin, over every profile of `kind`. */
function perRequest(kind, mainMicros) {
  const files = readdirSync(dir).filter((name) => name.startsWith(`${kind}-`) && name.endsWith('.cpuprofile'))
  if (files.length === 0) throw new Error(`no profile of ${kind} in ${dir}`)
  const self = new Map()
  const origins = new Map()
  let total = 0
  for (const name of files) {
    const profile = JSON.parse(readFileSync(join(dir, name), 'utf8'))
    const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
    let at = profile.startTime
    for (let i = 0; i < profile.samples.length; i++) {
      at += profile.timeDeltas[i]
      const frame = frames.get(profile.samples[i])
      if (at < profile.startTime + skipMicros || frame.functionName === '(idle)') continue
      const key = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      self.set(key, (self.get(key) ?? 0) + 1)
      const origin = originOf(frame)
      origins.set(origin, (origins.get(origin) ?? 0) + 1)
      total++
    }
  }
  const scale = (map) => new Map([...map].map(([key, n]) => [key, (n / total) * mainMicros]))
  return { profiles: files.length, samples: total, self: scale(self), origins: scale(origins) }
}

const [a, b] = pairs.map((pair) => {
  const [kind, micros] = pair.split(':')
  return { kind, ...perRequest(kind, Number(micros)) }
})
const diff = (mapA, mapB) =>
  [...new Set([...mapA.keys(), ...mapB.keys()])]
    .map((key) => [key, mapA.get(key) ?? 0, mapB.get(key) ?? 0])
    .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]))
const row = ([key, x, y]) => [key, x.toFixed(2), y.toFixed(2), (y - x >= 0 ? '+' : '') + (y - x).toFixed(2)]

console.log(
  `${a.kind}: ${a.profiles} profiles, ${a.samples} samples; ${b.kind}: ${b.profiles} profiles, ${b.samples} samples ` +
    `(main-thread µs per request, self time)`,
)
printTable(
  ['where the code is', `${a.kind}>`, `${b.kind}>`, 'difference>'],
  diff(a.origins, b.origins).map(row),
)
console.log('')
printTable(
  ['function', `${a.kind}>`, `${b.kind}>`, 'difference>'],
  diff(a.self, b.self).slice(0, Number(options.functions)).map(row),
)
