// Soak test: a fixed request rate for a set time against Fastify + Portcullis in a child process
// (soak-server.mjs), with a mix of valid, expired, revoked, forged, malformed and distinct tokens
// from many client addresses. Every answer is checked against the status its token must get; the
// server reports its memory and cache sizes each second. Exits non-zero on any wrong answer,
// connection error, or a cache past its bound.
//
//   node bench/soak.mjs [--rate 2000] [--duration 30] [--distinct 20000] [--no-build] ...
//   node bench/soak.mjs --distinct 1000000 --rate 5000 --distinct-share 0.9   (the million-token run)
import { execFileSync, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { Agent, createServer, request } from 'node:http'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { slopePerMinute } from './lib/measure.mjs'
import { benchKeyPair, mintToken, mintTokens } from './token-mint.mjs'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = dirname(BENCH_DIR)
const RESOURCE = 'https://soak.example/mcp'
const SCOPE = 'soak:read'
const KID = 'bench-es256' // the kid token-mint.mjs signs with
const REQUEST_TIMEOUT_MS = 10_000
const LATENCY_SAMPLES = 100_000

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '30' },
    distinct: { type: 'string', default: '18000' },
    'distinct-share': { type: 'string', default: '0.3' },
    'signed-fraction': { type: 'string', default: '0.1' },
    addresses: { type: 'string', default: '50000' },
    connections: { type: 'string', default: '64' },
    'cache-entries': { type: 'string', default: '10000' },
    'max-addresses': { type: 'string', default: '10000' },
    'no-build': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

if (args.help) {
  console.log(`Usage: node bench/soak.mjs [options]
  --rate <n>             requests per second, held fixed (default 2000)
  --duration <s>         seconds (default 30; lengthened when --distinct needs more requests)
  --distinct <n>         distinct tokens to present over the run (default 18000)
  --distinct-share <f>   share of requests that present the next distinct token (default 0.3)
  --signed-fraction <f>  share of the distinct tokens that are validly signed, in tenths (default 0.1);
                         the rest are forged: a bad signature, an unknown kid, or not a JWT at all
  --addresses <n>        distinct client addresses (X-Forwarded-For) the load comes from (default 50000)
  --connections <n>      keep-alive connections (default 64)
  --cache-entries <n>    the verifier's token cache bound (default 10000)
  --max-addresses <n>    the attempt limiter's address bound (default 10000)
  --no-build             skip the TypeScript build of the packages`)
  process.exit(0)
}

const rate = positive('rate')
const distinct = Math.round(positive('distinct'))
const distinctShare = fraction('distinct-share')
const signedTenths = Math.round(fraction('signed-fraction') * 10)
const addresses = Math.round(positive('addresses'))
const connections = Math.round(positive('connections'))
const cacheEntries = Math.round(positive('cache-entries'))
const maxAddresses = Math.round(positive('max-addresses'))
let duration = positive('duration')
const needed = distinctShare > 0 ? Math.ceil(distinct / (rate * distinctShare)) : 0
if (needed > duration) {
  console.log(
    `--distinct ${distinct} at ${rate} req/s with share ${distinctShare} needs ${needed} s: running that long`,
  )
  duration = needed
}

// The mix: what each request presents and the status it must get. `distinct` cycles through the
// distinct tokens; everything else is a fixed token.
const MIX = [
  { kind: 'distinct', share: distinctShare },
  { kind: 'expired', share: 0.1, status: 401 },
  { kind: 'revoked', share: 0.05, status: 401 },
  { kind: 'malformed', share: 0.03, status: 400 },
  { kind: 'missing', share: 0.02, status: 401 },
]
const fixedShare = MIX.reduce((sum, m) => sum + m.share, 0)
if (fixedShare > 1) fail('--distinct-share leaves no room for the other kinds (at most 0.8)')
MIX.push({ kind: 'valid', share: 1 - fixedShare, status: 200 })

