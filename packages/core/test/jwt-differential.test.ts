/**
 * Differential test: thousands of generated and mutated tokens, each verified by Portcullis and by
 * jose's jwtVerify with the same options. Portcullis must accept exactly what jose accepts, except
 * where Portcullis is deliberately stricter; those rules are mirrored in `stricterPolicy` below, one
 * line each, so the oracle is "jose accepts AND the stricter policy allows".
 */
import { constants, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { jwtVerifier } from '@portcullis/core'
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose'
import t from 'tap'

const SEED = Number(process.env.PORTCULLIS_DIFF_SEED ?? 20_260_728)
const COUNT = Number(process.env.PORTCULLIS_DIFF_COUNT ?? 3000)
const ISSUER = 'https://as.example.com'
const AUDIENCE = 'https://mcp.example.com/mcp'
const NOW = 1_800_000_000
const TOLERANCE = 60
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

// mulberry32: a small seeded PRNG, so a failure can be replayed with PORTCULLIS_DIFF_SEED.
let state = SEED >>> 0
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0
  let x = state
  x = Math.imul(x ^ (x >>> 15), x | 1)
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
const chance = (p: number) => random() < p

interface TestKey {
  kid: string
  alg: string
  privateKey: KeyObject
  jwk: JWK
}

function makeKey(kid: string, alg: string, jwkAlg: string | undefined = alg): TestKey {
  const pair =
    alg.startsWith('RS') || alg.startsWith('PS')
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', {
            namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg] as string,
          })
  const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid, use: 'sig' }
  if (jwkAlg !== undefined) jwk.alg = jwkAlg
  return { kid, alg, privateKey: pair.privateKey, jwk }
}

const trusted = [
  makeKey('r1', 'RS256'),
  makeKey('r2', 'RS384'),
  makeKey('p1', 'PS256'),
  makeKey('e1', 'ES256'),
  makeKey('e3', 'ES384'),
  makeKey('d1', 'EdDSA'),
  makeKey('n5', 'ES512', undefined), // no alg in the JWK: bound by curve (P-521 -> ES512) by both
]
// Same kids, other keys: a signature by one of these must never verify.
const strangers = trusted.map((k) => ({ ...makeKey(k.kid, k.alg), jwk: k.jwk }))
const jwks = { keys: trusted.map((k) => k.jwk) }

const ours = jwtVerifier({
  issuer: ISSUER,
  audience: AUDIENCE,
  keys: jwks.keys as never,
  clockTolerance: TOLERANCE,
  cache: false,
  now: () => NOW * 1000,
})
const joseKeys = createLocalJWKSet(jwks)
// jose compares aud verbatim; Portcullis compares URL audiences canonically. The spellings the
// generator uses are listed, so both sides accept the same set.
const AUDIENCE_SPELLINGS = [
  AUDIENCE,
  `${AUDIENCE}/`,
  'HTTPS://MCP.EXAMPLE.COM/mcp',
  'https://mcp.example.com:443/mcp',
]
const joseAccepts = async (token: string) => {
  try {
    await jwtVerify(token, joseKeys, {
      issuer: ISSUER,
      audience: AUDIENCE_SPELLINGS,
      algorithms: ALGORITHMS,
      clockTolerance: TOLERANCE,
      requiredClaims: ['exp'],
      currentDate: new Date(NOW * 1000),
    })
    return true
  } catch {
    return false
  }
}

const B64URL = /^[A-Za-z0-9_-]*$/
const canonicalB64 = (part: string) =>
  B64URL.test(part) && part.length % 4 !== 1 && Buffer.from(part, 'base64url').toString('base64url') === part

