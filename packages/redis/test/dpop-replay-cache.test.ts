import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { type DpopReplayCache, jwkThumbprint, jwtVerifier } from '@portcullis/core'
import { portcullis } from '@portcullis/fastify'
import { type RedisConnection, redisConnection, redisDpopReplayCache } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import Fastify from 'fastify'
import t, { type Test } from 'tap'

// Two instances of one resource behind a load balancer: a DPoP proof accepted by one must be
// refused by the other (RFC 9449 §11.1). Real redis-server, real Fastify, real signatures.

const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://idp.example.com'
const server = await redisServer(t)
t.beforeEach(() => server.flush())

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const es256 = (input: string, key: KeyObject) =>
  sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
const jws = (header: object, payload: object, key: KeyObject) => {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${es256(input, key)}`
}

const issuer = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const issuerJwk = { ...issuer.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }
const client = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const clientJwk = client.publicKey.export({ format: 'jwk' }) as Record<string, unknown>
const jkt = jwkThumbprint(clientJwk)
const nowS = () => Math.floor(Date.now() / 1000)
const token = jws(
  { alg: 'ES256', kid: 'k1', typ: 'at+jwt' },
  {
    iss: ISSUER,
    aud: RESOURCE,
    sub: 'alice',
    client_id: 'c1',
    scope: 'notes:read',
    iat: nowS(),
    exp: nowS() + 600,
    jti: randomUUID(),
    cnf: { jkt },
  },
  issuer.privateKey,
)
const proof = () =>
  jws(
    { typ: 'dpop+jwt', alg: 'ES256', jwk: clientJwk },
    {
      jti: randomUUID(),
      htm: 'GET',
      htu: RESOURCE,
      iat: nowS(),
      ath: createHash('sha256').update(token).digest('base64url'),
    },
    client.privateKey,
  )

async function instance(t: Test, replayCache?: (redis: RedisConnection) => DpopReplayCache) {
  const redis = redisConnection({ url: server.url, reconnectMaxDelayMs: 100, commandTimeoutMs: 1000 })
  const app = Fastify()
  await app.register(portcullis, {
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [issuerJwk] }),
    dpop:
      replayCache === undefined ? { mode: 'allowed' } : { mode: 'allowed', replayCache: replayCache(redis) },
  })
  app.get('/mcp', async (request) => ({ jkt: request.auth.extra.dpopJkt }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  if (!(await redis.ready(10_000))) throw new Error('Redis did not become ready within 10 s')
  t.teardown(async () => {
    await app.close()
    await redis.close()
  })
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const call = async (dpop: string) => {
    const res = await fetch(`${origin}/mcp`, { headers: { authorization: `DPoP ${token}`, dpop } })
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
  }
  return { redis, call }
}

t.test('options are validated with errors that name the option', async (t) => {
  const redis = redisConnection({ url: server.url })
  t.teardown(() => redis.close())
  t.throws(() => redisDpopReplayCache(redis, { clock: 1 } as never), /redisDpopReplayCache: /)
})

t.test('two instances on Redis refuse each other’s replays', async (t) => {
  const a = await instance(t, (redis) => redisDpopReplayCache(redis))
  const b = await instance(t, (redis) => redisDpopReplayCache(redis))
  const once = proof()
  const first = await a.call(once)
  t.equal(first.status, 200)
  t.equal(first.body.jkt, jkt)
  for (const [name, target] of [
    ['the instance that accepted it', a],
    ['the other instance', b],
  ] as const) {
    const replay = await target.call(once)
    t.equal(replay.status, 401, `a replay on ${name}`)
    t.equal(replay.body.error, 'invalid_dpop_proof')
    t.match(String(replay.body.error_description), /used before/)
  }
  t.equal((await b.call(proof())).status, 200, 'twin: a fresh proof on the other instance')
  // The record lapses with the proof's iat window (300 s and a second), not later.
  const keys = await a.redis.client.keys('portcullis:dpop:*')
  t.equal(keys.length, 2, 'one key per accepted proof')
  const ttl = await a.redis.client.pttl(keys[0]!)
  t.ok(ttl > 250_000 && ttl <= 301_000, `PTTL ${ttl}`)
})

t.test('control: with the in-memory default each instance only knows its own proofs', async (t) => {
  const a = await instance(t)
  const b = await instance(t)
  const once = proof()
  t.equal((await a.call(once)).status, 200)
  t.equal((await a.call(once)).status, 401, 'the same instance refuses the replay')
  t.equal((await b.call(once)).status, 200, 'another instance cannot know it: why the shared cache exists')
})

t.test('Redis down: DPoP requests fail closed with 503 and Retry-After, then recover', async (t) => {
  const a = await instance(t, (redis) => redisDpopReplayCache(redis))
  t.equal((await a.call(proof())).status, 200)
  await server.kill()
  const down = await a.call(proof())
  t.equal(down.status, 503)
  t.equal(down.body.error, 'temporarily_unavailable')
  t.ok(Number(down.headers.get('retry-after')) > 0, 'Retry-After')
  await server.start()
  let status = 0
  for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    status = (await a.call(proof())).status
  }
  t.equal(status, 200, 'accepted again once Redis is back')
})
