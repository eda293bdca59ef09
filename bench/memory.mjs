// Memory per remembered outcome: fills a jwtVerifier's cache with verified ES256 tokens, then
// with refused ones, and an introspectionVerifier's cache with active answers (from a loopback
// endpoint), measuring the heap after a full collection before and after each fill.
//
//   node --expose-gc bench/memory.mjs [--entries 10000]
import { generateKeyPairSync, sign } from 'node:crypto'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc bench/memory.mjs')
  process.exit(2)
}
const { values: args } = parseArgs({ options: { entries: { type: 'string', default: '10000' } } })
const N = Number(args.entries)
const { jwtVerifier, introspectionVerifier } = await import('@portcullis/core')

const RESOURCE = 'https://bench.example'
const ISSUER = 'https://issuer.example'
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')

const heap = () => {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}

/** ES256 tokens shaped like an IdP's access token (about 480 characters). */
function mint(privateKey, count, from = 0) {
  const header = b64({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
  const now = Math.floor(Date.now() / 1000)
  return Array.from({ length: count }, (_, i) => {
    const payload = b64({
      iss: ISSUER,
      aud: RESOURCE,
      sub: `user-${from + i}`,
      client_id: 'bench-client',
      scope: 'bench:read bench:write',
      iat: now,
      exp: now + 3600,
      jti: `memory-${from + i}-${'x'.repeat(24)}`,
    })
    const input = `${header}.${payload}`
    const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
    return `${input}.${signature.toString('base64url')}`
  })
}

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }
const results = []

{
  const beforeTokens = heap()
  let tokens = mint(privateKey, N)
  const verifier = jwtVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    keys: [jwk],
    signatureCheck: 'event-loop',
    cache: { maxEntries: N },
  })
  const chars = tokens.reduce((sum, token) => sum + token.length, 0) / N
  for (const token of tokens) await verifier.verifyAccessToken(token)
  tokens = [] // from here the cache alone holds the tokens
  const after = heap()
  const before = beforeTokens
  results.push({
    what: `jwtVerifier, verified token (${Math.round(chars)}-character ES256 JWT, its AuthInfo and claims)`,
    entries: verifier.stats().cache.entries,
    bytes: (after - before) / N,
    note: `the token itself (kept as AuthInfo.token, and the key is a slice of it) is about ${Math.round(chars)} bytes of that`,
  })

  // Refusals: tokens signed by another key, remembered for negativeTtl by their SHA-256.
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const forged = mint(other, N, N)
  verifier.clearCache()
  const beforeRefused = heap()
  for (const token of forged) await verifier.verifyAccessToken(token).catch(() => {})
  const afterRefused = heap()
  results.push({
    what: 'jwtVerifier, refused token (by hash; the token is not kept)',
    entries: verifier.stats().cache.entries,
    bytes: (afterRefused - beforeRefused) / N,
    note: 'its refusal (a PortcullisError) included',
  })
}

{
  const answer = (token) =>
    JSON.stringify({
      active: true,
      iss: ISSUER,
      aud: RESOURCE,
      client_id: 'bench-client',
      sub: `user-${token.slice(-8)}`,
      scope: 'bench:read bench:write',
      exp: Math.floor(Date.now() / 1000) + 3600,
      iat: Math.floor(Date.now() / 1000),
      token_type: 'Bearer',
    })
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? ''
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer(token))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const endpoint = `http://127.0.0.1:${server.address().port}/introspect`
  const verifier = introspectionVerifier({
    issuer: ISSUER,
    endpoint,
    clientId: 'rs',
    clientSecret: 'secret',
    audience: RESOURCE,
    cache: { maxEntries: N, ttl: 3600 },
  })
  const tokens = Array.from(
    { length: N },
    (_, i) => `opaque-${i.toString(36).padStart(8, '0')}-${'y'.repeat(24)}`,
  )
  // Warm up the fetch machinery (connection pool, JIT) before measuring.
  await verifier.verifyAccessToken(`warm-${'z'.repeat(30)}`)
  const before = heap()
  for (let i = 0; i < N; i += 50) {
    await Promise.all(tokens.slice(i, i + 50).map((token) => verifier.verifyAccessToken(token)))
  }
  const after = heap()
  results.push({
    what: 'introspectionVerifier, active answer (a 9-member RFC 7662 answer, keyed by hash)',
    entries: verifier.stats().cache.entries,
    bytes: (after - before) / N,
    note: 'the token is not kept; the answer object is',
  })
  server.close()
}

console.log(`| remembered outcome | entries | bytes per entry | |`)
console.log('|---|---:|---:|---|')
for (const r of results) console.log(`| ${r.what} | ${r.entries} | ${Math.round(r.bytes)} | ${r.note} |`)
