// The deny list and the attempt limiter through both adapters, with real tokens from the dev IdP:
// each adapter hands the gate the client address its framework resolves (proxy settings applied),
// and a revoked token is refused while the verifier still has it cached.
import type { AddressInfo } from 'node:net'
import { AttemptWindows, jwtVerifier, MemoryDenyList, revocationOf } from '@portcullis/core'
import { startDevIdp } from '@portcullis/dev-idp'
import { portcullis as expressPortcullis } from '@portcullis/express'
import { portcullis as fastifyPortcullis } from '@portcullis/fastify'
import express from 'express'
import Fastify from 'fastify'
import t, { type Test } from 'tap'

const RESOURCE = 'https://shared-state.example/mcp'
const idp = await startDevIdp()
t.teardown(idp.close)
idp.addResource({ resource: RESOURCE, scopes: ['notes:read'] })
const token = async () =>
  (await idp.userToken({ user: 'alice', resource: RESOURCE, scope: 'notes:read' })).access_token
// Signed by the dev IdP for another resource: refused by the audience check.
const elsewhere = (await idp.userToken({ user: 'alice', scope: 'notes:read' })).access_token

interface Options {
  denyList: MemoryDenyList
  attemptLimiter: AttemptWindows
  trustProxy: boolean
}

/** An app on 127.0.0.1 behind one adapter; `call` sends GET /notes from an X-Forwarded-For address. */
const adapters: Record<
  string,
  (t: Test, options: Options) => Promise<(token: string, from: string) => Promise<Response>>
> = {
  async fastify(t, { denyList, attemptLimiter, trustProxy }) {
    const app = Fastify({ trustProxy })
    await app.register(fastifyPortcullis, {
      resource: RESOURCE,
      authorizationServers: [idp.issuer],
      verifier: jwtVerifier({ issuer: idp.issuer, audience: RESOURCE }),
      denyList,
      attemptLimiter,
    })
    app.get('/notes', async () => ({ notes: [] }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    return caller((app.server.address() as AddressInfo).port)
  },
  async express(t, { denyList, attemptLimiter, trustProxy }) {
    const app = express()
    app.set('trust proxy', trustProxy)
    app.use(
      expressPortcullis({
        resource: RESOURCE,
        authorizationServers: [idp.issuer],
        verifier: jwtVerifier({ issuer: idp.issuer, audience: RESOURCE }),
        denyList,
        attemptLimiter,
      }),
    )
    app.get('/notes', (_req, res) => void res.json({ notes: [] }))
    const server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    t.teardown(() => new Promise((resolve) => server.close(resolve)))
    return caller((server.address() as AddressInfo).port)
  },
}

const caller = (port: number) => (bearer: string, from: string) =>
  fetch(`http://127.0.0.1:${port}/notes`, {
    headers: { authorization: `Bearer ${bearer}`, 'x-forwarded-for': from },
  })

for (const [name, start] of Object.entries(adapters)) {
  t.test(`${name}: a revoked token is refused, also when its verification is cached`, async (t) => {
    const denyList = new MemoryDenyList()
    const call = await start(t, {
      denyList,
      attemptLimiter: new AttemptWindows({ maxAttempts: 100, window: 60 }),
      trustProxy: true,
    })
    const alice = await token()
    t.equal((await call(alice, '198.51.100.1')).status, 200)
    denyList.add(revocationOf({ token: alice }, { defaultTtl: 600 }))
    const refused = await call(alice, '198.51.100.1')
    t.equal(refused.status, 401)
    t.match(
      refused.headers.get('www-authenticate'),
      /error="invalid_token", error_description="The access token has been revoked"/,
    )
    t.equal((await call(await token(), '198.51.100.1')).status, 200, 'another token of the same user')
  })

  t.test(
    `${name}: refused tokens from one address lead to 429, counted by the address the framework resolves`,
    async (t) => {
      const attemptLimiter = new AttemptWindows({ maxAttempts: 2, window: 60 })
      const call = await start(t, { denyList: new MemoryDenyList(), attemptLimiter, trustProxy: true })
      const alice = await token()
      t.equal((await call(elsewhere, '203.0.113.5')).status, 401)
      t.equal((await call('not-a-token', '203.0.113.5')).status, 401)
      const limited = await call(alice, '203.0.113.5')
      t.equal(limited.status, 429)
      t.equal(limited.headers.get('retry-after'), '60')
      t.same(await limited.json(), {
        error: 'temporarily_unavailable',
        error_description: 'Too many refused access tokens from this client address; retry after 60 s',
      })
      t.equal((await call(alice, '203.0.113.6')).status, 200, 'another client')

      // Without trust in the proxy, X-Forwarded-For is ignored: the socket address counts.
      const direct = new AttemptWindows({ maxAttempts: 1, window: 60 })
      const untrusted = await start(t, {
        denyList: new MemoryDenyList(),
        attemptLimiter: direct,
        trustProxy: false,
      })
      t.equal((await untrusted('not-a-token', '203.0.113.7')).status, 401)
      t.equal(
        (await untrusted(alice, '203.0.113.8')).status,
        429,
        'a forged header does not make a new client',
      )
      t.equal(direct.retryAfter('127.0.0.1'), 60)
    },
  )
}
