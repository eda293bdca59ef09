// The @portcullis/express README example against a real authorization server (oidc-provider via
// @portcullis/dev-idp): keys found by discovery, real user tokens, 200 / 401 / 403 step-up, a public
// path, and the metadata document a client starts from.
import { createServer } from 'node:http'
import { jwtVerifier, parseChallenges } from '@portcullis/core'
import { startDevIdp } from '@portcullis/dev-idp'
import { portcullis, requireScopes, verifiedAuth } from '@portcullis/express'
import express from 'express'
import t from 'tap'

t.test('README example: notes and reports behind a dev IdP', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)

  // The server's port is part of the resource URL: listen first, then hand requests to the app.
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const resource = `${origin}/mcp`
  idp.addResource({ resource, scopes: ['notes:read', 'notes:write', 'notes:admin', 'reports:read'] })

  const app = express()
  app.use(
    portcullis({
      resource,
      authorizationServers: [idp.issuer],
      verifier: jwtVerifier({ issuer: idp.issuer, audience: resource }),
      scopes: {
        base: ['notes:read'],
        implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] },
      },
      public: ['/health'],
    }),
  )
  app.get('/notes', (req, res) =>
    res.json({ user: verifiedAuth(req).extra.sub, scopes: verifiedAuth(req).scopes }),
  )
  app.get('/reports', requireScopes('reports:read'), (req, res) => res.json(verifiedAuth(req).extra.sub))
  app.post('/notes', requireScopes('notes:write'), (_req, res) => res.json({ created: true }))
  app.get('/health', (_req, res) => res.send('ok'))
  server.on('request', app)

  const metadata = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)
  t.same(await metadata.json(), {
    resource,
    authorization_servers: [idp.issuer],
    scopes_supported: ['notes:read'],
    bearer_methods_supported: ['header'],
  })
  t.equal(await (await fetch(`${origin}/health`)).text(), 'ok')

  const anonymous = await fetch(`${origin}/notes`)
  t.equal(anonymous.status, 401)
  t.same(parseChallenges(anonymous.headers.get('www-authenticate')!)[0]?.params, {
    scope: 'notes:read',
    resource_metadata: `${origin}/.well-known/oauth-protected-resource/mcp`,
  })

  const { access_token: reader } = await idp.userToken({ user: 'bob', resource, scope: 'notes:read' })
  const notes = await fetch(`${origin}/notes`, { headers: { authorization: `Bearer ${reader}` } })
  t.equal(notes.status, 200)
  t.same(await notes.json(), { user: 'bob', scopes: ['notes:read'] })

  const stepUp = await fetch(`${origin}/reports`, { headers: { authorization: `Bearer ${reader}` } })
  t.equal(stepUp.status, 403)
  t.equal(
    stepUp.headers.get('www-authenticate'),
    `Bearer error="insufficient_scope", error_description="This operation requires the scope: reports:read", scope="reports:read", resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`,
  )

  const { access_token: admin } = await idp.userToken({
    user: 'alice',
    resource,
    scope: 'notes:admin reports:read',
  })
  const created = await fetch(`${origin}/notes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}` },
  })
  t.equal(created.status, 200, 'notes:admin implies notes:write')
  const reports = await fetch(`${origin}/reports`, { headers: { authorization: `Bearer ${admin}` } })
  t.equal(await reports.json(), 'alice')

  const { access_token: elsewhere } = await idp.userToken({
    user: 'bob',
    resource: 'http://localhost:3000/mcp',
  })
  const refused = await fetch(`${origin}/notes`, { headers: { authorization: `Bearer ${elsewhere}` } })
  t.equal(refused.status, 401, 'a token for another resource')
  t.match(refused.headers.get('www-authenticate'), /error="invalid_token"/)
})