/** Where Portcullis is deliberately stricter than jose. Each line names its rule. */
function stricterPolicy(token: string): boolean {
  const parts = token.split('.')
  // RFC 7515 §2 / RFC 4648 §3.5: unpadded, canonical base64url only (jose's atob is forgiving).
  if (!parts.every(canonicalB64)) return false
  let header: Record<string, unknown>
  let claims: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'))
    claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'))
  } catch {
    return true // jose rejects these anyway
  }
  // RFC 9068 §4 / RFC 8725 §3.11: typ, when present, must be an access-token or generic JWT type.
  if (header.typ !== undefined) {
    if (typeof header.typ !== 'string') return false
    if (!['at+jwt', 'application/at+jwt', 'jwt', 'application/jwt'].includes(header.typ.toLowerCase()))
      return false
  }
  // No critical extension is understood (jose understands b64).
  if (header.crit !== undefined) return false
  // Nested JWTs are refused; cty must be a string.
  if (header.cty !== undefined && (typeof header.cty !== 'string' || header.cty.toUpperCase() === 'JWT'))
    return false
  // iat in the future beyond leeway is refused (jose checks iat only with maxTokenAge).
  if (typeof claims.iat === 'number' && claims.iat > NOW + TOLERANCE) return false
  // Registered claims must have their RFC 7519 types; NumericDates must be finite.
  for (const name of ['sub', 'jti', 'client_id', 'azp']) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') return false
  }
  if (Array.isArray(claims.aud) && claims.aud.some((v) => typeof v !== 'string')) return false
  for (const name of ['exp', 'nbf', 'iat']) {
    if (typeof claims[name] === 'number' && !Number.isFinite(claims[name])) return false
  }
  return true
}

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')

function signWith(key: TestKey, alg: string, input: string): string {
  const data = Buffer.from(input)
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`
  if (alg.startsWith('PS')) {
    return b64(
      sign(hash, data, {
        key: key.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: Number(alg.slice(2)) / 8,
      }),
    )
  }
  if (alg.startsWith('ES')) return b64(sign(hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }))
  return b64(sign(hash, data, key.privateKey))
}

function build(
  header: Record<string, unknown>,
  claims: Record<string, unknown> | string,
  key: TestKey,
  alg: string,
) {
  const input = `${b64(JSON.stringify(header))}.${b64(typeof claims === 'string' ? claims : JSON.stringify(claims))}`
  let signature: string
  try {
    signature = signWith(key, alg, input)
  } catch {
    signature = b64('not a signature') // e.g. an EC key asked for an RSA algorithm
  }
  return `${input}.${signature}`
}

function randomClaims(): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    iss: chance(0.95) ? ISSUER : pick([`${ISSUER}/`, 'https://evil.example', 'HTTPS://as.example.com', 42]),
    aud: chance(0.9)
      ? pick([AUDIENCE, [AUDIENCE], ['https://other.example', AUDIENCE], pick(AUDIENCE_SPELLINGS)])
      : pick(['https://other.example/mcp', `${AUDIENCE}2`, [], [AUDIENCE, 7], 5, null]),
    exp: chance(0.92)
      ? NOW + Math.floor(random() * 600) - 120
      : pick([undefined, String(NOW + 300), null, NOW - TOLERANCE, NOW - TOLERANCE + 1]),
    sub: chance(0.95) ? 'user-1' : pick([7, null, ['a']]),
    scope: 'a b',
  }
  if (chance(0.3)) claims.nbf = pick([NOW, NOW + TOLERANCE, NOW + TOLERANCE + 1, 'soon', NOW - 5])
  if (chance(0.5))
    claims.iat = chance(0.8) ? NOW - 10 : pick([NOW + TOLERANCE, NOW + TOLERANCE + 1, NOW + 500, 'x'])
  if (chance(0.2)) claims.client_id = pick(['c1', 3])
  if (chance(0.1)) claims.jti = pick(['j', 9])
  return claims
}

function randomHeader(key: TestKey, alg: string): Record<string, unknown> {
  const header: Record<string, unknown> = { alg }
  if (chance(0.9)) header.kid = chance(0.95) ? key.kid : pick(['nobody', 7, ''])
  if (chance(0.7))
    header.typ = chance(0.8)
      ? pick(['at+jwt', 'application/at+jwt', 'JWT'])
      : pick(['id_token+jwt', 'logout+jwt', 5])
  if (chance(0.04)) header.crit = pick([['b64'], ['exp'], []])
  if (chance(0.04)) header.b64 = true
  if (chance(0.04)) header.cty = pick(['JWT', 'json', 3])
  if (chance(0.04)) header.jku = 'https://evil.example/jwks'
  return header
}

const CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .'

function mutate(token: string): string {
  const parts = token.split('.')
  switch (Math.floor(random() * 9)) {
    case 0: // flip one character in one part
    case 1: {
      const index = Math.floor(random() * 3)
      const part = parts[index] ?? ''
      const at = Math.floor(random() * part.length)
      parts[index] = part.slice(0, at) + pick([...CHARSET]) + part.slice(at + 1)
      return parts.join('.')
    }
    case 2: {
      // flip the last character of the signature: often only spare bits change
      const sig = parts[2] ?? ''
      parts[2] = sig.slice(0, -1) + pick([...CHARSET.slice(0, 64)])
      return parts.join('.')
    }
    case 3: // swap alg, keep the signature
      return `${b64(JSON.stringify({ ...JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString()), alg: pick([...ALGORITHMS, 'HS256', 'none']) }))}.${parts[1]}.${parts[2]}`
    case 4: // padding, truncation, extra parts
      return pick([
        `${token}=`,
        token.slice(0, -2),
        `${token}.`,
        parts.slice(0, 2).join('.'),
        `${parts[0]}..${parts[2]}`,
        `${token}.a.b`,
      ])
    case 5: // signature of another token
      return `${parts[0]}.${parts[1]}.${generate(false).split('.')[2]}`
    case 6: // empty signature
      return `${parts[0]}.${parts[1]}.`
    case 7: // bytes flipped inside the decoded signature
    case 8: {
      const sig = Buffer.from(parts[2] ?? '', 'base64url')
      if (sig.length > 0) sig[Math.floor(random() * sig.length)]! ^= 1 << Math.floor(random() * 8)
      parts[2] = b64(sig)
      return parts.join('.')
    }
  }
  return token
}

function generate(allowMutation = true): string {
  const key = pick(trusted)
  const roll = random()
  let token: string
  if (roll < 0.55) {
    token = build(randomHeader(key, key.alg), randomClaims(), key, key.alg)
  } else if (roll < 0.65) {
    // re-signed by a stranger under a trusted kid
    const stranger = pick(strangers)
    token = build(randomHeader(stranger, stranger.alg), randomClaims(), stranger, stranger.alg)
  } else if (roll < 0.75) {
    // a trusted key asked to sign another algorithm of its family (or any other)
    const alg = pick(ALGORITHMS)
    token = build(randomHeader(key, alg), randomClaims(), key, alg)
  } else if (roll < 0.8) {
    // HMAC keyed with the public key, and alg none
    const input = `${b64(JSON.stringify({ alg: pick(['HS256', 'none', 'None']), kid: key.kid }))}.${b64(JSON.stringify(randomClaims()))}`
    token = `${input}.${pick(['', b64('x')])}`
  } else if (roll < 0.85) {
    // raw payloads: non-finite dates, JSON that is not an object
    const raw = pick([
      `{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":1e999}`,
      `{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":${NOW + 100},"nbf":-1e999}`,
      '[1,2]',
      'null',
      '"text"',
      `{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":${NOW + 100}.5}`,
    ])
    token = build({ alg: key.alg, kid: key.kid }, raw, key, key.alg)
  } else {
    token = build({ alg: key.alg, kid: key.kid, typ: 'at+jwt' }, randomClaims(), key, key.alg)
  }
  return allowMutation && chance(0.3) ? mutate(token) : token
}

