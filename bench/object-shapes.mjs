// What the way an options object is built costs the code that reads it: the MCP SDK 1.x Streamable
// HTTP transport, made for every request of a stateless route, constructed from the same options
// built four ways. Each way runs in a process of its own (V8's feedback is per process), a warm-up
// then a measured run, CPU µs per construction; the median of `--runs` processes.
//
//   node bench/object-shapes.mjs [--runs 3] [--count 200000]
//
// On Node 20 an object spread together from two (`{ ...a, ...b }`) or a spread that adds a member
// (`{ ...a, x }`) made the constructor cost 5 µs instead of 0.3 µs: `endpoint.ts` builds the
// transport's options with `Object.assign` (bench/README.md, twelfth pass).
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadAverage, median } from './lib/measure.mjs'
import { fmt1, printTable } from './lib/table.mjs'

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    count: { type: 'string', default: '200000' },
    way: { type: 'string' },
  },
})

const transportOptions = { enableJsonResponse: true }
const settings = { sessionIdGenerator: undefined }
const WAYS = {
  'a literal': () => ({ sessionIdGenerator: undefined, enableJsonResponse: true }),
  'Object.assign({}, options, settings)': () => Object.assign({}, transportOptions, settings),
  '{ ...options, ...settings }': () => ({ ...transportOptions, ...settings }),
  '{ ...options, sessionIdGenerator }': () => ({ ...transportOptions, sessionIdGenerator: undefined }),
}

if (args.way !== undefined) {
  // One way, in this process: print CPU µs per construction.
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js')
  const build = WAYS[args.way]
  const count = Number(args.count)
  for (let i = 0; i < count / 5; i++) new StreamableHTTPServerTransport(build())
  const before = process.cpuUsage()
  for (let i = 0; i < count; i++) new StreamableHTTPServerTransport(build())
  const used = process.cpuUsage(before)
  console.log(String((used.user + used.system) / count))
} else {
  console.log(`load average ${loadAverage().join(' ')}`)
  const script = fileURLToPath(import.meta.url)
  const rows = Object.keys(WAYS).map((way) => {
    const runs = Array.from({ length: Number(args.runs) }, () =>
      Number(
        execFileSync(process.execPath, [script, '--way', way, '--count', args.count], { encoding: 'utf8' }),
      ),
    )
    return [way, fmt1(median(runs)), runs.map(fmt1).join(', ')]
  })
  printTable(['options built as', 'µs per transport, median>', 'runs'], rows)
  console.log(`load average ${loadAverage().join(' ')}`)
}
