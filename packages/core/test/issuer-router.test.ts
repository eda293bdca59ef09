import { randomBytes } from 'node:crypto'
import {
  createGate,
  introspectionVerifier,
  issuerRouter,
  jwtVerifier,
  looksLikeJwt,
  PortcullisError,
} from '@portcullis/core'
import {
  CLIENT_ID,
  CLIENT_SECRET,
  introspectionServer,
  type LoopbackServer,
  loopbackServer,
  rejectionOf,
  sendJson,
  tokenSigner,
} from '@portcullis/test-kit'
import t from 'tap'

const RESOURCE = 'https://mcp.example.com/mcp'

/** An issuer of our own: a key pair and a JWKS endpoint (plus metadata) on a loopback server. */
async function issuerFixture(path: string) {
  const signer = await tokenSigner({
    kid: 'k1',
    lifetime: 600,
    claims: { aud: RESOURCE, sub: 'alice', scope: 'notes:read', client_id: 'app' },
  })
  const jwk = signer.publicJwk
  const server: LoopbackServer = await loopbackServer((req, res) => {
    if (req.url === `/.well-known/oauth-authorization-server${path}`) {
      return sendJson(res, 200, { issuer: `${server.origin}${path}`, jwks_uri: `${server.origin}/jwks` })
    }
    if (req.url === '/jwks') return sendJson(res, 200, { keys: [jwk] })
    sendJson(res, 404, {})
  })
  const issuer = `${server.origin}${path}`
  return { server, issuer, mint: signer.mint, verifier: jwtVerifier({ issuer, audience: RESOURCE }) }
}

async function failure(promise: Promise<unknown>): Promise<PortcullisError> {
  const err = await rejectionOf(promise)
  if (!(err instanceof PortcullisError)) throw err
  return err
}

t.test('looksLikeJwt tells compact JWS from opaque tokens', async (t) => {
  const a = await issuerFixture('/a')
  t.teardown(a.server.close)
  t.ok(looksLikeJwt(await a.mint({ iss: a.issuer })))
  t.ok(looksLikeJwt('eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.'), 'unsigned: still JWT-shaped (then refused)')
  for (const token of [
    '2YotnFZFEjr1zCsicMWpAA',
    randomBytes(32).toString('base64url'),
    'a.b',
    'abc.def.ghi', // header is not JSON
    'eyJhbGciOiJFUzI1NiJ9.eyJ9.c2ln.x', // four parts
    'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y3Q.dGFn', // JWE
    'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0=.c2ln', // padded
    'eyJhbGciOiJFUzI1NiJ9..c2ln', // empty payload
    'WzFd.eyJpc3MiOiJ4In0.c2ln', // header is an array
    '',
  ]) {
    t.notOk(looksLikeJwt(token), token.slice(0, 30))
  }
})

t.test('options are validated', async (t) => {
  t.throws(() => issuerRouter({ issuers: {} }), {
    message: /^issuerRouter: option "issuers": give at least one issuer, or an opaque verifier/,
  })
  t.throws(() => issuerRouter({ issuers: { 'https://a': {} as never } }), {
    message: /option "issuers.https:\/\/a": must be a token verifier/,
  })
  t.throws(() => issuerRouter({ issuers: {}, opaque: 5 as never }), { message: /option "opaque"/ })
  t.throws(() => issuerRouter({ issuers: {}, fallback: {} } as never), { message: /Unrecognized key/ })
})

