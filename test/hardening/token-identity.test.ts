// Finding 1 of the security review: a token's identity (fingerprint, deny list) must not change
// under any re-encoding that still verifies. For every signature family, every malleation built
// here is either refused by the verifier or carries the original's fingerprint; revoked twins are
// refused on both adapters, and through a Redis deny list shared by two instances.
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type DenyList,
  jwtVerifier,
  MemoryDenyList,
  revocationOf,
  type StaticKey,
  tokenFingerprint,
} from '@portcullis/core'
import { portcullis as expressPortcullis } from '@portcullis/express'
import { portcullis as fastifyPortcullis } from '@portcullis/fastify'
import { redisConnection, redisDenyList } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { accessTokenClaims } from './review-apps.js'

const ISSUER = 'https://id.identity.test'
const RESOURCE = 'https://mcp.identity.test/mcp'

interface Family {
  alg: 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'PS256' | 'EdDSA'
  privateKey: KeyObject
  publicKey: KeyObject
  /** ECDSA: the group order and the width of r and s in bytes (RFC 7518 §3.4). */
  ec?: { n: bigint; size: number }
}

const EC = {
  ES256: {
    curve: 'P-256',
    hash: 'sha256',
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    size: 32,
  },
  ES384: {
    curve: 'P-384',
    hash: 'sha384',
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    size: 48,
  },
  ES512: {
    curve: 'P-521',
    hash: 'sha512',
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    size: 66,
  },
} as const
/** The order of the Ed25519 base point (RFC 8032 §5.1): S must be below it. */
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n

const families: Family[] = [
  ...(['ES256', 'ES384', 'ES512'] as const).map((alg) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: EC[alg].curve })
    return { alg, privateKey, publicKey, ec: { n: EC[alg].n, size: EC[alg].size } }
  }),
  { alg: 'RS256', ...generateKeyPairSync('rsa', { modulusLength: 2048 }) },
  { alg: 'PS256', ...generateKeyPairSync('rsa', { modulusLength: 2048 }) },
  { alg: 'EdDSA', ...generateKeyPairSync('ed25519') },
]

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')

function signingInputOf(family: Family): string {
  const header = { alg: family.alg, kid: family.alg, typ: 'at+jwt' }
  const payload = accessTokenClaims({ iss: ISSUER, aud: RESOURCE, jti: `${family.alg}-${Math.random()}` })
  return `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`
}

function signatureOf(family: Family, input: string, der = false): Buffer {
  const data = Buffer.from(input)
  switch (family.alg) {
    case 'EdDSA':
      return sign(null, data, family.privateKey)
    case 'RS256':
      return sign('sha256', data, family.privateKey)
    case 'PS256':
      return sign('sha256', data, { key: family.privateKey, padding: 6, saltLength: 32 })
    default: {
      // ECDSA signs anew each time. ES384 and ES512 signatures fill whole base64 groups (no
      // padding), so one without '-' or '_' (about 2 % of them) would be spelled the same in standard
      // base64 and the "+/" twin would be the token itself: sign until the spellings differ.
      for (;;) {
        const signature = sign(EC[family.alg].hash, data, {
          key: family.privateKey,
          dsaEncoding: der ? 'der' : 'ieee-p1363',
        })
        if (der || /[-_]/.test(b64(signature))) return signature
      }
    }
  }
}

const toBytes = (value: bigint, size: number) =>
  Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex')
const toBigInt = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex') || '0'}`)

interface Twin {
  name: string
  token: string
  /** True: a valid re-encoding (must verify and keep the identity); false: must be refused. */
  verifies: boolean
}

