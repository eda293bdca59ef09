import type { AddressInfo } from 'node:net'
import { startDevIdp } from '@portcullis/dev-idp'
import { portcullis as expressPortcullis, requireScopes } from '@portcullis/express'
import portcullis from '@portcullis/fastify'
import { oidc } from '@portcullis/idp'
import express from 'express'
import Fastify from 'fastify'
import t from 'tap'
import { outcome, refusal } from './fixtures/outcome.js'
import { signer } from './fixtures/signer.js'

// A standards-following authorization server: the dev IdP in its generic shape (RFC 9068 tokens,
// typ at+jwt, client_id, RFC 8414 metadata). Keys are found through discovery.

const RESOURCE = 'http://127.0.0.1:4400/mcp'
const idp = await startDevIdp({
  resources: [{ resource: RESOURCE }, { resource: 'http://127.0.0.1:4401/mcp' }],
})
t.teardown(() => idp.close())

const preset = oidc({
  issuer: idp.issuer,
  audience: RESOURCE,
  roles: { 'notes-admin': ['notes:admin'] },
  scopes: { implies: { 'notes:admin': ['notes:write', 'notes:read'] } },
})

t.test('keys come from discovery; RFC 9068 typ and claims are required', async (t) => {
  t.equal(preset.description.jwksUri, undefined, 'found through the metadata on first use')
  t.equal(preset.description.typ, 'strict')
  t.same(preset.description.requiredClaims, ['exp', 'iat', 'sub', 'client_id', 'jti'])
  const auth = await preset.options.verifier.verifyAccessToken(
    (await idp.userToken({ user: 'alice', scope: 'notes:read' })).access_token,
  )
  t.equal(auth.clientId, idp.clients.public.client_id)
  t.same(auth.scopes, ['notes:read', 'notes:admin'], 'the RFC 9068 roles claim, mapped')
})

t.test('tokens in other shapes are refused, and relaxing is explicit', async (t) => {
  const key = await signer('ES256')
  const strictLocal = oidc({ issuer: 'https://as.example.com', audience: RESOURCE, keys: [key.jwk] })
  const claims = { iss: 'https://as.example.com', aud: RESOURCE, sub: 'alice', client_id: 'c', jti: 'j' }
  t.equal(await outcome(strictLocal.options.verifier, await key.mint(claims, { typ: 'at+jwt' })), 'ok')
  const typed = await refusal(strictLocal.options.verifier, await key.mint(claims, { typ: 'JWT' }))
  t.equal(typed.reason, 'typ_invalid', 'typ JWT is not RFC 9068')
  t.match(typed.message, /send an access token/)
  t.equal(
    await outcome(
      strictLocal.options.verifier,
      await key.mint({ ...claims, client_id: undefined }, { typ: 'at+jwt' }),
    ),
    'invalid_token/claim_missing',
  )
  const lenient = oidc({
    issuer: 'https://as.example.com',
    audience: RESOURCE,
    keys: [key.jwk],
    typ: 'lenient',
    requiredClaims: ['exp'],
  })
  t.equal(
    await outcome(
      lenient.options.verifier,
      await key.mint({ ...claims, client_id: undefined }, { typ: 'JWT' }),
    ),
    'ok',
  )
})

t.test('the same preset in Fastify and in Express gives the same answers', async (t) => {
  const alice = (await idp.userToken({ user: 'alice', scope: 'notes:read' })).access_token
  const bob = (await idp.userToken({ user: 'bob', scope: 'notes:read' })).access_token
  const other = (
    await idp.userToken({ user: 'alice', resource: 'http://127.0.0.1:4401/mcp', scope: 'notes:read' })
  ).access_token

  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(portcullis, { ...preset.options, resource: RESOURCE })
  fastify.post('/notes', { config: { scopes: ['notes:write'] } }, async (req) => ({ by: req.auth.extra.sub }))

  const app = express()
  app.use(expressPortcullis({ ...preset.options, resource: RESOURCE }))
  app.post('/notes', requireScopes('notes:write'), (req, res) => {
    res.json({ by: req.auth?.extra?.sub })
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  for (const [token, status] of [
    [alice, 200],
    [bob, 403],
    [other, 401],
  ] as const) {
    const viaFastify = await fastify.inject({
      method: 'POST',
      url: '/notes',
      headers: { authorization: `Bearer ${token}` },
    })
    const viaExpress = await fetch(`${origin}/notes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    })
    t.equal(viaFastify.statusCode, status)
    t.equal(viaExpress.status, status)
    t.equal(viaExpress.headers.get('www-authenticate') ?? undefined, viaFastify.headers['www-authenticate'])
  }
})