t.test('tokens go to their issuer; untrusted issuers cost no network call', async (t) => {
  const a = await issuerFixture('/a')
  const b = await issuerFixture('/b')
  const evil = await issuerFixture('/evil')
  const as = await introspectionServer()
  t.teardown(() => Promise.all([a.server.close(), b.server.close(), evil.server.close(), as.close()]))
  as.answers.set('opaque-token-1', { active: true, iss: as.origin, aud: RESOURCE, sub: 'carol' })
  const router = issuerRouter({
    issuers: { [a.issuer]: a.verifier, [b.issuer]: b.verifier },
    opaque: introspectionVerifier({
      issuer: as.origin,
      endpoint: as.endpoint,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      audience: RESOURCE,
    }),
  })
  t.same(router.issuers, [a.issuer, b.issuer])
  const requests = () => a.server.count() + b.server.count() + evil.server.count() + as.count()

  // Untrusted: every shape of it is refused before any fetch.
  const untrusted = [
    await evil.mint({ iss: evil.issuer }),
    await a.mint({ iss: `${a.issuer}/` }), // trailing slash: another issuer
    await a.mint({ iss: a.issuer.toUpperCase() }),
    await a.mint({ iss: undefined }),
    await a.mint({ iss: 42 }),
    await a.mint({ iss: '__proto__' }),
    await a.mint({ iss: 'constructor' }),
    await a.mint({ iss: 'toString' }),
  ]
  for (const token of untrusted) {
    const err = await failure(router.verifyAccessToken(token))
    t.equal(err.reason, 'issuer_untrusted')
    t.equal(err.status, 401)
  }
  t.equal(requests(), 0, 'zero outbound requests for untrusted issuers')
  const named = await failure(router.verifyAccessToken(untrusted[0]!))
  t.ok(named.message.includes(`"${evil.issuer}" is not trusted`), named.message)

  const authA = await router.verifyAccessToken(await a.mint({ iss: a.issuer }))
  t.equal(authA.extra?.iss, a.issuer)
  t.ok(a.server.count() > 0, "A's keys were fetched")
  t.equal(b.server.count() + as.count(), 0, 'nobody else was asked')

  const authB = await router.verifyAccessToken(await b.mint({ iss: b.issuer, sub: 'bob' }))
  t.equal(authB.extra?.sub, 'bob')
  t.equal(as.count(), 0)

  const opaque = await router.verifyAccessToken('opaque-token-1')
  t.equal(opaque.extra?.sub, 'carol')
  t.equal(as.callsFor('opaque-token-1'), 1)

  // Naming a trusted issuer is not enough: that issuer's verifier checks the signature.
  const forged = await a.mint({ iss: a.issuer }, { forged: true })
  const err = await failure(router.verifyAccessToken(forged))
  t.equal(err.code, 'invalid_token')
  t.equal(err.reason, 'signature_invalid')
})

t.test('without an opaque verifier, non-JWT tokens are refused without a call', async (t) => {
  const a = await issuerFixture('/a')
  t.teardown(a.server.close)
  const router = issuerRouter({ issuers: { [a.issuer]: a.verifier } })
  t.equal((await failure(router.verifyAccessToken('2YotnFZFEjr1zCsicMWpAA'))).reason, 'token_malformed')
  t.equal((await failure(router.verifyAccessToken(''))).reason, 'token_malformed')
  t.equal(
    (await failure(router.verifyAccessToken('eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y3Q.dGFn'))).reason,
    'token_encrypted',
  )
  t.equal(a.server.count(), 0)
})

t.test('a verifier that throws synchronously still yields a rejection', async (t) => {
  const router = issuerRouter({
    issuers: {},
    opaque: {
      verifyAccessToken: () => {
        throw new Error('sync')
      },
    } as never,
  })
  await t.rejects(router.verifyAccessToken('opaque'), /sync/)
})

t.test('a gate over issuerRouter answers remembered tokens at once, as over one verifier', async (t) => {
  const a = await issuerFixture('/a')
  const b = await issuerFixture('/b')
  const as = await introspectionServer()
  t.teardown(() => Promise.all([a.server.close(), b.server.close(), as.close()]))
  as.answers.set('opaque-token-2', {
    active: true,
    iss: as.origin,
    aud: RESOURCE,
    sub: 'carol',
    scope: 'notes:read',
  })
  const opaque = introspectionVerifier({
    issuer: as.origin,
    endpoint: as.endpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
  })
  const router = issuerRouter({ issuers: { [a.issuer]: a.verifier }, opaque })
  const gate = createGate({ resource: RESOURCE, authorizationServers: [a.issuer], verifier: router })
  const header = (token: string) => ({ authorization: `Bearer ${token}` })

  const jwt = await a.mint({ iss: a.issuer })
  t.ok(gate.authenticateNow(header(jwt)) instanceof Promise, 'first sighting: verified')
  t.ok((await gate.authenticate(header(jwt))).ok)
  const hit = gate.authenticateNow(header(jwt))
  if (hit instanceof Promise || !hit.ok) return t.fail('a remembered JWT waited for a promise')
  t.equal(hit.auth.extra.sub, 'alice')

  t.ok((await gate.authenticate(header('opaque-token-2'))).ok)
  const opaqueHit = gate.authenticateNow(header('opaque-token-2'))
  if (opaqueHit instanceof Promise || !opaqueHit.ok) return t.fail('a remembered opaque token waited')
  t.equal(opaqueHit.auth.extra.sub, 'carol')
  t.equal(as.callsFor('opaque-token-2'), 1)

  // A token verified by b's verifier elsewhere is not one this router would send there: no hit.
  const other = await b.mint({ iss: b.issuer })
  await b.verifier.verifyAccessToken(other)
  t.equal(router.cachedOutcome?.(other), undefined, 'an issuer the router does not trust')
  const refused = await gate.authenticate(header(other))
  t.equal(refused.ok ? 'ok' : refused.error.reason, 'issuer_untrusted')
})
