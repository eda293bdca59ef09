// The readiness route of the README: app.gate.health() as a route's answer, 503 while the
// key set cannot be fetched, 200 once it can.
import { createServer } from 'node:http'
import { jwtVerifier, type RemoteKeySet } from '@portcullis/core'
import portcullis from '@portcullis/fastify'
import Fastify from 'fastify'
import t from 'tap'

const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://id.example.com'
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
// Signed by nothing: it only makes the verifier fetch the key set.
const token = `${b64({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })}.${b64({ iss: ISSUER })}.${'A'.repeat(86)}`

t.test('a readiness route answers 503 while the key set is down and 200 once it is back', async (t) => {
  let status = 500
  const jwks = createServer((_req, res) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"keys":[]}'),
  )
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => jwks.close(resolve)))
  const jwksUri = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks`
  const verifier = jwtVerifier({ issuer: ISSUER, audience: RESOURCE, jwksUri })

  const app = Fastify()
  await app.register(portcullis, { resource: RESOURCE, authorizationServers: [ISSUER], verifier })
  app.get('/ready', { config: { public: true } }, async (_request, reply) => {
    const health = app.gate.health()
    return reply.code(health.ready ? 200 : 503).send(health)
  })
  app.get('/notes', async () => ({}))
  t.teardown(() => app.close())

  const before = await app.inject('/ready')
  t.equal(before.statusCode, 200, 'nothing fetched yet: ready')
  t.match(before.json(), {
    status: 'ok',
    components: [{ component: 'key_set', name: jwksUri, status: 'unknown' }],
  })

  const refused = await app.inject({ url: '/notes', headers: { authorization: `Bearer ${token}` } })
  t.equal(refused.statusCode, 503)
  const down = await app.inject('/ready')
  t.equal(down.statusCode, 503)
  t.match(down.json(), { status: 'down', ready: false, components: [{ status: 'down', detail: /500/ }] })
  t.notOk(down.body.includes(token), 'no token in the health answer')

  status = 200
  await (verifier.keySet as RemoteKeySet).refresh().catch(() => {})
  // An empty key set is still no keys: down until the document holds a usable key.
  t.equal((await app.inject('/ready')).statusCode, 503)
})
