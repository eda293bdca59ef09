// The broker mounted into an Express app, before any body parser: oidc-provider reads the bodies.
import { createServer } from 'node:http'
import { createAuthorizationServer } from '@portcullis/authorization-server'
import express from 'express'
import t from 'tap'
import { BROKER_CLIENT, startBrokerUpstream } from './fixtures/broker-stack.js'
import { freePort } from './fixtures/journey-stack.js'

t.test('Express: metadata and registration through the app, other routes untouched', async (t) => {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const idp = await startBrokerUpstream(t, origin)
  const broker = await createAuthorizationServer({
    issuer: origin,
    resources: [{ resource: `${origin}/mcp`, scopes: ['notes:read'] }],
    upstream: {
      issuer: idp.issuer,
      clientId: BROKER_CLIENT.client_id,
      clientSecret: BROKER_CLIENT.client_secret,
    },
    roles: { scopes: { 'notes-reader': ['notes:read'] } },
  })
  const app = express()
  app.use((req, res, next) => (broker.handles(req.path) ? void broker.handle(req, res) : next()))
  app.use(express.json())
  app.post('/echo', (req, res) => {
    res.json(req.body)
  })
  const server = createServer(app)
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  const metadata = (await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json()) as {
    issuer: string
  }
  t.equal(metadata.issuer, origin)
  const registered = await fetch(`${origin}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }),
  })
  t.equal(registered.status, 201)
  const echoed = await fetch(`${origin}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"a":1}',
  })
  t.same(await echoed.json(), { a: 1 }, 'the app’s own routes are untouched')
})
