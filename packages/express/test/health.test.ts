// The readiness route of the README: the middleware's health() as a route's answer.
import { createServer } from 'node:http'
import { jwtVerifier } from '@portcullis/core'
import { portcullis } from '@portcullis/express'
import express from 'express'
import t from 'tap'
import { listen } from './fixtures/app.js'

const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://id.example.com'
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const token = `${b64({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })}.${b64({ iss: ISSUER })}.${'A'.repeat(86)}`

t.test('a readiness route answers 503 while the key set is down', async (t) => {
  const jwks = createServer((_req, res) => res.writeHead(502).end())
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => jwks.close(resolve)))
  const jwksUri = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks`

  const gate = portcullis({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, jwksUri }),
    public: ['/ready'],
  })
  const app = express()
  app.use(gate)
  app.get('/ready', (_req, res) => {
    const health = gate.health()
    res.status(health.ready ? 200 : 503).json(health)
  })
  app.get('/notes', (_req, res) => res.json({}))
  const server = await listen(app)
  t.teardown(server.close)

  const { checkedAt: _a, ...ours } = gate.health()
  const { checkedAt: _b, ...theGates } = gate.gate.health()
  t.same(ours, theGates, 'the same answer as the gate')
  const before = await server.request('GET', '/ready')
  t.equal(before.status, 200)
  t.match(before.json(), { ready: true, components: [{ name: jwksUri, status: 'unknown' }] })

  t.equal((await server.request('GET', '/notes', { authorization: `Bearer ${token}` })).status, 503)
  const down = await server.request('GET', '/ready')
  t.equal(down.status, 503)
  t.match(down.json(), { status: 'down', ready: false, components: [{ status: 'down', detail: /502/ }] })
})