if (!args['no-build']) {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
  execFileSync(
    process.execPath,
    [tsc, '-b', 'packages/core/tsconfig.json', 'packages/fastify/tsconfig.json'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  )
}
const { tokenFingerprint } = await import('@portcullis/core')

// --- tokens ---
const { privateJwk, jwks } = benchKeyPair()
const nowS = Math.floor(Date.now() / 1000)
const claims = {
  iss: 'https://issuer.soak.example',
  aud: RESOURCE,
  client_id: 'soak-client',
  scope: SCOPE,
  iat: nowS,
  exp: nowS + Math.ceil(duration) + 7200,
}
const signedCount = Math.ceil((distinct * signedTenths) / 10)
const minting = Date.now()
const signed = signedCount > 0 ? await mintTokens({ privateJwk, claims, count: signedCount }) : []
const expired = await mintTokens({
  privateJwk,
  claims: { ...claims, iat: nowS - 7200, exp: nowS - 3600 },
  count: 1000,
})
const hot = mintToken({ privateJwk, claims, index: 1_000_000_000 })
const revoked = mintToken({ privateJwk, claims, index: 1_000_000_001 })
console.log(
  `minted ${signed.length + expired.length + 2} ES256 tokens in ${Date.now() - minting} ms ` +
    `(${signed.length} of the ${distinct} distinct ones; the others are forged on the fly)`,
)

const base64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
const GOOD_HEADER = base64url({ alg: 'ES256', typ: 'at+jwt', kid: KID })

/** The i-th distinct token and the status it must get. */
function distinctToken(i) {
  const tenth = i % 10
  if (tenth < signedTenths) return { token: signed[Math.floor(i / 10) * signedTenths + tenth], status: 200 }
  const payload = base64url({ ...claims, sub: `forged-${i}`, jti: `forged-${i}` })
  switch (i % 3) {
    case 0: // the right kid, a signature that does not verify: a full signature check, then refused
      return { token: `${GOOD_HEADER}.${payload}.${randomBytes(64).toString('base64url')}`, status: 401 }
    case 1: // a kid the key set does not have: refused before any signature check
      return {
        token: `${base64url({ alg: 'ES256', typ: 'at+jwt', kid: `gone-${i}` })}.${payload}.${randomBytes(64).toString('base64url')}`,
        status: 401,
      }
    default: // an opaque string
      return { token: randomBytes(30).toString('base64url'), status: 401 }
  }
}

// --- the issuer's JWKS, on loopback ---
let jwksFetches = 0
const jwksServer = createServer((_req, res) => {
  jwksFetches++
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(jwks))
})
await new Promise((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
const jwksUri = `http://127.0.0.1:${jwksServer.address().port}/jwks`

// --- the server ---
const samples = []
const server = fork(join(BENCH_DIR, 'soak-server.mjs'), [], {
  cwd: BENCH_DIR,
  env: {
    ...process.env,
    SOAK_ISSUER: claims.iss,
    SOAK_JWKS_URI: jwksUri,
    SOAK_RESOURCE: RESOURCE,
    SOAK_SCOPE: SCOPE,
    SOAK_REVOKED_FINGERPRINT: tokenFingerprint(revoked),
    SOAK_CACHE_ENTRIES: String(cacheEntries),
    SOAK_MAX_ADDRESSES: String(maxAddresses),
  },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
})
const port = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('the soak server did not start in 20 s')), 20_000)
  server.on('message', (message) => {
    if (message.type === 'ready') {
      clearTimeout(timer)
      resolve(message.port)
    } else if (message.type === 'sample') samples.push(message)
  })
  server.once('exit', (code) => reject(new Error(`the soak server exited with ${code}`)))
})

// --- the load ---
const agent = new Agent({ keepAlive: true, maxSockets: connections })
const maxInFlight = connections * 32
const counts = Object.fromEntries(MIX.map((m) => [m.kind, 0]))
const statuses = {}
const wrong = []
let sent = 0
let answered = 0
let errors = 0
let shortfall = 0
let inFlight = 0
let distinctSent = 0
const latencies = new Float64Array(LATENCY_SAMPLES)
let latencySeen = 0

const cumulative = []
let total = 0
for (const m of MIX) {
  total += m.share
  cumulative.push([total, m])
}

function pick(n) {
  // A fixed, evenly spread sequence (golden-ratio steps), the same on every run.
  const x = (n * 0.6180339887498949) % 1
  for (const [edge, m] of cumulative) if (x < edge) return m
  return cumulative[cumulative.length - 1][1]
}

function recordLatency(ms) {
  // Reservoir sampling: a bounded, uniform sample of every latency.
  if (latencySeen < LATENCY_SAMPLES) latencies[latencySeen] = ms
  else {
    const j = Math.floor(Math.random() * (latencySeen + 1))
    if (j < LATENCY_SAMPLES) latencies[j] = ms
  }
  latencySeen++
}

