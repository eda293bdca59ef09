// The warm ratios over HTTP with the machine's drift taken out. http.mjs loads one server at a
// time, so on a shared machine whose speed moves by 2x within a minute, two servers measured a
// few seconds apart are measured on different machines. Here the servers compared run at the same
// time, each in a fresh process, and are loaded in turn in short slices: a change of speed weighs
// on all of them alike, and they are the same age (so equally warm) when measured.
//
//   node bench/http-interleaved.mjs --only express-bare,express-floor-guarded-warm,express-portcullis-warm --pin
//   node bench/http-interleaved.mjs --only mcp-bare,mcp-portcullis --phases 4 --pin   # the ratio as the processes age
//   node bench/http-interleaved.mjs --only mcp-bare,mcp-portcullis --pin --cpu-prof <dir>   # and a CPU profile of each server (profile-diff.mjs)
//
// Each set starts fresh servers, warms them in turn (at least --warmup seconds and
// --warmup-requests requests each), then measures --phases phases of --slices slices; every slice
// loads each server for about --slice seconds with autocannon (50 connections): a number of
// requests, all answered before the slice ends, so no request's CPU goes uncounted. The order rotates.
// Server CPU per request is the server's CPU time (IPC, all threads) over its requests; each
// ratio is given from the sums and as the median of the slices' own ratios (range in brackets).
// One-token and bare scenarios only (the cold ones need a token pool sized by seconds: http.mjs).
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { computeRatios } from './http-report.mjs'
import { scenarioList } from './http-scenarios.mjs'
import {
  benchIssuer,
  CPU_COUNT,
  checkRun,
  mainThreadMicros,
  pinOrExit,
  sanityCheck,
  startServer,
} from './lib/http-harness.mjs'

const WHO = 'bench/http-interleaved'

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    sets: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    'warmup-requests': { type: 'string', default: '15000' },
    phases: { type: 'string', default: '1' },
    slices: { type: 'string', default: '12' },
    slice: { type: 'string', default: '0.5' },
    connections: { type: 'string', default: '50' },
    pin: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
})
const number = (name, min) => {
  const value = Number(args[name])
  if (!Number.isFinite(value) || value < min)
    fail(`--${name} must be a number >= ${min}, got "${args[name]}"`)
  return value
}
const sets = Math.round(number('sets', 1))
const warmup = number('warmup', 0)
const warmupRequests = Math.round(number('warmup-requests', 0))
const phases = Math.round(number('phases', 1))
const slices = Math.round(number('slices', 1))
const slice = number('slice', 0.05)
const connections = Math.round(number('connections', 1))
if (args.only === undefined) fail('--only: name the scenarios to compare (two or more)')
const known = new Map(scenarioList({ expressAvailable: true }).map((s) => [s.name, s]))
const scenarios = args.only.split(',').map((name) => {
  const scenario = known.get(name.trim())
  if (scenario === undefined) fail(`--only: unknown scenario "${name}"`)
  if ((scenario.tokens !== 'one' && scenario.tokens !== 'none') || scenario.env?.BENCH_WORKERS !== undefined)
    fail(`--only: ${name} is not a one-process, one-token scenario (use http.mjs)`)
  return scenario
})
if (scenarios.length < 2) fail('--only: two or more scenarios')
if (args.pin) pinOrExit(process.pid, 1, WHO)

const { jwksServer, warmToken: token, env } = await benchIssuer()

