// The cold path against its physical limit: Fastify servers in this process, each answering a
// token it has never seen on every request (a pipelining raw client sends them), with server +
// client CPU per request measured in alternating batches; the raw node:crypto verify of the same
// tokens is measured in the same batches. Reports (cold - bare) / raw verify per algorithm.
//
//   node bench/cold-path.mjs [--algs ES256,RS256,EdDSA] [--batches 5] [--requests 2000]
//   node bench/cold-path.mjs --variants bare,raw-hook,event-loop   # raw-hook: a bare route whose hook
//                                                          # checks the signature with node:crypto alone
//   PORTCULLIS_BASELINE=<checkout, built> node bench/cold-path.mjs --variants bare,event-loop,event-loop@baseline
//   node bench/cold-path.mjs --cpu-prof results/profiles   # also a V8 CPU profile of each non-bare
//                                                          # variant, of its load alone (not the minting)
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

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
const { default: portcullis } = await import('@portcullis/fastify')
const { jwtVerifier } = await import('@portcullis/core')

const RESOURCE = 'https://bench.example'
const ISSUER = 'https://issuer.example'
const SCOPE = 'bench:read'
const HELLO = { hello: 'world' }
const batches = Number(args.batches)
const perBatch = Number(args.requests)
const WARM = 500

const KEYS = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  EdDSA: () => generateKeyPairSync('ed25519'),
}
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
const digestOf = (alg) => (alg === 'EdDSA' ? null : 'sha256')
const signOptions = (alg, key) => (alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key)

function mint(alg, privateKey, count) {
  const header = b64({ alg, typ: 'at+jwt', kid: 'k1' })
  const now = Math.floor(Date.now() / 1000)
  const tokens = new Array(count)
  for (let i = 0; i < count; i++) {
    const payload = b64({
      iss: ISSUER,
      aud: RESOURCE,
      client_id: 'bench-client',
      scope: `${SCOPE} bench:write`,
      iat: now,
      exp: now + 3600,
      sub: `user-${i}`,
      jti: `cold-${i}`,
    })
    const input = `${header}.${payload}`
    const signature = sign(digestOf(alg), Buffer.from(input), signOptions(alg, privateKey))
    tokens[i] = `${input}.${signature.toString('base64url')}`
  }
  return tokens
}

// PORTCULLIS_BASELINE=<a checkout with built packages>: `<variant>@baseline` serves the same
// route through that checkout's plugin and verifier, loaded in the same batches (before/after in one run).
const baselineDir = process.env.PORTCULLIS_BASELINE
const baseline =
  baselineDir === undefined
    ? undefined
    : {
        fastify: (await import(`file://${baselineDir}/packages/fastify/dist/index.js`)).portcullis,
        core: await import(`file://${baselineDir}/packages/core/dist/index.js`),
      }

async function server(variant, alg, jwk) {
  const app = Fastify()
  const [mode, from] = variant.split('@')
  if (mode === 'raw-hook') {
    // The floor of any server that checks the token: its signature with node:crypto, nothing else.
    const key = createPublicKey({ key: jwk, format: 'jwk' })
    const options = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key
    app.addHook('onRequest', async (request, reply) => {
      const token = request.headers.authorization.slice(7)
      const dot = token.lastIndexOf('.')
      const data = Buffer.from(token.slice(0, dot), 'latin1')
      if (!verify(digestOf(alg), data, options, Buffer.from(token.slice(dot + 1), 'base64url')))
        return reply.code(401).send()
    })
  } else if (mode !== 'bare') {
    if (from !== undefined && baseline === undefined) throw new Error(`${variant} needs PORTCULLIS_BASELINE`)
    const plugin = from === undefined ? portcullis : baseline.fastify
    const verifier = (from === undefined ? jwtVerifier : baseline.core.jwtVerifier)({
      issuer: ISSUER,
      audience: RESOURCE,
      keys: [{ ...jwk, kid: 'k1', alg }],
      // `<mode>-uncached`: the verifier's cache off, to see what remembering each token costs.
      signatureCheck: mode.replace('-uncached', ''),
      algorithms: [alg],
      ...(mode.endsWith('-uncached') ? { cache: false } : {}),
    })
    await app.register(plugin, { resource: RESOURCE, authorizationServers: [ISSUER], verifier })
  }
  app.get(
    '/hello',
    mode === 'bare' || mode === 'raw-hook' ? {} : { config: { scopes: [SCOPE] } },
    async () => HELLO,
  )
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: app.server.address().port }
}

