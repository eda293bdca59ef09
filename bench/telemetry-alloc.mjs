// Heap bytes allocated per gate authentication on the hot path (a token the verifier remembers),
// with telemetry not installed, and installed with no OpenTelemetry SDK registered (the API's
// no-op providers). Bytes per call are the slope of the heap growth between a run and one twice as
// long, each short enough that no scavenge happens (young generation made large), lowest of
// several rounds. Run with `npm run bench:telemetry` (builds @portcullis/core first).
// MODE=none (default): not installed; MODE=noop: installed with no SDK registered.
//
// PORTCULLIS_BASELINE=<checkout, built> measures that checkout's build instead (e.g. main's), and
// `CORE=<path to another build's dist/index.js>` any build, for comparison.
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { ISSUER, keyPair, mintJwts, publicJwk, RESOURCE } from './lib/jwt.mjs'
import { builds } from './lib/load-builds.mjs'
import { requireGc } from './lib/measure.mjs'

requireGc('node --expose-gc --min-semi-space-size=256 --max-semi-space-size=256 bench/telemetry-alloc.mjs')
const { core: builtCore } = await builds('core')
const core = process.env.CORE
  ? await import(pathToFileURL(process.env.CORE).href)
  : (builtCore.baseline ?? builtCore.this)
const buildName = process.env.CORE ? 'CORE' : builtCore.baseline ? 'PORTCULLIS_BASELINE' : 'this build'
const CALLS = Number(process.env.CALLS ?? 25_000)
const ROUNDS = 9

const { publicKey, privateKey } = keyPair('ES256')
const [token] = mintJwts({
  alg: 'ES256',
  privateKey,
  count: 1,
  claims: { sub: 'alice', scope: 'notes:read' },
})
const jwk = publicJwk(publicKey, 'ES256')

const gate = core.createGate({
  resource: RESOURCE,
  authorizationServers: [ISSUER],
  verifier: core.jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] }),
})
const request = { authorization: `Bearer ${token}` }
const first = await gate.authenticate(request)
if (!first.ok) throw new Error(`the bench token was refused: ${first.error.reason}`)

/** Start times of the collections seen (entries arrive asynchronously, after the fact). */
const collections = []
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) collections.push(entry.startTime)
}).observe({ entryTypes: ['gc'] })
const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

/** Heap growth over `calls` cached authentications, or undefined when a collection ran in between. */
async function heapGrowth(calls) {
  globalThis.gc()
  await settle()
  const start = performance.now()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < calls; i++) {
    const result = gate.authenticateNow(request)
    if (result instanceof Promise || !result.ok) throw new Error('expected a synchronous cache hit')
  }
  const after = process.memoryUsage().heapUsed
  const end = performance.now()
  await settle()
  return collections.some((at) => at >= start && at <= end) ? undefined : after - before
}

/**
 * Bytes per call as the slope between runs of CALLS and 2 × CALLS calls, so what any run costs
 * whatever its length cancels out; runs a collection interrupted are dropped. Median of ROUNDS.
 */
async function bytesPerCall() {
  await heapGrowth(CALLS) // warm-up: optimised code, feedback
  const slopes = []
  for (let round = 0; round < ROUNDS; round++) {
    const long = await heapGrowth(2 * CALLS)
    const short = await heapGrowth(CALLS)
    if (long !== undefined && short !== undefined) slopes.push((long - short) / CALLS)
  }
  if (slopes.length === 0)
    throw new Error('every run was interrupted by a collection: raise --min-semi-space-size')
  slopes.sort((a, b) => a - b)
  return Math.round(slopes[Math.floor(slopes.length / 2)] * 10) / 10
}

// One configuration per process: a deoptimisation caused by one must not colour the next.
const mode = process.env.MODE ?? 'none'
if (mode === 'noop') core.instrumentPortcullis()
console.log(`${buildName}, telemetry ${mode}: ${await bytesPerCall()} heap bytes per cached authentication`)