console.log(
  `${scenarios.length} servers at a time, ${sets} sets; warm-up ${warmup} s and ${warmupRequests} requests each; ` +
    `${phases} phase(s) of ${slices} slices of ${slice} s per server; ${connections} connections; ` +
    `${CPU_COUNT} CPUs${args.pin ? ' (pinned: servers on CPU 0, load on CPU 1)' : ''}; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
)

// samples[phase][scenario] = [{ cpuUsPerRequest, mainUs, requests, cpuUs }] over every set's slices
const samples = Array.from({ length: phases }, () => scenarios.map(() => []))
const ages = Array.from({ length: phases }, () => [])
const problems = []
try {
  for (let set = 0; set < sets; set++) {
    const servers = []
    try {
      for (const scenario of scenarios) {
        const server = await startServer(
          scenario.server,
          { ...env, ...scenario.env },
          { cpuProfile: args['cpu-prof'] },
        )
        servers.push(server)
        if (args.pin) pinOrExit(server.pid, 0, WHO)
        server.scenario = scenario
        server.url = `http://127.0.0.1:${server.port}`
        const credentials = scenario.tokens === 'one' ? { authorization: `Bearer ${token}` } : {}
        server.request = {
          method: scenario.method,
          path: scenario.path,
          headers: { ...scenario.headers, ...credentials },
          ...(scenario.body === undefined ? {} : { body: scenario.body }),
        }
        await sanityCheck(server.url, scenario, credentials)
      }
      const born = performance.now()
      // Warm-up: in turns too, so no server is older than another when measured.
      for (const s of servers) Object.assign(s, { warmSeconds: 0, warmRequests: 0 })
      while (servers.some((s) => s.warmSeconds < warmup || s.warmRequests < warmupRequests)) {
        for (const s of servers) {
          const run = await load(s, slice, false)
          problems.push(...checkRun(`${s.scenario.name} warm-up`, run))
          s.warmSeconds += run.duration
          s.warmRequests += run.requests.total
        }
      }
      for (let phase = 0; phase < phases; phase++) {
        ages[phase].push((performance.now() - born) / 1000)
        for (let k = 0; k < slices; k++) {
          // The order rotates slice by slice: no server is always loaded right after the same one.
          const order = servers.map((_, i) => servers[(i + k) % servers.length])
          for (const s of order) {
            const before = await s.cpuUsage()
            const mainBefore = mainThreadMicros(s.pid)
            const run = await load(s, slice, true)
            const after = await s.cpuUsage()
            const mainAfter = mainThreadMicros(s.pid)
            problems.push(...checkRun(`${s.scenario.name} measured`, run))
            const cpuUs = after.user - before.user + after.system - before.system
            const requests = run.requests.total
            samples[phase][servers.indexOf(s)].push({
              cpuUs,
              mainUs: mainBefore === undefined ? undefined : mainAfter - mainBefore,
              requests,
              cpuUsPerRequest: requests > 0 ? cpuUs / requests : undefined,
            })
          }
        }
      }
      console.log(
        `set ${set + 1} of ${sets} done, load ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
      )
    } finally {
      for (const s of servers) await s.stop()
    }
  }
} finally {
  jwksServer.close()
}

for (let phase = 0; phase < phases; phase++) {
  const at = ages[phase].map((a) => a.toFixed(0)).join(', ')
  console.log(
    `\n${phases > 1 ? `Phase ${phase + 1}: ` : ''}measured from ${at} s after the servers started (one figure per set)\n`,
  )
  console.log('| scenario | server CPU µs/req | of which main thread | requests |')
  console.log('|---|---:|---:|---:|')
  const results = scenarios.map((scenario, i) => {
    const mine = samples[phase][i]
    const sum = (key) => mine.reduce((total, sample) => total + (sample[key] ?? 0), 0)
    const requests = sum('requests')
    const result = {
      name: scenario.name,
      label: scenario.label,
      // computeRatios wants a req/s; only its CPU ratios are printed here (slices differ in length).
      rps: requests,
      cpuUsPerRequest: sum('cpuUs') / requests,
      mainThreadUsPerRequest: mine.every((s) => s.mainUs !== undefined)
        ? sum('mainUs') / requests
        : undefined,
      runs: mine,
    }
    console.log(
      `| ${scenario.label} | ${result.cpuUsPerRequest.toFixed(1)} | ${result.mainThreadUsPerRequest?.toFixed(1) ?? ''} | ${requests} |`,
    )
    return result
  })
  const ratios = computeRatios(results).filter((r) => r.byCpu !== undefined)
  if (ratios.length === 0) continue
  console.log('\n| ratio | by server CPU (sums) | slice by slice: median (range) | target | |')
  console.log('|---|---:|---:|---:|---|')
  const show = (r, v) => (r.kind === 'overhead' ? `${(v * 100).toFixed(1)} %` : `${v.toFixed(2)}x`)
  for (const r of ratios) {
    const target = r.kind === 'overhead' ? `<= ${r.target * 100} %` : `>= ${r.target}x`
    const perSlice =
      r.byCpuRange === undefined
        ? ''
        : `${show(r, r.byCpuPerRound)} (${r.byCpuRange.map((v) => show(r, v)).join(' to ')})`
    console.log(
      `| ${r.label} | ${show(r, r.byCpu)} | ${perSlice} | ${target} | ${r.metByCpu ? 'met' : 'below'} |`,
    )
  }
}
if (problems.length > 0) {
  console.log(`\nPROBLEMS:\n${[...new Set(problems)].join('\n')}`)
  process.exit(1)
}

/**
 * One slice of load on `server`. Warm-up slices (`byCount` false) run for `seconds`, and give the
 * server's rate. Measured ones send that rate times `seconds` requests and end when all are
 * answered: a slice cut by time leaves requests in flight, whose CPU the server spends but no
 * count includes (50 of them are a tenth of a 1 ms MCP call's slice).
 */
async function load(server, seconds, byCount) {
  // No warm-up slice yet (--warmup 0): this one, by time, gives the rate.
  const amount =
    byCount && server.rate !== undefined
      ? Math.max(connections * 4, Math.round(server.rate * seconds))
      : undefined
  const run = await autocannon({
    url: server.url,
    connections,
    ...(amount === undefined ? { duration: seconds } : { amount }),
    timeout: 10,
    requests: [server.request],
  })
  // autocannon stops on its one-second tick: `duration` is how long the run took, the server's
  // rate the last warm-up slice's (a run by count idles until the tick).
  if (amount === undefined && run.requests.total > 0) server.rate = run.requests.total / run.duration
  return run
}

function fail(message) {
  console.error(`${WHO}: ${message}`)
  process.exit(2)
}
