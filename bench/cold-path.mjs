// The cold path against its physical limit: Fastify servers in this process, each answering a
// token it has never seen on every request (a pipelining raw client sends them), with server +
// client CPU per request measured in alternating batches; the raw node:crypto verify of the same
// tokens is measured in the same batches. Reports (cold - bare) / raw verify per algorithm.
//
//   node bench/cold-path.mjs [--algs ES256,RS256,EdDSA] [--batches 5] [--requests 2000]
//   node bench/cold-path.mjs --variants bare,raw-hook,event-loop   # raw-hook: a bare route whose hook
//                                                          # checks the signature with node:crypto alone
//   node bench/cold-path.mjs --variants bare,raw-hook,min-verifier,event-loop   # min-verifier: the least a
//                                  # correct verifier does: the signature, JSON.parse of header and
//                                  # payload, iss, aud, exp and scope, the outcome kept in a bounded Map
//   node bench/cold-path.mjs --variants bare,min-verifier,rules-verifier,event-loop   # rules-verifier:
//                                  # min-verifier with every rule the gate applies, without the gate
//   PORTCULLIS_BASELINE=<checkout, built> node bench/cold-path.mjs --variants bare,event-loop,event-loop@baseline
//   node bench/cold-path.mjs --cpu-prof results/profiles   # also a V8 CPU profile of each non-bare
//                                                          # variant, of its load alone (not the minting)
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  HELLO,
  ISSUER,
  keyPair,
  mintJwts,
  minVerifier,
  publicJwk,
  RESOURCE,
  rawVerifier,
  SCOPE,
  signatureCheck,
} from './lib/jwt.mjs'
import { builds, needBaseline } from './lib/load-builds.mjs'
import { alternate, cpuMicros, loadAverage, median, range } from './lib/measure.mjs'
import { bearerRequest, loadPipelined } from './lib/pipeline-client.mjs'
import { cpuProfile } from './lib/profile.mjs'
import { rulesVerifier } from './lib/rules-verifier.mjs'
import { fmt1, printTable } from './lib/table.mjs'

const { values: args } = parseArgs({
  options: {
    algs: { type: 'string', default: 'ES256,RS256,EdDSA' },
    batches: { type: 'string', default: '5' },
    requests: { type: 'string', default: '2000' },
    variants: { type: 'string', default: 'bare,thread-pool,event-loop' },
    'cpu-prof': { type: 'string' },
  },
})
const { default: Fastify } = await import('fastify')
const { core, fastify } = await builds('core', 'fastify')
const batches = Number(args.batches)
const perBatch = Number(args.requests)
const WARM = 500
const variants = args.variants.split(',')
if (variants.some((v) => v.endsWith('@baseline'))) needBaseline('a <variant>@baseline')

/**
 * An onRequest hook around `verify(authorizationHeader)` (the caller, or `undefined` when refused;
 * it may throw on a malformed header): 400, 401, or 403 without the scope, else `request.auth`.
 */
function verifierHook(app, verify) {
  app.decorateRequest('auth', undefined)
  app.addHook('onRequest', (request, reply, done) => {
    let auth
    try {
      auth = verify(request.headers.authorization)
    } catch {
      return void reply.code(400).send()
    }
    if (auth === undefined) return void reply.code(401).send()
    if (!auth.scopes.includes(SCOPE)) return void reply.code(403).send()
    request.auth = auth
    done()
  })
}

