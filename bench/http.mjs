// HTTP-level benchmarks: each scenario's server runs in its own child process (http-servers.mjs),
// autocannon drives it from this process over loopback, and the results are printed as a table
// with the ratios the issue targets, and written as JSON to bench/results/.
//
//   node bench/http.mjs [--duration 8] [--warmup 2] [--connections 50] [--tokens N]
//                       [--only name,name] [--no-build]

import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { computeRatios, dpopOverBearer, printTables } from './http-report.mjs'
import { scenarioList } from './http-scenarios.mjs'
import {
  BENCH_DIR,
  benchIssuer,
  CPU_COUNT,
  checkRun,
  EXPRESS_ENTRY,
  mainThreadMicros,
  pinOrExit,
  RESOURCE,
  ROOT,
  sanityCheck,
  startServer,
} from './lib/http-harness.mjs'
import { redisCommand, redisCpuMicros, startRedis } from './lib/loopback.mjs'
import { median, range } from './lib/measure.mjs'
import { fmtInt } from './lib/table.mjs'
import { benchKeyPair, mintProof, mintProofs, mintToken, mintTokens } from './token-mint.mjs'

const EXPRESS_PACKAGE = join(ROOT, 'packages/express')
// Throughput guess for sizing the distinct-token pool; a pool above the verifier cache size (10,000
// entries) and replayed in order still misses the LRU on every request, see README.
const COLD_RPS_GUESS = 12_000
// The same for DPoP proofs: each request needs one never presented before.
const DPOP_RPS_GUESS = 15_000
const MIN_POOL = 20_000
const MAX_POOL = 250_000

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    'warmup-requests': { type: 'string', default: '15000' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
    tokens: { type: 'string' },
    only: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

if (args.help) {
  console.log(`Usage: node bench/http.mjs [options]
  --duration <s>      measured seconds per scenario (default 8)
  --warmup <s>        unmeasured seconds per scenario before that (default 2)
  --warmup-requests <n>  and at least n requests in that warm-up, one-token scenarios (default 15000):
                      V8 optimizes a function by how often it has run, so a 1 ms MCP call needs
                      more seconds than a 30 µs route to be as warm; 0 for seconds only
  --connections <n>   concurrent connections (default 50)
  --rounds <n>        run every scenario n times, alternating the order; report medians (default 1)
  --tokens <n>        distinct tokens to mint for the cold scenarios (default: sized to the run)
  --only <names>      comma-separated scenario names (default: all)
  --no-build          skip the TypeScript build of the packages
  --cpu-prof          write a V8 CPU profile of each server to bench/results/profiles/
  --pin               one-process servers on CPU 0, this runner and its load generator on CPU 1
                      (taskset): far steadier figures on a small machine; two-process scenarios unpinned
Scenarios: ${scenarioList({ expressAvailable: true })
    .map((s) => s.name)
    .join(', ')}`)
  process.exit(0)
}

const duration = positiveNumber('duration', args.duration)
const warmup = nonNegativeNumber('warmup', args.warmup)
const warmupRequests = Math.round(nonNegativeNumber('warmup-requests', args['warmup-requests']))
const connections = Math.round(positiveNumber('connections', args.connections))
const rounds = Math.round(positiveNumber('rounds', args.rounds))

if (args.pin) pinOrExit(process.pid, 1, 'bench/http')

const expressStatus = args['no-build'] ? expressBuiltStatus() : build()
const expressAvailable = expressStatus.available
let scenarios = scenarioList({ expressAvailable })
if (args.only !== undefined) {
  const wanted = new Set(args.only.split(',').map((name) => name.trim()))
  const known = new Set(scenarioList({ expressAvailable: true }).map((s) => s.name))
  for (const name of wanted) if (!known.has(name)) fail(`--only: unknown scenario "${name}"`)
  scenarios = scenarios.filter((s) => wanted.has(s.name))
}
// The Redis scenarios share one redis-server started here; without one they are skipped, said so.
const redis = scenarios.some((s) => s.redis) ? await startRedis() : undefined
if (redis?.missing !== undefined) {
  console.log(`Redis scenarios skipped: ${redis.missing}`)
  scenarios = scenarios.filter((s) => !s.redis)
}

const startedAt = new Date()
const loadBefore = loadavg()
const { keys, jwksServer, claims, nowSeconds, warmToken, env: issuerEnv } = await benchIssuer()

let pool = []
let mintSeconds = 0
if (scenarios.some((s) => s.tokens === 'distinct')) {
  const count =
    args.tokens !== undefined
      ? Math.round(positiveNumber('tokens', args.tokens))
      : Math.min(MAX_POOL, Math.max(MIN_POOL, Math.ceil((warmup + duration) * COLD_RPS_GUESS)))
  const began = performance.now()
  pool = await mintTokens({ privateJwk: keys.privateJwk, claims, count })
  mintSeconds = (performance.now() - began) / 1000
  console.log(`minted ${pool.length} distinct ES256 tokens in ${mintSeconds.toFixed(1)} s`)
}

// DPoP (RFC 9449): a token bound to the bench client's key (cnf.jkt, the RFC 7638 thumbprint), and
// proofs for GET /hello signed with that key before any scenario runs.
const dpopKey = benchKeyPair()
const { crv, kty, x, y } = dpopKey.privateJwk
const jkt = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url')
const boundToken = mintToken({ privateJwk: keys.privateJwk, claims: { ...claims, cnf: { jkt } }, index: -2 })
const proofClaims = {
  htm: 'GET',
  htu: `${RESOURCE}/hello`,
  iat: nowSeconds,
  ath: createHash('sha256').update(boundToken).digest('base64url'),
}
let proofs = []
if (scenarios.some((s) => s.tokens === 'dpop')) {
  const count = Math.min(MAX_POOL, Math.max(MIN_POOL, Math.ceil((warmup + duration) * DPOP_RPS_GUESS)))
  const began = performance.now()
  proofs = await mintProofs({ privateJwk: dpopKey.privateJwk, claims: proofClaims, count })
  console.log(`signed ${proofs.length} DPoP proofs in ${((performance.now() - began) / 1000).toFixed(1)} s`)
}

const env = { ...issuerEnv, ...(redis?.url === undefined ? {} : { BENCH_REDIS_URL: redis.url }) }
// The introspection scenarios' authorization server, in a process of its own (not this one's CPU,
// which drives the load, nor the measured server's).
const introspectionEndpoint = scenarios.some((s) => s.introspection)
  ? await startScenarioServer('introspection-endpoint')
  : undefined
if (introspectionEndpoint !== undefined)
  env.BENCH_INTROSPECTION_ENDPOINT = `http://127.0.0.1:${introspectionEndpoint.port}/introspect`

console.log(
  `${scenarios.length} scenarios, ${warmup} s warm-up (at least ${warmupRequests} requests with one token) + ${duration} s measured each, ${connections} connections, ` +
    `${CPU_COUNT} CPUs${args.pin ? ' (pinned: servers on CPU 0, load on CPU 1)' : ''}, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
)
if (!expressAvailable) console.log(`express scenarios skipped: ${expressStatus.reason}`)

const runsByName = new Map(scenarios.map((scenario) => [scenario.name, []]))
let failed = false
try {
  for (let round = 0; round < rounds; round++) {
    if (rounds > 1) console.log(`round ${round + 1} of ${rounds}`)
    // Every other round runs backwards, so load that drifts during a run weighs on all scenarios alike.
    for (const scenario of round % 2 === 0 ? scenarios : [...scenarios].reverse()) {
      process.stdout.write(`  ${scenario.name.padEnd(24)} `)
      try {
        const run = await runScenario(scenario)
        runsByName.get(scenario.name).push(run)
        console.log(
          `${fmtInt(run.rps).padStart(8)} req/s  p99 ${run.p99Ms} ms` +
            (run.tokens
              ? `  (${run.tokens.presented} tokens presented, ${run.tokens.distinct} distinct)`
              : ''),
        )
        if (run.problems.length > 0) {
          failed = true
          console.log(`    PROBLEM: ${run.problems.join('; ')}`)
        }
      } catch (error) {
        failed = true
        runsByName.get(scenario.name).push({ error: error.message })
        console.log(`FAILED: ${error.message}`)
      }
    }
  }
} finally {
  jwksServer.close()
  await introspectionEndpoint?.stop()
  await redis?.stop?.()
}

const results = scenarios.map((scenario) => summarize(scenario, runsByName.get(scenario.name)))
const ratios = computeRatios(results)
printTables(results, ratios)
const dpopCost = dpopOverBearer(results)
if (dpopCost !== undefined) console.log(`\n${dpopCost.text}`)

const report = {
  startedAt: startedAt.toISOString(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  cpus: { count: CPU_COUNT, model: cpus()[0]?.model },
  loadAverage: { before: loadBefore, after: loadavg() },
  settings: {
    duration,
    warmup,
    warmupRequests,
    connections,
    rounds,
    pinned: args.pin,
    algorithm: 'ES256',
    resource: RESOURCE,
  },
  tokenPool: pool.length === 0 ? undefined : { minted: pool.length, mintSeconds },
  express: expressStatus,
  scenarios: results,
  ratios,
  dpop: dpopCost,
}
const resultsDir = join(BENCH_DIR, 'results')
mkdirSync(resultsDir, { recursive: true })
const file = join(resultsDir, `http-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
console.log(`\nresults written to ${file}`)
process.exit(failed ? 1 : 0)

// ---------------------------------------------------------------------------------------------

async function runScenario(scenario) {
  // Each Redis scenario starts from an empty Redis: no deny list, counts or answers of the last one.
  if (scenario.redis) await redisCommand(redis.url, 'FLUSHALL')
  const child = await startScenarioServer(scenario.server, scenario.env)
  // A cluster's workers are forked after the primary reports: only one-process servers are pinned.
  const oneProcess = scenario.env?.BENCH_WORKERS === undefined
  if (args.pin && oneProcess) pinOrExit(child.pid, 0, 'bench/http')
  try {
    const url = `http://127.0.0.1:${child.port}`
    await sanityCheck(url, scenario, goodCredentials(scenario))

    let next = 0
    const request = { method: scenario.method, path: scenario.path, headers: { ...scenario.headers } }
    if (scenario.body !== undefined) request.body = scenario.body
    if (scenario.tokens === 'one') request.headers.authorization = `Bearer ${warmToken}`
    if (scenario.tokens === 'dpop') {
      request.headers.authorization = `DPoP ${boundToken}`
      // Every request takes the next proof: a proof presented twice is refused (RFC 9449 §11.1).
      request.setupRequest = (req) => {
        req.headers.dpop = proofs[next++ % proofs.length]
        return req
      }
    }
    if (scenario.tokens === 'distinct') {
      // One shared counter for all connections: every request built takes the next token of the pool.
      request.setupRequest = (req) => {
        req.headers.authorization = `Bearer ${pool[next++ % pool.length]}`
        return req
      }
    }
    const load = (seconds) =>
      autocannon({ url, connections, duration: seconds, timeout: 10, requests: [request] })

    const problems = []
    let warmed = 0
    if (warmup > 0) {
      const run = await load(warmup)
      warmed = run.requests.total
      problems.push(...checkRun('warm-up', run))
    }
    // Distinct-token pools are sized by seconds: those scenarios warm up by seconds only.
    const oneToken = scenario.tokens !== 'distinct' && scenario.tokens !== 'dpop'
    if (oneToken && warmed < warmupRequests) {
      const amount = warmupRequests - warmed
      const run = await autocannon({ url, connections, amount, timeout: 10, requests: [request] })
      problems.push(...checkRun('warm-up by requests', run))
    }
    const cpuBefore = await child.cpuUsage()
    const mainBefore = oneProcess ? mainThreadMicros(child.pid) : undefined
    const redisBefore = scenario.redis ? await redisCpuMicros(redis.url) : 0
    const run = await load(duration)
    const cpuAfter = await child.cpuUsage()
    const mainAfter = oneProcess ? mainThreadMicros(child.pid) : undefined
    const redisMicros = scenario.redis ? (await redisCpuMicros(redis.url)) - redisBefore : undefined
    problems.push(...checkRun('measured', run))
    const cpuMicros = cpuAfter.user - cpuBefore.user + cpuAfter.system - cpuBefore.system
    const seconds = run.duration
    return {
      name: scenario.name,
      label: scenario.label,
      rps: run.requests.total / seconds,
      p99Ms: run.latency.p99,
      p50Ms: run.latency.p50,
      // Server CPU per request: what the server spent, whatever share of the machine it got.
      cpuUsPerRequest: run.requests.total > 0 ? cpuMicros / run.requests.total : undefined,
      // Of which the main thread (what a CPU profile samples); the rest is V8's helper threads
      // (the collector's parallel work, compilers) and libuv's pool. Linux only, 10 ms ticks.
      mainThreadUsPerRequest:
        mainBefore !== undefined && mainAfter !== undefined && run.requests.total > 0
          ? (mainAfter - mainBefore) / run.requests.total
          : undefined,
      // redis-server's CPU per request: what the shared state costs beside the servers' own.
      redisCpuUsPerRequest:
        redisMicros !== undefined && run.requests.total > 0 ? redisMicros / run.requests.total : undefined,
      cpuUserUsPerRequest:
        run.requests.total > 0 ? (cpuAfter.user - cpuBefore.user) / run.requests.total : undefined,
      requests: run.requests.total,
      seconds,
      non2xx: run.non2xx,
      errors: run.errors,
      timeouts: run.timeouts,
      tokens:
        scenario.tokens === 'distinct'
          ? { pool: pool.length, presented: next, distinct: Math.min(next, pool.length) }
          : scenario.tokens === 'dpop'
            ? { pool: proofs.length, presented: next, distinct: Math.min(next, proofs.length) }
            : undefined,
      problems,
    }
  } finally {
    await child.stop()
  }
}

/** One scenario over all rounds: the median run's figures, every run kept for the JSON report. */
function summarize(scenario, runs) {
  const base = { name: scenario.name, label: scenario.label }
  const errors = runs.filter((run) => run.error !== undefined)
  if (errors.length > 0) return { ...base, error: errors.map((run) => run.error).join('; '), runs }
  return {
    ...base,
    rps: median(runs.map((run) => run.rps)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    cpuUsPerRequest: median(runs.map((run) => run.cpuUsPerRequest)),
    mainThreadUsPerRequest:
      runs[0].mainThreadUsPerRequest === undefined
        ? undefined
        : median(runs.map((run) => run.mainThreadUsPerRequest)),
    redisCpuUsPerRequest:
      runs[0].redisCpuUsPerRequest === undefined
        ? undefined
        : median(runs.map((run) => run.redisCpuUsPerRequest)),
    rpsRange: range(runs.map((run) => run.rps)),
    cpuRange: range(runs.map((run) => run.cpuUsPerRequest)),
    requests: runs.reduce((sum, run) => sum + run.requests, 0),
    problems: runs.flatMap((run) => run.problems),
    tokens:
      runs[0].tokens === undefined
        ? undefined
        : {
            pool: runs[0].tokens.pool,
            presented: runs.reduce((sum, run) => sum + run.tokens.presented, 0),
            distinct: runs.reduce((sum, run) => sum + run.tokens.distinct, 0),
          },
    runs: runs.map(({ name: _name, label: _label, ...run }) => run),
  }
}

/** A scenario's server, with this run's environment (and a CPU profile with --cpu-prof). */
function startScenarioServer(kind, extraEnv = {}) {
  const cpuProfile = args['cpu-prof'] ? join(BENCH_DIR, 'results/profiles') : undefined
  return startServer(kind, { ...env, ...extraEnv }, { cpuProfile })
}

/**
 * The credentials a scenario's requests carry. The warm token is not in the pool, so the sanity
 * check leaves no pool token in the verifier's cache.
 */
function goodCredentials(scenario) {
  if (scenario.tokens === 'none') return {}
  if (scenario.tokens === 'dpop')
    return {
      authorization: `DPoP ${boundToken}`,
      headers: { dpop: mintProof({ privateJwk: dpopKey.privateJwk, claims: proofClaims, index: -1 }) },
    }
  return { authorization: `Bearer ${warmToken}` }
}

/** Builds core and fastify (required) and express (when its package has sources). */
function build() {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
  const projects = ['packages/core/tsconfig.json', 'packages/fastify/tsconfig.json']
  console.log(`building ${projects.join(', ')}`)
  try {
    execFileSync(process.execPath, [tsc, '-b', ...projects], { cwd: ROOT, stdio: 'inherit' })
  } catch {
    fail('the TypeScript build failed')
  }
  if (!existsSync(join(EXPRESS_PACKAGE, 'src/index.ts'))) {
    return { available: false, reason: 'packages/express has no src/index.ts yet' }
  }
  try {
    execFileSync(process.execPath, [tsc, '-b', 'packages/express/tsconfig.json'], {
      cwd: ROOT,
      stdio: 'pipe',
    })
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim().split('\n').slice(0, 5).join('\n')
    return { available: false, reason: `packages/express does not build:\n${output}` }
  }
  return expressBuiltStatus()
}

function expressBuiltStatus() {
  return existsSync(EXPRESS_ENTRY)
    ? { available: true }
    : { available: false, reason: 'packages/express/dist/index.js is missing (build it)' }
}

function positiveNumber(name, value) {
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0) fail(`--${name} must be a positive number, got "${value}"`)
  return number
}

function nonNegativeNumber(name, value) {
  const number = Number(value)
  if (!Number.isFinite(number) || number < 0) fail(`--${name} must be a number >= 0, got "${value}"`)
  return number
}

function fail(message) {
  console.error(`bench/http: ${message}`)
  process.exit(2)
}