const DEPTH = 16
/** Sends `tokens[from..from+count)` one per request over 4 pipelining connections. */
function load(port, tokens, from, count) {
  const wires = []
  for (let i = 0; i < count; i++) {
    wires.push(
      Buffer.from(
        `GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tokens[from + i]}\r\n\r\n`,
        'latin1',
      ),
    )
  }
  const lanes = 4
  const lane = (k) =>
    new Promise((resolve, reject) => {
      const mine = wires.filter((_, i) => i % lanes === k)
      const socket = connect(port, '127.0.0.1')
      let sent = 0
      let answered = 0
      let tail = ''
      const send = () => {
        const n = Math.min(DEPTH, mine.length - sent)
        if (n > 0) socket.write(Buffer.concat(mine.slice(sent, sent + n)))
        sent += n
      }
      socket.on('connect', send)
      socket.on('data', (chunk) => {
        const text = tail + chunk.toString('latin1')
        let at = 0
        for (;;) {
          const i = text.indexOf('HTTP/1.1 ', at)
          if (i < 0 || text.length < i + 12) break
          if (!text.startsWith('HTTP/1.1 200', i)) {
            socket.destroy()
            return reject(new Error(`status ${text.slice(i, i + 12)}`))
          }
          answered++
          at = i + 12
        }
        tail = text.slice(at)
        if (tail.length > 64) tail = tail.slice(-64)
        if (answered >= mine.length) {
          socket.end()
          resolve()
        } else if (sent - answered < DEPTH / 2) send()
      })
      socket.on('error', reject)
    })
  return Promise.all(Array.from({ length: lanes }, (_, k) => lane(k)))
}

const cpu = async (work) => {
  const before = process.cpuUsage()
  await work()
  const used = process.cpuUsage(before)
  return used.user + used.system
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const variants = args.variants.split(',')

console.log(
  '| alg | raw verify µs | ' +
    variants.map((v) => `${v} µs/req`).join(' | ') +
    ' | ' +
    variants
      .filter((v) => v !== 'bare')
      .map((v) => `${v}: (cold − bare) / raw`)
      .join(' | ') +
    ' |',
)
console.log(
  `|---|---:|${variants.map(() => '---:').join('|')}|${variants
    .filter((v) => v !== 'bare')
    .map(() => '---:')
    .join('|')}|`,
)
for (const alg of args.algs.split(',')) {
  const { privateKey, publicKey } = KEYS[alg]()
  const jwk = publicKey.export({ format: 'jwk' })
  const profiled = args['cpu-prof'] === undefined ? [] : variants.filter((v) => v !== 'bare')
  const total = WARM + (batches + profiled.length) * perBatch
  const tokens = mint(alg, privateKey, total)
  // The raw cost: node:crypto verify of the same signatures with a ready KeyObject.
  const key = createPublicKey({ key: jwk, format: 'jwk' })
  const verifyOptions = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key
  const parts = tokens.map((token) => {
    const dot = token.lastIndexOf('.')
    return [Buffer.from(token.slice(0, dot)), Buffer.from(token.slice(dot + 1), 'base64url')]
  })
  const servers = []
  for (const variant of variants) servers.push({ variant, ...(await server(variant, alg, jwk)), samples: [] })
  const raw = []
  for (const s of servers) await load(s.port, tokens, 0, WARM)
  for (let b = 0; b < batches; b++) {
    const from = WARM + b * perBatch
    const order = b % 2 === 0 ? servers : [...servers].reverse()
    for (const s of order) s.samples.push((await cpu(() => load(s.port, tokens, from, perBatch))) / perBatch)
    raw.push(
      (await cpu(async () => {
        for (let i = from; i < from + perBatch; i++) {
          if (!verify(digestOf(alg), parts[i][0], verifyOptions, parts[i][1]))
            throw new Error('bad signature')
        }
      })) / perBatch,
    )
  }
  const rawUs = median(raw)
  const byVariant = Object.fromEntries(servers.map((s) => [s.variant, median(s.samples)]))
  const bare = byVariant.bare
  console.log(
    `| ${alg} | ${rawUs.toFixed(1)} | ${variants.map((v) => byVariant[v].toFixed(1)).join(' | ')} | ` +
      variants
        .filter((v) => v !== 'bare')
        .map((v) => (bare === undefined ? 'n/a' : `${((byVariant[v] - bare) / rawUs).toFixed(2)}x`))
        .join(' | ') +
      ' |',
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

async function profile(file, work) {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 100 })
  await session.post('Profiler.start')
  await work()
  const { profile: result } = await session.post('Profiler.stop')
  session.disconnect()
  mkdirSync(args['cpu-prof'], { recursive: true })
  writeFileSync(file, JSON.stringify(result))
}
