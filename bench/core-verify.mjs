// JWT verification throughput on one thread, for RS256, ES256 and EdDSA:
//   raw   node:crypto.verify over pre-decoded signing inputs and signatures (the physical limit)
//   jose  jose.jwtVerify with the same checks (issuer, audience, algorithms), key imported once
//   cold  Portcullis jwtVerifier, every token new to it (cache missed: hash, decode, check, insert),
//         signatures checked on the event loop (signatureCheck: 'event-loop'), like raw
//   pool  the same with the default signatureCheck: 'thread-pool' (the check runs on libuv's pool)
//   warm  Portcullis jwtVerifier, one token again and again (cache hit)
// Verifications run one after another (each awaited), so every figure is one core's worth: jose
// and pool pay a thread hop per call here that a busy server overlaps with other requests.
// Run with `npm run bench:core` (builds @portcullis/core first; this file imports the build).
import { cpus } from 'node:os'
import { jwtVerifier } from '@portcullis/core'
import { importJWK, jwtVerify } from 'jose'
import { keyPair, mintJwts, publicJwk, rawVerifier } from './lib/jwt.mjs'
import { loadAverage, quantile } from './lib/measure.mjs'

const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 12_000) // per algorithm, all four variants
const BATCH_MS = 40
const ISSUER = 'https://as.example.com/realms/bench'
const AUDIENCE = 'https://mcp.example.com/mcp'
const POOL = { RS256: 1000, ES256: 4000, EdDSA: 4000 } // distinct tokens per algorithm

const claims = { iss: ISSUER, aud: AUDIENCE, scope: 'notes:read notes:write' }

/** Runs `step(i)` (sync or async) for about BATCH_MS; returns calls per second. */
async function batch(step, counter) {
  const started = performance.now()
  const end = started + BATCH_MS
  let n = 0
  do {
    for (let j = 0; j < 16; j++) {
      const result = step(counter.i++)
      if (result !== undefined) await result
      n++
    }
  } while (performance.now() < end)
  return n / ((performance.now() - started) / 1000)
}

/**
 * The machine may be shared, so the variants are interleaved in short batches (a load spike hits
 * all of them alike) and each is summarised by its median batch and its 90th-percentile batch
 * (the least disturbed). Ratios compare like with like.
 */
async function interleaved(variants) {
  const names = Object.keys(variants)
  const rates = Object.fromEntries(names.map((name) => [name, []]))
  const counters = Object.fromEntries(names.map((name) => [name, { i: 0 }]))
  for (const name of names) await batch(variants[name], counters[name]) // warm-up
  const end = performance.now() + BUDGET_MS
  while (performance.now() < end) {
    for (const name of names) rates[name].push(await batch(variants[name], counters[name]))
  }
  return {
    median: Object.fromEntries(names.map((name) => [name, quantile(rates[name], 0.5)])),
    p90: Object.fromEntries(names.map((name) => [name, quantile(rates[name], 0.9)])),
    batches: rates[names[0]].length,
  }
}

async function benchAlgorithm(alg) {
  const { privateKey, publicKey } = keyPair(alg)
  const jwk = publicJwk(publicKey, alg, `bench-${alg}`)
  const tokens = mintJwts({
    alg,
    privateKey,
    count: POOL[alg],
    kid: `bench-${alg}`,
    claims,
    jtiPrefix: `bench-${alg}`,
  })
  const size = tokens.length

  // (a) raw: only crypto.verify, inputs decoded beforehand.
  const raw = rawVerifier(alg, jwk, tokens)
  // (b) jose, with the key imported once (its fastest path).
  const joseKey = await importJWK(jwk, alg)
  const joseOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: [alg], requiredClaims: ['exp'] }
  // (c) and (d): one verifier; cold passes over the pool empty the cache when they wrap around.
  const verifier = jwtVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: [jwk],
    signatureCheck: 'event-loop',
  })
  const pooled = jwtVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: [jwk] })
  const warmToken = tokens[0]
  const summary = await interleaved({
    raw,
    jose: (i) => jwtVerify(tokens[i % size], joseKey, joseOptions),
    cold: (i) => {
      if (i % size === 0) verifier.clearCache()
      return verifier.verifyAccessToken(tokens[i % size])
    },
    pool: (i) => {
      if (i % size === 0) pooled.clearCache()
      return pooled.verifyAccessToken(tokens[i % size])
    },
    warm: () => verifier.verifyAccessToken(warmToken),
  })
  return { alg, ...summary, tokenLength: tokens[0].length }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US').padStart(10)
const ratio = (n) => n.toFixed(2).padStart(9)

const started = Date.now()
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), one thread, load average ${loadAverage().join(' ')}`,
)
console.log(
  `verifications per second; variants interleaved in ${BATCH_MS} ms batches for ${BUDGET_MS / 1000} s per algorithm\n`,
)
const rows = []
for (const alg of ['RS256', 'ES256', 'EdDSA']) rows.push(await benchAlgorithm(alg))
for (const stat of ['median', 'p90']) {
  console.log(`${stat === 'median' ? 'median batch' : '90th-percentile batch (least disturbed)'}`)
  console.log('alg        raw/s     jose/s     cold/s     pool/s     warm/s  cold/raw cold/jose pool/jose')
  for (const r of rows) {
    const v = r[stat]
    console.log(
      `${r.alg.padEnd(6)}${fmt(v.raw)} ${fmt(v.jose)} ${fmt(v.cold)} ${fmt(v.pool)} ${fmt(v.warm)} ${ratio(v.cold / v.raw)} ${ratio(v.cold / v.jose)} ${ratio(v.pool / v.jose)}`,
    )
  }
  console.log('')
}
console.log(
  `token length ${rows[0]?.tokenLength} characters; ${rows.map((r) => `${r.alg} ${r.batches}`).join(', ')} batches per variant; whole run ${((Date.now() - started) / 1000).toFixed(1)} s`,
)