function fire(n) {
  const m = pick(n)
  counts[m.kind]++
  let token
  let expected = m.status
  switch (m.kind) {
    case 'distinct': {
      const item = distinctToken(distinctSent++ % distinct)
      token = item.token
      expected = item.status
      break
    }
    case 'expired':
      token = expired[n % expired.length]
      break
    case 'revoked':
      token = revoked
      break
    case 'valid':
      token = hot
      break
  }
  const address = n % addresses
  const headers = {
    'x-forwarded-for': `10.${(address >> 16) & 255}.${(address >> 8) & 255}.${address & 255}`,
  }
  if (m.kind === 'malformed') headers.authorization = 'Bearer two words'
  else if (token !== undefined) headers.authorization = `Bearer ${token}`
  const started = performance.now()
  inFlight++
  sent++
  let settled = false
  const settle = (status, error) => {
    if (settled) return
    settled = true
    inFlight--
    answered++
    recordLatency(performance.now() - started)
    if (error !== undefined) {
      errors++
      if (wrong.length < 10) wrong.push({ kind: m.kind, error: error.message })
      return
    }
    statuses[status] = (statuses[status] ?? 0) + 1
    if (status !== expected) {
      errors++
      if (wrong.length < 10) wrong.push({ kind: m.kind, expected, status })
    }
  }
  const req = request({ host: '127.0.0.1', port, path: '/soak', headers, agent }, (res) => {
    res.resume()
    res.on('end', () => settle(res.statusCode))
    res.on('error', (error) => settle(0, error))
  })
  req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timed out')))
  req.on('error', (error) => settle(0, error))
  req.end()
}

