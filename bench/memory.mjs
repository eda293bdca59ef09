// Memory per remembered outcome, and the worst case it bounds: fills a jwtVerifier's cache with
// verified ES256 tokens (an IdP-sized one, and one near the 8,192-character limit the bearer parser
// allows), then with refused ones, and an introspectionVerifier's cache with active answers (from a
// loopback endpoint), measuring the heap after full collections before and after each fill. The
// bound is each cache's default maxEntries (read from a verifier built with the defaults) times the
// bytes per entry.
//
//   node --expose-gc bench/memory.mjs [--entries 10000]
//   PORTCULLIS_BASELINE=<checkout, built> node --expose-gc bench/memory.mjs   # the same for that build, beside
import { generateKeyPairSync } from 'node:crypto'
import { parseArgs } from 'node:util'
import { ISSUER, mintJwts, publicJwk, RESOURCE } from './lib/jwt.mjs'
import { builds } from './lib/load-builds.mjs'
import { serveIntrospection } from './lib/loopback.mjs'
import { heapAfterGc, loadAverage, requireGc } from './lib/measure.mjs'
import { fmtInt, printTable } from './lib/table.mjs'

requireGc('node --expose-gc bench/memory.mjs')
const { values: args } = parseArgs({ options: { entries: { type: 'string', default: '10000' } } })
const N = Number(args.entries)
const { core } = await builds('core')
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = publicJwk(publicKey, 'ES256')
// A jti padded to make the token about 480 characters (an IdP's access token), or about 8,100 (the
// most the bearer parser accepts is 8,192): a verified entry keeps the token and its claims.
const mint = (count, from, pad, key = privateKey) =>
  mintJwts({
    alg: 'ES256',
    privateKey: key,
    count,
    from,
    claims: { jti: `memory-${from}-${'x'.repeat(pad)}` },
  })
const SIZES = { typical: 24, largest: 5_750 }

/** Heap bytes per entry that `fill()` leaves in the cache `entries()` counts. */
async function perEntry(fill, entries) {
  const before = heapAfterGc()
  await fill()
  const after = heapAfterGc()
  const count = entries()
  return { count, bytes: (after - before) / count }
}

/** The rows of one build of @portcullis/core. */
async function measure(lib, build) {
  const rows = []
  const defaults = lib.jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk] }).stats()
    .cache.maxEntries
  // A verified token is kept by the cache alone once the fill's list is dropped, so the tokens are
  // minted inside the measurement and their bytes count; a refused token is not kept, so its list is
  // minted before and held through the measurement, and only what the cache adds counts.
  const jwtRow = async (what, make, after, { refused = false } = {}) => {
    const verifier = lib.jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      keys: [jwk],
      signatureCheck: 'event-loop',
      cache: { maxEntries: N },
    })
    const held = refused ? make() : undefined
    let chars = 0
    const { count, bytes } = await perEntry(
      async () => {
        const list = held ?? make()
        chars = Math.round(list.reduce((sum, token) => sum + token.length, 0) / list.length)
        for (const token of list) await verifier.verifyAccessToken(token).catch(() => {})
      },
      () => verifier.stats().cache.entries,
    )
    if (held !== undefined && held.length !== N) throw new Error('unreachable: the refused tokens are held')
    rows.push([
      build,
      what.replace('{chars}', chars),
      fmtInt(count),
      fmtInt(bytes),
      fmtInt(defaults),
      mb(defaults * bytes),
      after,
    ])
  }
  await jwtRow(
    '`jwtVerifier`, verified token ({chars}-character ES256 JWT)',
    () => mint(N, 0, SIZES.typical),
    'the token (kept as `AuthInfo.token`), its `AuthInfo`, claims, entry',
  )
  await jwtRow(
    "`jwtVerifier`, verified token ({chars} characters, near the parser's limit)",
    () => mint(N, N, SIZES.largest),
    'the worst case: the largest token the bearer parser lets through',
  )
  const forger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  await jwtRow(
    '`jwtVerifier`, refused token ({chars} characters, another key)',
    () => mint(N, 3 * N, SIZES.typical, forger),
    'keyed by SHA-256, the token not kept',
    { refused: true },
  )
  await jwtRow(
    '`jwtVerifier`, refused token ({chars} characters, another key)',
    () => mint(N, 2 * N, SIZES.largest, forger),
    'keyed by SHA-256, the token not kept: any size costs the same',
    { refused: true },
  )

  const endpoint = await serveIntrospection((token) => ({
    active: true,
    iss: ISSUER,
    aud: RESOURCE,
    client_id: 'bench-client',
    sub: `user-${token.slice(-8)}`,
    scope: 'bench:read bench:write',
    exp: Math.floor(Date.now() / 1000) + 3600,
    iat: Math.floor(Date.now() / 1000),
    token_type: 'Bearer',
  }))
  const introspection = (cache) =>
    lib.introspectionVerifier({
      issuer: ISSUER,
      endpoint: endpoint.endpoint,
      clientId: 'rs',
      clientSecret: 'secret',
      audience: RESOURCE,
      cache,
    })
  const introspectionDefault = introspection(undefined).stats().cache.maxEntries
  const verifier = introspection({ maxEntries: N, ttl: 3600 })
  const tokens = Array.from(
    { length: N },
    (_, i) => `opaque-${i.toString(36).padStart(8, '0')}-${'y'.repeat(24)}`,
  )
  await verifier.verifyAccessToken(`warm-${'z'.repeat(30)}`) // the fetch machinery (pool, JIT) before measuring
  const { count, bytes } = await perEntry(
    async () => {
      for (let i = 0; i < N; i += 50)
        await Promise.all(tokens.slice(i, i + 50).map((token) => verifier.verifyAccessToken(token)))
    },
    () => verifier.stats().cache.entries - 1,
  )
  rows.push([
    build,
    '`introspectionVerifier`, active answer (9 members, keyed by hash)',
    fmtInt(count),
    fmtInt(bytes),
    fmtInt(introspectionDefault),
    mb(introspectionDefault * bytes),
    'the answer object; the token not kept',
  ])
  endpoint.close()
  return rows
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`
console.log(`load average ${loadAverage().join(' ')}, ${N} entries per fill`)
const rows = await measure(core.this, 'this')
if (core.baseline !== undefined) rows.push(...(await measure(core.baseline, 'baseline')))
printTable(
  [
    'build',
    'remembered outcome',
    'entries>',
    'bytes per entry>',
    'default maxEntries>',
    'worst case (default × bytes)>',
    'what it holds',
  ],
  rows,
)