/** Every malleation of `token` (signed by `family`) this test knows how to build. */
function malleations(family: Family, input: string, signature: Buffer): Twin[] {
  const token = `${input}.${b64(signature)}`
  const encoded = b64(signature)
  const twins: Twin[] = [
    // Signature bytes.
    {
      name: 'a byte appended to the signature',
      token: `${input}.${b64(Buffer.concat([signature, Buffer.from([0])]))}`,
      verifies: false,
    },
    {
      name: 'a zero byte prepended to the signature',
      token: `${input}.${b64(Buffer.concat([Buffer.from([0]), signature]))}`,
      verifies: false,
    },
    {
      name: 'the last signature byte dropped',
      token: `${input}.${b64(signature.subarray(0, -1))}`,
      verifies: false,
    },
    // base64url spellings of the same signature, which the strict decoder refuses.
    {
      name: 'the signature padded with =',
      token: `${token}${'='.repeat((4 - (encoded.length % 4)) % 4 || 2)}`,
      verifies: false,
    },
    {
      // Differs from the token: signatureOf makes sure (padding, or a '-' or '_' to respell).
      name: 'the signature in standard base64 (+/)',
      token: `${input}.${signature.toString('base64')}`,
      verifies: false,
    },
    {
      name: 'spare bits set in the last signature character',
      token: `${input}.${spareBits(encoded)}`,
      verifies: false,
    },
    {
      name: 'a space inside the signature',
      token: `${input}.${encoded.slice(0, 8)} ${encoded.slice(8)}`,
      verifies: false,
    },
    // Data after the token.
    { name: 'a fourth part after the signature', token: `${token}.x`, verifies: false },
    { name: 'a trailing dot', token: `${token}.`, verifies: false },
    {
      name: 'the header padded with =',
      token: `${input.split('.')[0]}=.${input.split('.')[1]}.${encoded}`,
      verifies: false,
    },
  ]
  if (family.ec !== undefined) {
    const { n, size } = family.ec
    const r = toBigInt(signature.subarray(0, size))
    const s = toBigInt(signature.subarray(size))
    const p1363 = (a: bigint, b: bigint) =>
      `${input}.${b64(Buffer.concat([toBytes(a, size), toBytes(b, size)]))}`
    // FIPS 186-5 §6.4.2: (r, n − s) verifies wherever (r, s) does.
    twins.push({ name: 'ECDSA (r, n − s)', token: p1363(r, n - s), verifies: true })
    // A second signature over the same bytes (another nonce): the same token, issued once.
    twins.push({
      name: 'ECDSA, signed again (another nonce)',
      token: `${input}.${b64(signatureOf(family, input))}`,
      verifies: true,
    })
    twins.push({
      name: 'ECDSA in DER instead of R || S (RFC 7518 §3.4)',
      token: `${input}.${b64(signatureOf(family, input, true))}`,
      verifies: false,
    })
    // r + n or s + n still fit the field when n is much below 2^(8·size) (P-521): never valid.
    if (r + n < 2n ** BigInt(size * 8))
      twins.push({ name: 'ECDSA (r + n, s)', token: p1363(r + n, s), verifies: false })
    if (s + n < 2n ** BigInt(size * 8))
      twins.push({ name: 'ECDSA (r, s + n)', token: p1363(r, s + n), verifies: false })
    twins.push({ name: 'ECDSA (r, 0)', token: p1363(r, 0n), verifies: false })
  }
  if (family.alg === 'EdDSA') {
    // RFC 8032 §5.1.7: S must be below L; S + L is the classic Ed25519 malleation.
    const s = toBigInt(Buffer.from(signature.subarray(32)).reverse())
    const bumped = toBytes(s + ED25519_L, 32).reverse()
    twins.push({
      name: 'Ed25519 S + L',
      token: `${input}.${b64(Buffer.concat([signature.subarray(0, 32), bumped]))}`,
      verifies: false,
    })
  }
  if (family.alg === 'PS256') {
    twins.push({
      name: 'RSA-PSS, signed again (another salt)',
      token: `${input}.${b64(signatureOf(family, input))}`,
      verifies: true,
    })
  }
  // RS256 (RSASSA-PKCS1-v1_5) is deterministic and s < n is enforced: no second spelling to build.
  return twins
}

/** The same bytes spelled with the spare low bits of the last character set (RFC 4648 §3.5). */
function spareBits(encoded: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(encoded.at(-1)!)
  const spare = encoded.length % 4 === 2 ? 0b1111 : encoded.length % 4 === 3 ? 0b11 : 0
  if (spare === 0) return `${encoded}A` // no spare bits: an extra character is non-canonical too
  return encoded.slice(0, -1) + alphabet[last | spare]
}

const keys: StaticKey[] = families.map((f) => ({ key: f.publicKey, alg: f.alg, kid: f.alg }))
const verifierOptions = () => ({ issuer: ISSUER, audience: RESOURCE, keys })

t.test('every malleation is refused or keeps the identity (jwtVerifier, every family)', async (t) => {
  const verifier = jwtVerifier({ ...verifierOptions(), cache: false })
  for (const family of families) {
    const input = signingInputOf(family)
    const signature = signatureOf(family, input)
    const original = `${input}.${b64(signature)}`
    const info = await verifier.verifyAccessToken(original)
    t.equal(
      info.extra?.fingerprint,
      tokenFingerprint(original),
      `${family.alg}: the verifier reports the identity`,
    )
    for (const twin of malleations(family, input, signature)) {
      t.not(twin.token, original, `${family.alg} ${twin.name}: another spelling than the token`)
      const outcome = await verifier.verifyAccessToken(twin.token).then(
        (auth) => ({ accepted: true as const, fingerprint: auth.extra?.fingerprint }),
        () => ({ accepted: false as const, fingerprint: undefined }),
      )
      if (twin.verifies) {
        t.ok(outcome.accepted, `${family.alg} ${twin.name}: a valid re-encoding verifies`)
        t.not(twin.token, original, `${family.alg} ${twin.name}: a different string`)
        t.equal(
          outcome.fingerprint,
          tokenFingerprint(original),
          `${family.alg} ${twin.name}: the same identity`,
        )
        t.equal(
          tokenFingerprint(twin.token),
          tokenFingerprint(original),
          `${family.alg} ${twin.name}: tokenFingerprint agrees`,
        )
      } else {
        t.notOk(outcome.accepted, `${family.alg} ${twin.name}: refused`)
      }
    }
  }
})

