// Where in Portcullis's own code a V8 CPU profile's self time falls, line by line: the functions'
// self time says which function costs, the line says which statement (a getter V8 inlined, a
// `defineProperty`, a copy). Lines are those of the built files (packages/*/dist), as the profile
// records them. Shares are of all samples but idle, so a line's share times the process's CPU per
// request is its µs per request.
//
//   VARIANTS=express-portcullis node --cpu-prof --cpu-prof-dir <dir> --cpu-prof-interval 50 \
//     bench/hit-path-variants.mjs --batches 30 --requests 2000
//   node bench/profile-lines.mjs [--lines 30] [--functions 20] <dir or .cpuprofile> ...
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { isPortcullisUrl, profileFiles } from './lib/profile.mjs'
import { printTable } from './lib/table.mjs'

const { values: options, positionals: inputs } = parseArgs({
  options: { lines: { type: 'string', default: '30' }, functions: { type: 'string', default: '20' } },
  allowPositionals: true,
})
if (inputs.length === 0) {
  console.error('usage: node bench/profile-lines.mjs [--lines N] [--functions N] <profile or directory> ...')
  process.exit(2)
}
const files = profileFiles(inputs)

// A built file's path from `packages/` on, and the frame's name: short enough for a table.
const where = (url) => url.replace(/^.*\/packages\//, '')
const IDLE = new Set(['(idle)', '(program)', '(root)'])

let samples = 0
const byFunction = new Map()
const byLine = new Map()
const add = (map, key, ticks) => map.set(key, (map.get(key) ?? 0) + ticks)
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame
    if (!IDLE.has(functionName)) samples += node.hitCount
    if (!isPortcullisUrl(url)) continue
    add(byFunction, `${functionName || '(anonymous)'} ${where(url)}:${lineNumber + 1}`, node.hitCount)
    for (const { line, ticks } of node.positionTicks ?? []) add(byLine, `${where(url)}:${line}`, ticks)
  }
}

const share = (ticks) => `${((100 * ticks) / samples).toFixed(2)} %`
const top = (map, count) => [...map].sort((a, b) => b[1] - a[1]).slice(0, count)
console.log(`${files.length} profile(s), ${samples} samples (idle left out)\n`)
printTable(
  ['function (self time)', 'share>'],
  top(byFunction, Number(options.functions)).map(([name, ticks]) => [name, share(ticks)]),
)
console.log('')
printTable(
  ['line (self time)', 'share>'],
  top(byLine, Number(options.lines)).map(([line, ticks]) => [line, share(ticks)]),
)
