// Heap bytes allocated per gate authentication on the hot path (a token the verifier remembers),
// with telemetry not installed, and installed with no OpenTelemetry SDK registered (the API's
// no-op providers) and with an SDK whose spans go nowhere. Bytes per call are read from the heap
// growth over a run short enough that no scavenge happens (young generation made large), lowest of
// several rounds. Run with `npm run bench:telemetry` (builds @portcullis/core first).
// MODE=none (default): not installed; MODE=noop: installed with no SDK registered.
//
// `CORE=<path to another build's dist/index.js>` measures another build (e.g. main's) for comparison.
import { generateKeyPairSync, sign } from 'node:crypto'
import { pathToFileURL } from 'node:url'

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc --max-semi-space-size=512 bench/telemetry-alloc.mjs')
  process.exit(2)
}

const core = await import(process.env.CORE ? pathToFileURL(process.env.CORE).href : '@portcullis/core')
const ISSUER = 'https://as.example.com/realms/bench'
const RESOURCE = 'https://mcp.example.com/mcp'
const CALLS = Number(process.env.CALLS ?? 300_000)
const ROUNDS = 9

const b64 = (value) => Buffer.from(value).toString('base64url')
const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const now = Math.floor(Date.now() / 1000)
const input = `${b64(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'k' }))}.${b64(
  JSON.stringify({
    iss: ISSUER,
    aud: RESOURCE,
    sub: 'alice',
    client_id: 'c',
    scope: 'notes:read',
    iat: now,
    exp: now + 3600,
  }),
)}`
const token = `${input}.${b64(sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }))}`
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256', use: 'sig' }

const gate = core.createGate({
  resource: RESOURCE,
  authorizationServers: [ISSUER],
  verifier: core.jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] }),
})
const request = { authorization: `Bearer ${token}` }
const first = await gate.authenticate(request)
if (!first.ok) throw new Error(`the bench token was refused: ${first.error.reason}`)

function bytesPerCall() {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < ROUNDS; round++) {
    globalThis.gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < CALLS; i++) {
      const result = gate.authenticateNow(request)
      if (result instanceof Promise || !result.ok) throw new Error('expected a synchronous cache hit')
    }
    const after = process.memoryUsage().heapUsed
    best = Math.min(best, (after - before) / CALLS)
  }
  return Math.round(best)
}

// One configuration per process: a deoptimisation caused by one must not colour the next.
const mode = process.env.MODE ?? 'none'
if (mode === 'noop') core.instrumentPortcullis()
console.log(
  `${process.env.CORE ? 'CORE' : 'this build'}, telemetry ${mode}: ${bytesPerCall()} heap bytes per cached authentication`,
)