t.test('an opaque token is identified by all of it, even with two dots', async (t) => {
  t.not(tokenFingerprint('opaque.part.one'), tokenFingerprint('opaque.part.two'))
  const header = b64('{"alg":"ES256"}')
  t.equal(
    tokenFingerprint(`${header}.e30.sig1`),
    tokenFingerprint(`${header}.e30.sig2`),
    'a JWS: by its signing input',
  )
  t.not(
    tokenFingerprint(`${header}.e30.sig1`),
    tokenFingerprint(`${header}.e31.sig1`),
    'another payload: another token',
  )
})

// ---------------------------------------------------------------- through the adapters

type Call = (token: string) => Promise<{ status: number; challenge: string | null }>

async function fastifyApp(t: Test, denyList: DenyList): Promise<Call> {
  const app = Fastify()
  await app.register(fastifyPortcullis, {
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier(verifierOptions()),
    denyList,
  })
  app.get('/notes', async () => ({ notes: [] }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return caller((app.server.address() as AddressInfo).port)
}

async function expressApp(t: Test, denyList: DenyList): Promise<Call> {
  const app = express()
  app.use(
    expressPortcullis({
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      verifier: jwtVerifier(verifierOptions()),
      denyList,
    }),
  )
  app.get('/notes', (_req, res) => void res.json({ notes: [] }))
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
  })
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return caller((server.address() as AddressInfo).port)
}

const caller =
  (port: number): Call =>
  async (token) => {
    const response = await fetch(`http://127.0.0.1:${port}/notes`, {
      headers: { authorization: `Bearer ${token}` },
    })
    await response.arrayBuffer()
    return { status: response.status, challenge: response.headers.get('www-authenticate') }
  }

const adapters = { fastify: fastifyApp, express: expressApp }
const ecdsa = families.filter((f) => f.ec !== undefined)

/** A token and its (r, n − s) twin, both valid. */
function tokenAndTwin(family: Family): [string, string] {
  const input = signingInputOf(family)
  const signature = signatureOf(family, input)
  const twin = malleations(family, input, signature).find((m) => m.name === 'ECDSA (r, n − s)')!
  return [`${input}.${b64(signature)}`, twin.token]
}

for (const [name, start] of Object.entries(adapters)) {
  t.test(`${name}: a revoked ECDSA token's (r, n − s) twin is refused`, async (t) => {
    const denyList = new MemoryDenyList()
    const call = await start(t, denyList)
    for (const family of ecdsa) {
      const [byToken, byTokenTwin] = tokenAndTwin(family)
      t.equal((await call(byTokenTwin)).status, 200, `${family.alg}: the twin is a valid token`)
      denyList.add(revocationOf({ token: byToken }, { defaultTtl: 600 }))
      // The twin was verified and cached before the revocation: the deny list still applies.
      const refused = await call(byTokenTwin)
      t.equal(refused.status, 401, `${family.alg}: revoked by token, its twin is refused`)
      t.match(refused.challenge, /error="invalid_token"/)
      t.equal((await call(byToken)).status, 401, `${family.alg}: and the token itself`)

      const [byPrint, byPrintTwin] = tokenAndTwin(family)
      denyList.add(revocationOf({ fingerprint: tokenFingerprint(byPrint) }, { defaultTtl: 600 }))
      t.equal(
        (await call(byPrintTwin)).status,
        401,
        `${family.alg}: revoked by fingerprint, its twin is refused`,
      )
    }
  })
}

t.test('Redis deny list on two instances: a twin of a token revoked on one is refused on both', async (t) => {
  const redis = await redisServer(t)
  const instances: Array<{ call: Call; denyList: ReturnType<typeof redisDenyList> }> = []
  for (const start of [fastifyApp, expressApp]) {
    const connection = redisConnection({ url: redis.url, keyPrefix: 'identity:' })
    const denyList = redisDenyList(connection, { resyncInterval: 1 })
    t.teardown(async () => {
      denyList.close()
      await connection.close()
    })
    instances.push({ call: await start(t, denyList), denyList })
  }
  const [a, b] = instances as [(typeof instances)[0], (typeof instances)[0]]
  // A new instance vouches for no token before its first load of the shared list (503 until then).
  for (const { denyList } of instances) t.ok(await denyList.whenReady(30_000), 'the deny list has loaded')
  for (const family of ecdsa) {
    const [token, twin] = tokenAndTwin(family)
    t.equal((await b.call(twin)).status, 200, `${family.alg}: the twin is accepted before the revocation`)
    await a.denyList.revoke({ token })
    t.equal((await a.call(twin)).status, 401, `${family.alg}: refused on the instance that revoked`)
    // The other instance hears it by pub/sub, or at its next resync (1 s): wait generously.
    let status = 0
    for (let i = 0; i < 100 && status !== 401; i++) {
      status = (await b.call(twin)).status
      if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.equal(status, 401, `${family.alg}: refused on the other instance`)
    t.equal((await b.call(token)).status, 401, `${family.alg}: the original too`)
  }
})