async function server(variant, alg, jwk) {
  const app = Fastify()
  const [mode, from] = variant.split('@')
  if (mode === 'raw-hook') {
    // The floor of any server that checks the token: its signature with node:crypto, nothing else.
    const check = signatureCheck(alg, jwk)
    app.addHook('onRequest', async (request, reply) => {
      if (!check(request.headers.authorization.slice(7))) return reply.code(401).send()
    })
  } else if (mode === 'min-verifier') {
    // The least any correct verifier does per new token (lib/jwt.mjs `minVerifier`).
    const verify = minVerifier(alg, jwk)
    verifierHook(app, (authorization) => verify(authorization?.slice(7) ?? ''))
  } else if (mode === 'rules-verifier') {
    // min-verifier with every rule the gate applies, without the gate (lib/rules-verifier.mjs).
    verifierHook(app, rulesVerifier(alg, jwk))
  } else if (mode !== 'bare') {
    // `<mode>@baseline`: the same server from the PORTCULLIS_BASELINE checkout's build.
    const build = from === undefined ? 'this' : 'baseline'
    const verifier = core[build].jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      keys: [jwk],
      // `<mode>-uncached`: the verifier's cache off, to see what remembering each token costs.
      signatureCheck: mode.replace('-uncached', ''),
      algorithms: [alg],
      ...(mode.endsWith('-uncached') ? { cache: false } : {}),
    })
    await app.register(fastify[build].portcullis, {
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      verifier,
    })
  }
  app.get(
    '/hello',
    ['bare', 'raw-hook', 'min-verifier', 'rules-verifier'].includes(mode)
      ? {}
      : { config: { scopes: [SCOPE] } },
    async () => HELLO,
  )
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: app.server.address().port }
}

const load = (port, tokens, from, count) =>
  loadPipelined(port, { count, wire: (i) => bearerRequest(tokens[from + i]) })

console.log(`load average ${loadAverage().join(' ')}`)
const rows = []
const ranges = []
for (const alg of args.algs.split(',')) {
  const { privateKey, publicKey } = keyPair(alg)
  const jwk = publicJwk(publicKey, alg)
  const profiled = args['cpu-prof'] === undefined ? [] : variants.filter((v) => v !== 'bare')
  const tokens = mintJwts({
    alg,
    privateKey,
    count: WARM + (batches + profiled.length) * perBatch,
    jtiPrefix: 'cold',
  })
  const raw = rawVerifier(alg, jwk, tokens)
  const servers = []
  for (const variant of variants) servers.push({ variant, ...(await server(variant, alg, jwk)) })
  for (const s of servers) await load(s.port, tokens, 0, WARM)
  const rawSamples = []
  await alternate(servers, batches, async (s, b) => {
    const from = WARM + b * perBatch
    // The raw cost of the same batch's signatures, once per batch, after the first server.
    if (s === servers[0])
      rawSamples.push(
        (await cpuMicros(async () => {
          for (let i = from; i < from + perBatch; i++) raw(i)
        })) / perBatch,
      )
    return (await cpuMicros(() => load(s.port, tokens, from, perBatch))) / perBatch
  })
  const rawUs = median(rawSamples)
  const byVariant = Object.fromEntries(servers.map((s) => [s.variant, median(s.samples)]))
  const bare = byVariant.bare
  rows.push([
    alg,
    fmt1(rawUs),
    ...variants.map((v) => fmt1(byVariant[v])),
    ...variants
      .filter((v) => v !== 'bare')
      .map((v) => (bare === undefined ? 'n/a' : `${((byVariant[v] - bare) / rawUs).toFixed(2)}x`)),
  ])
  ranges.push(
    `${alg}: ${servers.map((s) => `${s.variant} ${range(s.samples).map(fmt1).join('–')}`).join(', ')}`,
  )
  // Profiles come after the measured batches, on tokens of their own, so they change no figure above.
  for (const [i, variant] of profiled.entries()) {
    const s = servers.find((candidate) => candidate.variant === variant)
    const file = join(args['cpu-prof'], `cold-${alg}-${variant}-${Date.now()}.cpuprofile`)
    await profile(file, () => load(s.port, tokens, WARM + (batches + i) * perBatch, perBatch))
    console.error(`profile of ${alg} ${variant}: ${file}`)
  }
  for (const s of servers) await s.app.close()
}
const others = variants.filter((v) => v !== 'bare')
printTable(
  [
    'alg',
    'raw verify µs>',
    ...variants.map((v) => `${v} µs/req>`),
    ...others.map((v) => `${v}: (cold − bare) / raw>`),
  ],
  rows,
)
console.log(`\nCPU µs per request (server + light client), medians of ${batches} batches; ranges:`)
for (const line of ranges) console.log(`- ${line}`)
console.log(`load average ${loadAverage().join(' ')}`)

async function profile(file, work) {
  const { profile: taken } = await cpuProfile(work)
  mkdirSync(args['cpu-prof'], { recursive: true })
  writeFileSync(file, JSON.stringify(taken))
}
