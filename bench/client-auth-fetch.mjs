// @portcullis/client's authFetch, two figures:
//   overhead  the cost authFetch adds to one request when it holds a fresh token (target: < 5 µs),
//             against the same fetch called directly in the same run. The wrapped fetch is an
//             in-process stub answering at once, so the difference is authFetch alone (header
//             injection, the freshness check, the origin check, the status check of the answer);
//             a loopback HTTP round trip is measured beside it for scale.
//   storm     1,000 concurrent requests when the token is due: token requests counted at a real
//             authorization server (the dev IdP, oidc-provider) — target exactly one.
// Run with `npm run bench:client` (builds the packages first; this file imports the build).
import { createServer } from 'node:http'
import { cpus, loadavg } from 'node:os'
import { authFetch, clientCredentials } from '@portcullis/client'
import { startDevIdp } from '@portcullis/dev-idp'

const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 6000)
const BATCH = 2000 // calls per batch
const STORM = Number(process.env.BENCH_STORM ?? 1000)

const quantile = (list, q) =>
  [...list].sort((a, b) => a - b)[Math.min(list.length - 1, Math.floor(q * list.length))]

/** Alternating batches of each variant for BUDGET_MS; returns the median and best µs per call of each. */
async function interleaved(variants, budgetMs, batch) {
  const names = Object.keys(variants)
  const perCall = Object.fromEntries(names.map((name) => [name, []]))
  const cpuPerCall = Object.fromEntries(names.map((name) => [name, []]))
  for (const name of names) for (let i = 0; i < batch; i++) await variants[name]() // warm-up
  const end = performance.now() + budgetMs
  while (performance.now() < end) {
    for (const name of names) {
      const started = performance.now()
      const cpu = process.cpuUsage()
      for (let i = 0; i < batch; i++) await variants[name]()
      const used = process.cpuUsage(cpu)
      perCall[name].push(((performance.now() - started) * 1000) / batch)
      cpuPerCall[name].push((used.user + used.system) / batch)
      // Let timers and I/O run between batches, as they would between requests of a real client.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  return Object.fromEntries(
    names.map((name) => [
      name,
      {
        median: quantile(perCall[name], 0.5),
        best: quantile(perCall[name], 0),
        cpu: quantile(cpuPerCall[name], 0.5),
        batches: perCall[name].length,
      },
    ]),
  )
}

console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), load average ${loadavg()[0].toFixed(1)}`,
)

const idp = await startDevIdp({ resources: [{ resource: 'http://127.0.0.1:3000/mcp' }] })
const tokenRequests = []
idp.provider.on('grant.success', (ctx) => tokenRequests.push(ctx.oidc.params.grant_type))
const provider = () =>
  clientCredentials({
    issuer: idp.issuer,
    clientId: idp.clients.machine.client_id,
    clientSecret: idp.clients.machine.client_secret,
    resource: 'http://127.0.0.1:3000/mcp',
  })

// --- overhead with a fresh token -------------------------------------------------------------
const answer = new Response(null, { status: 200 })
const stub = async () => answer
const init = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
}
const url = 'http://127.0.0.1:3000/mcp'
const wrapped = authFetch(provider(), { fetch: stub })
await wrapped.token() // fresh from here on
// The baseline is the request as the caller would send it without authFetch: the difference is
// all authFetch adds, header injection included.
const direct = () => stub(url, init)
const inProcess = await interleaved({ direct, authFetch: () => wrapped(url, init) }, BUDGET_MS, BATCH)

const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.end('{}'))
})
const listening = await new Promise((resolve) => {
  server.once('error', () => resolve(false))
  server.listen(3000, '127.0.0.1', () => resolve(true))
})
let loopback
if (listening) {
  const real = authFetch(provider())
  await real.token()
  loopback = await interleaved(
    {
      fetch: async () => await (await fetch(url, init)).arrayBuffer(),
      authFetch: async () => await (await real(url, init)).arrayBuffer(),
    },
    Math.min(BUDGET_MS, 4000),
    100,
  )
  server.close()
}

// --- the refresh storm -------------------------------------------------------------------------
const clock = { offset: 0 }
let sent = 0
const seen = new Set()
const storming = authFetch(provider(), {
  fetch: async (_input, options) => {
    sent++
    seen.add(new Headers(options.headers).get('authorization'))
    return answer
  },
  now: () => Date.now() / 1000 + clock.offset,
})
const first = await storming.token()
const before = tokenRequests.length
clock.offset = first.expiresAt - Date.now() / 1000 - 30 // due: 30 s left, margin 60 s
seen.clear()
const stormStarted = performance.now()
await Promise.all(Array.from({ length: STORM }, () => storming(url, init)))
const stormMs = performance.now() - stormStarted
const stormRequests = tokenRequests.length - before
await idp.close()

// --- report ------------------------------------------------------------------------------------
const us = (n) => n.toFixed(2).padStart(8)
const row = (label, r) => console.log(`  ${label.padEnd(30)}${us(r.median)} ${us(r.best)} ${us(r.cpu)}`)
console.log(
  `\nper request, µs: wall-clock median batch, best batch, CPU median batch (${inProcess.direct.batches} alternating batches of ${BATCH})`,
)
row('stub fetch, direct', inProcess.direct)
row('stub fetch through authFetch', inProcess.authFetch)
const overhead = {
  median: inProcess.authFetch.median - inProcess.direct.median,
  best: inProcess.authFetch.best - inProcess.direct.best,
  cpu: inProcess.authFetch.cpu - inProcess.direct.cpu,
}
row('authFetch overhead', overhead)
console.log(
  `  target < 5 µs (CPU): ${overhead.cpu < 5 ? 'met' : 'NOT met'}; wall-clock median: ${overhead.median < 5 ? 'met' : 'NOT met'}`,
)
if (loopback !== undefined) {
  // Same server, same body: the token header is the only difference on the wire.
  console.log(
    `loopback HTTP POST (undici to a node:http server), ${loopback.fetch.batches} alternating batches of 100`,
  )
  row('fetch', loopback.fetch)
  row('authFetch', loopback.authFetch)
  console.log(
    `  ratio authFetch / fetch: ${(loopback.authFetch.median / loopback.fetch.median).toFixed(3)}x wall, ${(loopback.authFetch.cpu / loopback.fetch.cpu).toFixed(3)}x CPU`,
  )
} else {
  console.log('loopback HTTP: port 3000 in use, skipped')
}
console.log(`\nrefresh storm: ${STORM} concurrent requests with the token due`)
console.log(
  `  token requests at the authorization server: ${stormRequests}   target exactly 1: ${stormRequests === 1 ? 'met' : 'NOT met'}`,
)
console.log(
  `  requests sent ${sent}, distinct Authorization values ${seen.size}, all answered in ${stormMs.toFixed(0)} ms`,
)
console.log(`load average at the end ${loadavg()[0].toFixed(1)}`)
process.exitCode = stormRequests === 1 && sent === STORM && seen.size === 1 ? 0 : 1