t.test(`Portcullis accepts exactly what jose accepts (seed ${SEED}, ${COUNT} tokens)`, async (t) => {
  let accepted = 0
  let rejected = 0
  let stricter = 0
  const mismatches: string[] = []
  for (let i = 0; i < COUNT; i++) {
    const token = generate()
    const joseVerdict = await joseAccepts(token)
    const expected = joseVerdict && stricterPolicy(token)
    if (joseVerdict && !expected) stricter++
    let actual: boolean
    let reason = ''
    try {
      await ours.verifyAccessToken(token)
      actual = true
    } catch (error) {
      actual = false
      reason = (error as { reason?: string }).reason ?? String(error)
      if ((error as { name?: string }).name !== 'PortcullisError')
        mismatches.push(`#${i} threw a non-Portcullis error: ${reason}`)
    }
    if (actual) accepted++
    else rejected++
    if (actual !== expected && mismatches.length < 10) {
      mismatches.push(
        `#${i} ours=${actual ? 'accept' : `reject(${reason})`} oracle=${expected} token=${token}`,
      )
    }
  }
  t.same(mismatches, [], 'no disagreement')
  t.comment(`accepted ${accepted}, rejected ${rejected}, of which ${stricter} by deliberately stricter rules`)
  t.ok(accepted > COUNT * 0.12, 'a fair share of tokens are valid, so acceptance is exercised')
  t.ok(rejected > COUNT * 0.3, 'and a fair share invalid')
})