console.log(
  `soak: ${rate} req/s for ${duration} s, ${distinct} distinct tokens (${signedTenths}/10 signed), ` +
    `${addresses} client addresses, ${connections} connections; machine: ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
)
const loadBefore = loadavg()
const start = performance.now()
const durationMs = duration * 1000
let next = 0
await new Promise((resolve) => {
  let lastReport = 0
  const tick = () => {
    const elapsed = performance.now() - start
    const target = Math.min(Math.floor((elapsed / 1000) * rate), Math.floor(duration * rate))
    while (next < target) {
      if (inFlight >= maxInFlight) {
        shortfall += target - next
        next = target
        break
      }
      fire(next++)
    }
    if (elapsed - lastReport >= 5000) {
      lastReport = elapsed
      const last = samples.at(-1)
      console.log(
        `  ${(elapsed / 1000).toFixed(0).padStart(4)} s  sent ${sent}  errors ${errors}  in flight ${inFlight}` +
          (last === undefined
            ? ''
            : `  rss ${mb(last.rss)} MB  heap ${mb(last.heapUsed)} MB  token cache ${last.caches.tokenCache.entries}`),
      )
    }
    if (elapsed >= durationMs) resolve()
    else setTimeout(tick, 5)
  }
  tick()
})
// Let the last answers arrive.
const drainUntil = performance.now() + REQUEST_TIMEOUT_MS + 1000
while (inFlight > 0 && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 20))
const elapsedS = (performance.now() - start) / 1000
await new Promise((resolve) => setTimeout(resolve, 1100)) // one more sample after the load
server.kill('SIGTERM')
agent.destroy()
jwksServer.close()

// --- the report ---
const sorted = latencies.slice(0, Math.min(latencySeen, LATENCY_SAMPLES)).sort()
const pct = (p) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
// Memory grows while the caches fill up to their bounds: the trend is taken from the moment the
// token cache is full (else over the second half), when steady memory means no leak.
const fullAt = samples.find((s) => s.caches.tokenCache.entries >= s.caches.tokenCache.maxEntries)?.at
const trendFrom = fullAt ?? samples[0].at + durationMs / 2
const warm = samples.filter((s) => s.at >= trendFrom)
const trendLabel = `trend from ${((trendFrom - samples[0].at) / 1000).toFixed(0)} s${fullAt === undefined ? ' (half-way)' : ' (token cache full)'}`
const trend = (field) => slopePerMinute(warm.map((s) => [s.at / 60_000, s[field] / 2 ** 20]))
const bounds = {}
for (const s of samples) {
  for (const [name, cache] of Object.entries(s.caches)) {
    const seen = bounds[name] ?? { maxSeen: 0, maxEntries: cache.maxEntries }
    seen.maxSeen = Math.max(seen.maxSeen, cache.entries)
    bounds[name] = seen
  }
}
const overBound = Object.entries(bounds).filter(([, b]) => b.maxSeen > b.maxEntries)
const memory = (field) => {
  const values = samples.map((s) => s[field])
  return {
    first: mb(values[0]),
    atTrendStart: mb(warm[0]?.[field] ?? values[0]),
    last: mb(values.at(-1)),
    max: mb(Math.max(...values)),
    trendMbPerMin: Number(trend(field).toFixed(2)),
  }
}
const report = {
  settings: {
    rate,
    duration,
    distinct,
    distinctShare,
    signedTenths,
    addresses,
    connections,
    cacheEntries,
    maxAddresses,
  },
  machine: { cores: cpus().length, loadBefore, loadAfter: loadavg(), node: process.version },
  sent,
  answered,
  achievedRate: Math.round(answered / elapsedS),
  shortfall,
  errors,
  wrong,
  counts,
  statuses,
  distinctPresented: Math.min(distinctSent, distinct),
  latencyMs: {
    p50: round(pct(0.5)),
    p95: round(pct(0.95)),
    p99: round(pct(0.99)),
    max: round(sorted.at(-1) ?? 0),
  },
  memory: { rss: memory('rss'), heapUsed: memory('heapUsed') },
  caches: bounds,
  jwksFetches,
  samples: samples.length,
}
mkdirSync(join(BENCH_DIR, 'results'), { recursive: true })
const file = join(BENCH_DIR, 'results', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
writeFileSync(file, JSON.stringify({ ...report, series: samples }, null, 2))

console.log(`
| | |
|---|---|
| requests | ${sent} sent, ${answered} answered in ${elapsedS.toFixed(1)} s (${report.achievedRate} req/s)${shortfall > 0 ? `, ${shortfall} not sent (server behind)` : ''} |
| mix | ${Object.entries(counts)
  .map(([k, v]) => `${k} ${v}`)
  .join(', ')} |
| statuses | ${Object.entries(statuses)
  .map(([k, v]) => `${k}: ${v}`)
  .join(', ')} |
| errors (wrong status, 5xx, connection) | ${errors} |
| distinct tokens presented | ${report.distinctPresented} |
| latency p50 / p95 / p99 / max | ${report.latencyMs.p50} / ${report.latencyMs.p95} / ${report.latencyMs.p99} / ${report.latencyMs.max} ms |
| RSS first / at trend start / last / max | ${Object.values(report.memory.rss).slice(0, 4).join(' / ')} MB; ${trendLabel}: ${report.memory.rss.trendMbPerMin} MB/min |
| heap used first / at trend start / last / max | ${Object.values(report.memory.heapUsed).slice(0, 4).join(' / ')} MB; ${trendLabel}: ${report.memory.heapUsed.trendMbPerMin} MB/min |
${Object.entries(bounds)
  .map(
    ([name, b]) =>
      `| ${name} | max ${b.maxSeen} of ${b.maxEntries}${b.maxSeen > b.maxEntries ? ' OVER BOUND' : ''} |`,
  )
  .join('\n')}
| JWKS fetches | ${jwksFetches} |
| load average before / after | ${loadBefore.map((l) => l.toFixed(2)).join(' ')} / ${report.machine.loadAfter.map((l) => l.toFixed(2)).join(' ')} |
`)
if (wrong.length > 0) console.log('first wrong answers:', wrong)
console.log(`written to ${file}`)
process.exit(errors > 0 || overBound.length > 0 ? 1 : 0)

function mb(bytes) {
  return Number((bytes / 2 ** 20).toFixed(1))
}

function round(ms) {
  return Number(ms.toFixed(2))
}

function positive(name) {
  const value = Number(args[name])
  if (!(value > 0) || !Number.isFinite(value)) fail(`--${name} must be a positive number`)
  return value
}

function fraction(name) {
  const value = Number(args[name])
  if (!(value >= 0 && value <= 1)) fail(`--${name} must be between 0 and 1`)
  return value
}

function fail(message) {
  console.error(`soak: ${message}`)
  process.exit(2)
}
