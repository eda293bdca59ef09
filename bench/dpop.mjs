// What DPoP (RFC 9449) costs per request on the resource server, warm, on one thread: the gate's
// answer to a request whose access token it already verified (cache hit), presented
//   bearer  as `Authorization: Bearer <token>` (an unbound token)
//   dpop    as `Authorization: DPoP <token>` with a fresh proof (a token bound to the proof's key):
//           the proof decoded and its ES256 signature checked (key import cached), htm/htu/iat/ath,
//           the cnf.jkt binding, the jti recorded in the in-memory replay cache
//   raw     node:crypto.verify of each proof's ES256 signature alone: the floor of any DPoP check
// Proofs are signed before the clock starts (a client's work, not the server's); every request
// carries a proof never seen before, so nothing of a proof is cached. CPU time is the process's
// user + system time over the measured loop, divided by the requests. Medians of ROUNDS rounds.
// Run with `npm run bench:dpop` (builds @portcullis/core first; this file imports the build).
import { createHash, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto'
import { cpus } from 'node:os'
import { createGate, jwkThumbprint, jwtVerifier, MemoryDpopReplayCache } from '@portcullis/core'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000) // per round and kind
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://as.example.com'

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
const es256 = (input, key) =>
  sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
const jws = (header, payload, key) => {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${es256(input, key)}`
}

const issuer = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const client = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const clientJwk = client.publicKey.export({ format: 'jwk' })
const jkt = jwkThumbprint(clientJwk)
const now = Math.floor(Date.now() / 1000)
const token = (cnf) =>
  jws(
    { alg: 'ES256', kid: 'k1', typ: 'at+jwt' },
    {
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'alice',
      client_id: 'c1',
      scope: 'notes:read',
      iat: now,
      exp: now + 3600,
      jti: randomUUID(),
      ...cnf,
    },
    issuer.privateKey,
  )
const bearerToken = token({})
const boundToken = token({ cnf: { jkt } })
const ath = createHash('sha256').update(boundToken).digest('base64url')

const gate = createGate({
  resource: RESOURCE,
  authorizationServers: [ISSUER],
  verifier: jwtVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    keys: [{ ...issuer.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }],
  }),
  dpop: {
    mode: 'allowed',
    algorithms: ['ES256'],
    replayCache: new MemoryDpopReplayCache({ maxEntries: REQUESTS * (ROUNDS + 2) }),
  },
})

const proofs = (count) => {
  const list = new Array(count)
  const iat = Math.floor(Date.now() / 1000)
  for (let i = 0; i < count; i++) {
    list[i] = jws(
      { typ: 'dpop+jwt', alg: 'ES256', jwk: clientJwk },
      { jti: randomUUID(), htm: 'POST', htu: RESOURCE, iat, ath },
      client.privateKey,
    )
  }
  return list
}

function run(inputs) {
  const cpu = process.cpuUsage()
  const started = process.hrtime.bigint()
  for (const input of inputs) {
    const result = gate.authenticateNow(input)
    if (result instanceof Promise || !result.ok)
      throw new Error(`not a warm acceptance: ${result.error?.reason ?? 'a promise'}`)
  }
  const wall = Number(process.hrtime.bigint() - started) / 1000 / inputs.length
  const used = process.cpuUsage(cpu)
  return { cpu: (used.user + used.system) / inputs.length, wall }
}

function raw(list) {
  const cpu = process.cpuUsage()
  const started = process.hrtime.bigint()
  const key = { key: client.publicKey, dsaEncoding: 'ieee-p1363' }
  for (const proof of list) {
    const dot = proof.lastIndexOf('.')
    if (
      !verify('sha256', Buffer.from(proof.slice(0, dot)), key, Buffer.from(proof.slice(dot + 1), 'base64url'))
    ) {
      throw new Error('a proof does not verify')
    }
  }
  const wall = Number(process.hrtime.bigint() - started) / 1000 / list.length
  const used = process.cpuUsage(cpu)
  return { cpu: (used.user + used.system) / list.length, wall }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

// Warm: both tokens verified and remembered, the proof key imported.
for (const [authorization, dpop] of [
  [`Bearer ${bearerToken}`, undefined],
  [`DPoP ${boundToken}`, proofs(1)[0]],
]) {
  const first = await gate.authenticate({ authorization, dpop, method: 'POST', path: '/mcp' })
  if (!first.ok) throw new Error(`setup refused: ${first.error.message}`)
}
const bearerInput = { authorization: `Bearer ${bearerToken}`, method: 'POST', path: '/mcp' }
run(new Array(REQUESTS).fill(bearerInput)) // JIT warm-up
run(
  proofs(REQUESTS).map((dpop) => ({
    authorization: `DPoP ${boundToken}`,
    dpop,
    method: 'POST',
    path: '/mcp',
  })),
)

const results = { bearer: [], dpop: [], raw: [] }
for (let round = 0; round < ROUNDS; round++) {
  const dpopInputs = proofs(REQUESTS).map((dpop) => ({
    authorization: `DPoP ${boundToken}`,
    dpop,
    method: 'POST',
    path: '/mcp',
  }))
  // Alternate the order, so neither kind always runs on a warmer machine.
  const order = round % 2 === 0 ? ['bearer', 'dpop'] : ['dpop', 'bearer']
  for (const kind of order) {
    results[kind].push(run(kind === 'bearer' ? new Array(REQUESTS).fill(bearerInput) : dpopInputs))
  }
  results.raw.push(raw(dpopInputs.map((input) => input.dpop)))
}

const figure = (kind, field) => median(results[kind].map((r) => r[field]))
const row = (kind) =>
  `| ${kind.padEnd(6)} | ${figure(kind, 'cpu').toFixed(2).padStart(10)} | ${figure(kind, 'wall').toFixed(2).padStart(11)} |`
console.log(
  `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${REQUESTS} requests per round, medians of ${ROUNDS} rounds`,
)
console.log('| kind   | CPU µs/req | wall µs/req |')
console.log('| ------ | ---------: | ----------: |')
console.log(row('bearer'))
console.log(row('dpop'))
console.log(row('raw'))
console.log(
  `DPoP adds ${(figure('dpop', 'cpu') - figure('bearer', 'cpu')).toFixed(2)} µs CPU per request (${(figure('dpop', 'cpu') / figure('bearer', 'cpu')).toFixed(1)}x the bearer request)`,
)
