// The @portcullis/fastify README example against a real authorization server (oidc-provider via
// @portcullis/dev-idp): keys found by discovery, real user tokens, 200 / 401 / 403 step-up, and the
// metadata document a client starts from.
import { createServer, type Server } from 'node:http'
import {
  jwtVerifier,
  parseChallenges,
  portcullisLogRedaction,
  portcullisRequestSerializer,
} from '@portcullis/core'
import { startDevIdp } from '@portcullis/dev-idp'
import portcullis from '@portcullis/fastify'
import Fastify from 'fastify'
import t from 'tap'

t.test('README example: notes and reports behind a dev IdP', async (t) => {
  const idp = await startDevIdp()
  t.teardown(idp.close)

  // The server's port is needed for its resource URL before the plugin is registered.
  let server: Server | undefined
  const app = Fastify({
    serverFactory: (handler) => {
      server = createServer(handler)
      return server
    },
    logger: {
      level: 'silent',
      redact: portcullisLogRedaction,
      serializers: { req: portcullisRequestSerializer },
    },
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  // Fastify closes only servers it started listening itself.
  t.teardown(async () => {
    await app.close()
    server!.closeAllConnections()
    await new Promise((resolve) => server!.close(resolve))
  })
  const origin = `http://127.0.0.1:${(server!.address() as { port: number }).port}`
  const resource = `${origin}/mcp`
  idp.addResource({ resource, scopes: ['notes:read', 'notes:write', 'notes:admin', 'reports:read'] })

  await app.register(portcullis, {
    resource,
    authorizationServers: [idp.issuer],
    verifier: jwtVerifier({ issuer: idp.issuer, audience: resource }),
    scopes: {
      base: ['notes:read'],
      implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] },
    },
  })
  app.get('/notes', async (request) => ({ user: request.auth.extra.sub, scopes: request.auth.scopes }))
  app.get('/reports', { config: { scopes: ['reports:read'] } }, async (request) => request.auth.extra.sub)
  app.post('/notes', { preHandler: app.requireScopes('notes:write') }, async () => ({ created: true }))
  await app.ready()

  const metadata = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)
  t.same(await metadata.json(), {
    resource,
    authorization_servers: [idp.issuer],
    scopes_supported: ['notes:read'],
    bearer_methods_supported: ['header'],
  })

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
  t.match(parseChallenges(stepUp.headers.get('www-authenticate')!)[0]?.params, {
    error: 'insufficient_scope',
    scope: 'reports:read',
  })

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
  t.equal(await reports.text(), 'alice')

  const { access_token: elsewhere } = await idp.userToken({
    user: 'bob',
    resource: 'http://localhost:3000/mcp',
  })
  const refused = await fetch(`${origin}/notes`, { headers: { authorization: `Bearer ${elsewhere}` } })
  t.equal(refused.status, 401, 'a token for another resource')
  t.match(refused.headers.get('www-authenticate'), /error="invalid_token"/)
})
