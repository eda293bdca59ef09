// Finding 5 of the security review: a JWKS RSA key with public exponent 1 makes every "signature"
// equal to its own padded message, so anyone can sign. RSA keys whose exponent is even, below 3 or
// not below 2^256 are left out of the key set (as too-short moduli are), and reported once.
import { createHash, generateKeyPairSync } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { importJwks, jwtVerifier, type KeySetEvent, onKeySetEvent, type RemoteKeySet } from '@portcullis/core'
import { portcullis as expressPortcullis } from '@portcullis/express'
import { portcullis as fastifyPortcullis } from '@portcullis/fastify'
import express from 'express'
import Fastify from 'fastify'
import t from 'tap'
import { countingServer } from './hardening-stack.js'

const ISSUER = 'https://id.exponent.test'
const RESOURCE = 'https://mcp.exponent.test/mcp'
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url')
const bigintB64 = (value: bigint) => {
  const hex = value.toString(16)
  return b64(Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex'))
}

const modulus = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n!
const good = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
const rsaWith = (e: bigint, kid: string) => ({ kty: 'RSA', n: modulus, e: bigintB64(e), kid, alg: 'RS256' })

/** RSASSA-PKCS1-v1_5 with e = 1: the signature is the encoded message itself (RFC 8017 §8.2.1, §9.2). */
function forgedWithExponentOne(kid: string): string {
  const now = Math.floor(Date.now() / 1000)
  const input = `${b64(JSON.stringify({ alg: 'RS256', kid, typ: 'at+jwt' }))}.${b64(
    JSON.stringify({
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'mallory',
      client_id: 'x',
      scope: 'notes:read',
      iat: now,
      exp: now + 600,
    }),
  )}`
  const digestInfo = Buffer.concat([
    Buffer.from('3031300d060960864801650304020105000420', 'hex'),
    createHash('sha256').update(input).digest(),
  ])
  const k = Buffer.from(modulus, 'base64url').length
  const em = Buffer.concat([
    Buffer.from([0, 1]),
    Buffer.alloc(k - digestInfo.length - 3, 0xff),
    Buffer.from([0]),
    digestInfo,
  ])
  return `${input}.${b64(em)}`
}

t.test('importJwks leaves out RSA keys with a weak public exponent, and says why', async (t) => {
  const exponents: Array<[bigint, boolean]> = [
    [1n, false],
    [2n, false],
    [65_536n, false],
    [2n ** 256n + 1n, false],
    [3n, true],
    [65_537n, true],
    [2n ** 255n + 1n, true],
  ]
  const { keys, ignored } = importJwks({ keys: exponents.map(([e]) => rsaWith(e, `e${e}`)) })
  t.same(
    keys.map((k) => k.kid),
    exponents.filter(([, ok]) => ok).map(([e]) => `e${e}`),
    'only odd exponents from 3 to 2^256 are kept',
  )
  for (const entry of ignored) t.match(entry.reason, /public exponent/, `${entry.kid}: ${entry.reason}`)
})

const keyServer = await countingServer(() => ({
  status: 200,
  body: { keys: [rsaWith(1n, 'e1'), rsaWith(2n, 'e2'), { ...good, kid: 'ec', alg: 'ES256' }] },
}))
t.teardown(() => keyServer.close())
const jwksUri = `${keyServer.url}/jwks`

const events: KeySetEvent[] = []
t.teardown(onKeySetEvent((event) => events.push(event)))

const apps = {
  async fastify(logs: string[]) {
    const verifier = jwtVerifier({ issuer: ISSUER, audience: RESOURCE, jwksUri })
    const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } })
    await app.register(fastifyPortcullis, { resource: RESOURCE, authorizationServers: [ISSUER], verifier })
    app.get('/notes', async () => ({ secret: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    return { port: (app.server.address() as AddressInfo).port, keySet: verifier.keySet as RemoteKeySet }
  },
  async express(_logs: string[]) {
    const verifier = jwtVerifier({ issuer: ISSUER, audience: RESOURCE, jwksUri })
    const app = express()
    app.use(
      expressPortcullis({
        resource: RESOURCE,
        authorizationServers: [ISSUER],
        verifier,
        onKeySetEvent: false,
      }),
    )
    app.get('/notes', (_req, res) => void res.json({ secret: true }))
    const server: Server = await new Promise((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
    })
    t.teardown(() => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(resolve))
    })
    return { port: (server.address() as AddressInfo).port, keySet: verifier.keySet as RemoteKeySet }
  },
}

for (const [name, start] of Object.entries(apps)) {
  t.test(`${name}: a token "signed" for an e = 1 key without any private key is refused`, async (t) => {
    const logs: string[] = []
    const before = events.length
    const { port, keySet } = await start(logs)
    const response = await fetch(`http://127.0.0.1:${port}/notes`, {
      headers: { authorization: `Bearer ${forgedWithExponentOne('e1')}` },
    })
    t.equal(response.status, 401, 'refused')
    t.notMatch(await response.text(), /secret/, 'the handler did not run')
    t.match(response.headers.get('www-authenticate'), /error="invalid_token"/)
    await keySet.refresh()
    await keySet.refresh()
    const ignored = events.slice(before).filter((e) => e.type === 'key_ignored' && e.jwksUri === jwksUri)
    t.same(
      ignored.map((e) => e.ignored?.kid).sort(),
      ['e1', 'e2'],
      'each refused key is reported once, however many refreshes',
    )
    t.match(keySet.status().ignored, [
      { kid: 'e1', reason: /public exponent 1 / },
      { kid: 'e2', reason: /public exponent 2 / },
    ])
    if (name === 'fastify') {
      t.equal(
        logs.filter((line) => line.includes('a key of the authorization server is not used')).length,
        2,
        'logged once per key',
      )
    }
  })
}
