import { createHash, randomUUID } from 'node:crypto'
import {
  createGate,
  type DpopReplayCache,
  type GateOptions,
  introspectionVerifier,
  jwkThumbprint,
  jwtVerifier,
  MemoryDpopReplayCache,
  parseChallenges,
  type TokenVerifier,
} from '@portcullis/core'
import { CLIENT_ID, CLIENT_SECRET, introspectionServer } from '@portcullis/test-kit'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import t from 'tap'

// The gate's DPoP step (RFC 9449) with real keys and a real jwtVerifier: every refusal next to the
// request that differs from it in one thing and is accepted.

const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://idp.example.com'
const nowS = () => Math.floor(Date.now() / 1000)
const ath = (token: string) => createHash('sha256').update(token).digest('base64url')

const issuerKeys = await generateKeyPair('ES256', { extractable: true })
const issuerJwk = { ...(await exportJWK(issuerKeys.publicKey)), kid: 'k1', alg: 'ES256' }

async function proofKey(alg: 'ES256' | 'PS256' | 'EdDSA' = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return {
    alg,
    privateKey,
    jwk,
    jkt: jwkThumbprint(jwk as Record<string, unknown>),
    privateJwk: await exportJWK(privateKey),
  }
}
type ProofKey = Awaited<ReturnType<typeof proofKey>>

const mintToken = (claims: Record<string, unknown> = {}) =>
  new SignJWT({ scope: 'notes:read', client_id: 'c1', sub: 'alice', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(RESOURCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(issuerKeys.privateKey)

interface ProofSpec {
  token: string
  method?: string
  htu?: string
  iat?: number
  jti?: string
  nonce?: string
  header?: Record<string, unknown>
  payload?: Record<string, unknown>
  omit?: string[]
}

async function proof(key: ProofKey, spec: ProofSpec): Promise<string> {
  const payload: Record<string, unknown> = {
    jti: spec.jti ?? randomUUID(),
    htm: spec.method ?? 'POST',
    htu: spec.htu ?? RESOURCE,
    iat: spec.iat ?? nowS(),
    ath: ath(spec.token),
    ...(spec.nonce === undefined ? {} : { nonce: spec.nonce }),
    ...spec.payload,
  }
  for (const name of spec.omit ?? []) delete payload[name]
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk as JWK, ...spec.header } as never)
    .sign(key.privateKey)
}

const gateWith = (more: Partial<GateOptions> = {}, verifier?: TokenVerifier) =>
  createGate({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: verifier ?? jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [issuerJwk] }),
    scopes: { base: ['notes:read'] },
    dpop: 'allowed',
    ...more,
  })

const request = (token: string, dpop: string | string[] | undefined, more: Record<string, unknown> = {}) => ({
  authorization: `DPoP ${token}`,
  dpop,
  method: 'POST',
  path: '/mcp',
  ...more,
})

t.test('the dpop option is validated at start-up, naming the option', async (t) => {
  t.throws(() => gateWith({ dpop: 'sometimes' as never }), /createGate: option "dpop.mode"/)
  t.throws(() => gateWith({ dpop: { mode: 'allowed', algorithms: ['HS256' as never] } }), /option "dpop/)
  t.throws(() => gateWith({ dpop: { nonce: { secret: 'short' } } }), /at least 32 characters/)
  t.throws(() => gateWith({ dpop: { replayCache: {} as DpopReplayCache } }), /must be a DpopReplayCache/)
  t.throws(() => gateWith({ dpop: { maxAgeSeconds: 0 } }), /option "dpop/)
  t.doesNotThrow(() => gateWith({ dpop: { mode: 'required', nonce: true, algorithms: ['ES256'] } }))
})

t.test('metadata: dpop members when DPoP is on (RFC 9728 §2), none when off', async (t) => {
  t.same(gateWith().metadataDocument.dpop_bound_access_tokens_required, false)
  t.ok((gateWith().metadataDocument.dpop_signing_alg_values_supported as string[]).includes('ES256'))
  const required = gateWith({ dpop: { mode: 'required', algorithms: ['ES256', 'EdDSA'] } }).metadataDocument
  t.same(required.dpop_signing_alg_values_supported, ['ES256', 'EdDSA'])
  t.equal(required.dpop_bound_access_tokens_required, true)
  const off = gateWith({ dpop: 'off' }).metadataDocument
  t.notOk('dpop_signing_alg_values_supported' in off)
  t.notOk('dpop_bound_access_tokens_required' in off)
})

t.test('without the option DPoP is off: answers and metadata as before', async (t) => {
  const { dpop: _, ...options } = {
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier: jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [issuerJwk] }),
    scopes: { base: ['notes:read'] },
    dpop: undefined,
  }
  const gate = createGate(options)
  t.notOk('dpop_signing_alg_values_supported' in gate.metadataDocument)
  const none = await gate.authenticate({})
  t.equal(
    none.ok ? 'ok' : none.reply.headers['WWW-Authenticate'],
    'Bearer scope="notes:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"',
  )
  t.notOk(gate.cors?.exposeHeaders.includes('DPoP-Nonce'))
  t.ok(
    gateWith({ dpop: { nonce: true } }).cors?.exposeHeaders.includes('DPoP-Nonce'),
    'options given: allowed',
  )
  t.equal(gateWith({ dpop: { nonce: true } }).metadataDocument.dpop_bound_access_tokens_required, false)
})

t.test('a bound token with a valid proof is accepted, with the thumbprint on AuthInfo', async (t) => {
  const key = await proofKey()
  const token = await mintToken({ cnf: { jkt: key.jkt } })
  const gate = gateWith()
  const first = await gate.authenticate(request(token, await proof(key, { token })))
  if (!first.ok) return t.fail(first.error.message)
  t.equal(first.auth.extra.dpopJkt, key.jkt)
  t.equal(first.auth.clientId, 'c1')
  // The token is remembered: the next request (a new proof) is answered without a promise.
  const second = gate.authenticateNow(request(token, await proof(key, { token })))
  if (second instanceof Promise) return t.fail('a remembered bound token waited for a promise')
  t.ok(second.ok, 'second request accepted')
  // Every supported key type.
  for (const alg of ['PS256', 'EdDSA'] as const) {
    const other = await proofKey(alg)
    const bound = await mintToken({ cnf: { jkt: other.jkt } })
    const result = await gate.authenticate(request(bound, await proof(other, { token: bound })))
    t.ok(result.ok, `${alg} proof accepted`)
  }
})

t.test('scheme and binding: bound as Bearer, unbound as DPoP, Bearer when DPoP is required', async (t) => {
  const key = await proofKey()
  const bound = await mintToken({ cnf: { jkt: key.jkt } })
  const plain = await mintToken()
  const gate = gateWith()

  const asBearer = await gate.authenticate({ authorization: `Bearer ${bound}` })
  t.equal(asBearer.ok ? 'ok' : asBearer.error.reason, 'token_sender_constrained')
  t.ok((await gate.authenticate({ authorization: `Bearer ${plain}` })).ok, 'twin: an unbound token as Bearer')

  const unboundAsDpop = await gate.authenticate(request(plain, await proof(key, { token: plain })))
  t.equal(unboundAsDpop.ok ? 'ok' : unboundAsDpop.error.reason, 'token_not_bound')
  if (!unboundAsDpop.ok) {
    const [first] = parseChallenges(unboundAsDpop.reply.headers['WWW-Authenticate']!)
    t.equal(first?.scheme, 'DPoP', 'the refusal of a DPoP request challenges with DPoP first')
    t.equal(first?.params.error, 'invalid_token')
  }

  const huge = await gate.authenticate(request('a'.repeat(9000), await proof(key, { token: bound })))
  t.equal(huge.ok ? 'ok' : huge.error.reason, 'token_too_large')
  t.match(huge.ok ? '' : huge.reply.headers['WWW-Authenticate'], /^DPoP error="invalid_token"/)

  const other = await proofKey()
  const mismatch = await gate.authenticate(request(bound, await proof(other, { token: bound })))
  t.equal(mismatch.ok ? 'ok' : mismatch.error.reason, 'dpop_key_mismatch')

  const required = gateWith({ dpop: 'required' })
  const bearer = await required.authenticate({ authorization: `Bearer ${plain}` })
  t.equal(bearer.ok ? 'ok' : bearer.error.reason, 'dpop_required')
  if (!bearer.ok) {
    const challenges = parseChallenges(bearer.reply.headers['WWW-Authenticate']!)
    t.same(
      challenges.map((c) => c.scheme),
      ['DPoP'],
      'required: the DPoP challenge alone',
    )
    t.equal(challenges[0]?.params.algs?.includes('ES256'), true)
  }
  t.ok((await required.authenticate(request(bound, await proof(key, { token: bound })))).ok, 'twin: DPoP')

  const off = gateWith({ dpop: 'off' })
  const dpopWhenOff = await off.authenticate(request(bound, await proof(key, { token: bound })))
  t.equal(dpopWhenOff.ok ? 'ok' : dpopWhenOff.error.reason, 'scheme_unsupported')
  const boundWhenOff = await off.authenticate({ authorization: `Bearer ${bound}` })
  t.equal(boundWhenOff.ok ? 'ok' : boundWhenOff.error.reason, 'token_sender_constrained')
})

t.test('challenges: both schemes when both are accepted (RFC 9449 §7.1)', async (t) => {
  const gate = gateWith({ dpop: { algorithms: ['ES256', 'EdDSA'] } })
  const none = await gate.authenticate({})
  if (none.ok) return t.fail('accepted nothing')
  t.equal(
    none.reply.headers['WWW-Authenticate'],
    'Bearer scope="notes:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", DPoP algs="ES256 EdDSA"',
  )
  const key = await proofKey()
  const token = await mintToken({ cnf: { jkt: key.jkt } })
  const bad = await gate.authenticate(request(token, await proof(key, { token, method: 'GET' })))
  if (bad.ok) return t.fail('accepted a proof for GET')
  t.equal(bad.reply.status, 401)
  t.same(bad.reply.body, {
    error: 'invalid_dpop_proof',
    error_description: 'Invalid DPoP proof: htm does not match the request method',
  })
  const [dpop, bearer] = parseChallenges(bad.reply.headers['WWW-Authenticate']!)
  t.equal(dpop?.scheme, 'DPoP')
  t.same(dpop?.params, {
    error: 'invalid_dpop_proof',
    error_description: 'Invalid DPoP proof: htm does not match the request method',
    scope: 'notes:read',
    resource_metadata: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
    algs: 'ES256 EdDSA',
  })
  t.equal(bearer?.scheme, 'Bearer')
  t.notOk('error' in (bearer?.params ?? {}), 'the Bearer challenge carries no error for a DPoP request')
  // A missing scope is named in both challenges.
  const denied = gate.authorize({ scopes: [], token, extra: { dpopJkt: key.jkt } }, ['notes:write'])
  if (denied.ok) return t.fail('authorized without the scope')
  const both = parseChallenges(denied.reply.headers['WWW-Authenticate']!)
  t.same(
    both.map((c) => [c.scheme, c.params.error, c.params.scope]),
    [
      ['Bearer', 'insufficient_scope', 'notes:write'],
      ['DPoP', 'insufficient_scope', 'notes:write'],
    ],
  )
})

t.test('server nonces: use_dpop_nonce with DPoP-Nonce, stale and foreign nonces refused', async (t) => {
  const secret = 'a-secret-shared-by-every-instance-of-notes'
  const gate = gateWith({ dpop: { nonce: { secret, periodSeconds: 60 } } })
  const sibling = gateWith({ dpop: { nonce: { secret, periodSeconds: 60 } } })
  const stranger = gateWith({
    dpop: { nonce: { secret: 'another-secret-of-another-server-xx', periodSeconds: 60 } },
  })
  const key = await proofKey()
  const token = await mintToken({ cnf: { jkt: key.jkt } })

  const first = await gate.authenticate(request(token, await proof(key, { token })))
  if (first.ok) return t.fail('accepted a proof without a nonce')
  t.equal(first.error.code, 'use_dpop_nonce')
  const nonce = first.reply.headers['DPoP-Nonce']
  if (nonce === undefined) return t.fail('no DPoP-Nonce header')
  t.match(first.reply.headers['WWW-Authenticate'], /^DPoP error="use_dpop_nonce"/)

  const accepted = await gate.authenticate(request(token, await proof(key, { token, nonce })))
  t.ok(accepted.ok, 'with the nonce')
  t.equal(
    accepted.ok && accepted.headers?.['DPoP-Nonce'],
    nonce,
    'an accepted request carries the current nonce (§8.2)',
  )
  const plainGate = gateWith()
  const noNonces = await plainGate.authenticate(request(token, await proof(key, { token })))
  t.equal(noNonces.ok && noNonces.headers, undefined, 'no nonce header without nonces')
  t.ok(
    (await sibling.authenticate(request(token, await proof(key, { token, nonce })))).ok,
    'another instance, same secret',
  )
  const foreign = await stranger.authenticate(request(token, await proof(key, { token, nonce })))
  t.equal(foreign.ok ? 'ok' : foreign.error.code, 'use_dpop_nonce', 'a nonce from another server')
  const forged = await gate.authenticate(
    request(token, await proof(key, { token, nonce: `${nonce.slice(0, -2)}AA` })),
  )
  t.equal(forged.ok ? 'ok' : forged.error.code, 'use_dpop_nonce', 'an altered nonce')
  // A nonce two periods old: made with the same secret for a period long gone.
  const { dpopNonces } = await import('@portcullis/core/adapter')
  const old = dpopNonces(Buffer.from(secret), 60, RESOURCE).current(Date.now() - 150_000)
  const stale = await gate.authenticate(request(token, await proof(key, { token, nonce: old })))
  t.equal(stale.ok ? 'ok' : stale.error.code, 'use_dpop_nonce', 'a stale nonce')
})

t.test('replay: a proof is accepted once; a full cache fails closed', async (t) => {
  const key = await proofKey()
  const token = await mintToken({ cnf: { jkt: key.jkt } })
  const gate = gateWith()
  const once = await proof(key, { token })
  t.ok((await gate.authenticate(request(token, once))).ok)
  const again = await gate.authenticate(request(token, once))
  t.equal(again.ok ? 'ok' : again.error.reason, 'dpop_proof_replayed')

  const small = gateWith({ dpop: { replayCache: new MemoryDpopReplayCache({ maxEntries: 1 }) } })
  t.ok((await small.authenticate(request(token, await proof(key, { token })))).ok)
  const full = await small.authenticate(request(token, await proof(key, { token })))
  t.equal(full.ok ? 'ok' : full.reply.status, 503, 'a full cache refuses rather than forgets')
})

t.test('introspection: cnf.jkt in the answer binds the token (RFC 9449 §6.2)', async (t) => {
  const as = await introspectionServer()
  t.teardown(as.close)
  const verifier = introspectionVerifier({
    issuer: as.origin,
    endpoint: as.endpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
  })
  const key = await proofKey()
  const answer = (extra: Record<string, unknown>) => ({
    active: true,
    iss: as.origin,
    aud: RESOURCE,
    client_id: 'notes-app',
    sub: 'alice',
    scope: 'notes:read',
    exp: nowS() + 600,
    ...extra,
  })
  as.answers.set('bound-opaque', answer({ token_type: 'DPoP', cnf: { jkt: key.jkt } }))
  as.answers.set('plain-opaque', answer({ token_type: 'Bearer' }))
  const gate = gateWith({}, verifier)
  const ok = await gate.authenticate(request('bound-opaque', await proof(key, { token: 'bound-opaque' })))
  t.equal(ok.ok ? ok.auth.extra.dpopJkt : ok.error.reason, key.jkt)
  const asBearer = await gate.authenticate({ authorization: 'Bearer bound-opaque' })
  t.equal(asBearer.ok ? 'ok' : asBearer.error.reason, 'token_sender_constrained')
  const unbound = await gate.authenticate(
    request('plain-opaque', await proof(key, { token: 'plain-opaque' })),
  )
  t.equal(unbound.ok ? 'ok' : unbound.error.reason, 'token_not_bound')
  // Used alone (the SDK's bearer middleware), the verifier still refuses a bound token.
  await t.rejects(verifier.verifyAccessToken('bound-opaque'), {
    name: 'PortcullisError',
    reason: 'token_sender_constrained',
  })
})

t.test(
  'the URL a proof must name: the configured origin and the request path, never another authority',
  async (t) => {
    const key = await proofKey()
    const token = await mintToken({ cnf: { jkt: key.jkt } })
    const gate = gateWith()
    const send = async (path: string | undefined, htu: string, method: string | null = 'POST') => {
      const result = await gate.authenticate({
        authorization: `DPoP ${token}`,
        dpop: await proof(key, { token, htu }),
        method: method ?? undefined,
        path,
      })
      return result.ok ? 'ok' : result.error.reason
    }
    t.equal(await send('/mcp?x=1#y', RESOURCE), 'ok', 'query and fragment of the target are dropped')
    t.equal(await send('/mcp', `${RESOURCE}?other=2#f`), 'ok', 'query and fragment of htu are ignored')
    t.equal(await send('https://mcp.example.com/mcp', RESOURCE), 'ok', 'an absolute-form target')
    t.equal(
      await send('http://elsewhere.example/mcp', RESOURCE),
      'ok',
      'its authority is not ours to trust: only the path counts',
    )
    t.equal(
      await send('//attacker.example/mcp', 'https://attacker.example/mcp'),
      'dpop_proof_invalid',
      'a path starting with // names no authority',
    )
    t.equal(
      await send('//attacker.example/mcp', 'https://mcp.example.com//attacker.example/mcp'),
      'ok',
      'it is a path',
    )
    t.equal(
      await send('/a/../mcp', RESOURCE),
      'ok',
      'dot segments are normalised on both sides (RFC 3986 §6)',
    )
    t.equal(await send('*', RESOURCE), 'dpop_proof_invalid', 'an asterisk-form target names no URL')
    t.equal(
      await send(undefined, RESOURCE),
      'internal_error',
      'an adapter that passes no path: 503, never a guess',
    )
    t.equal(await send('/mcp', RESOURCE, null), 'internal_error', 'nor a method')
  },
)

t.test(
  'a verifier of its own, a class with private state: its health and answers pass through',
  async (t) => {
    const key = await proofKey()
    class OwnVerifier implements TokenVerifier {
      readonly #claims = new Map<string, Record<string, unknown>>()
      #calls = 0
      bind(token: string, jkt: string | undefined) {
        this.#claims.set(token, { sub: 'alice', ...(jkt === undefined ? {} : { cnf: { jkt } }) })
      }
      async verifyAccessToken(token: string) {
        this.#calls++
        const claims = this.#claims.get(token)
        if (claims === undefined) throw new Error('unknown token')
        return { token, clientId: 'c1', scopes: ['notes:read'], extra: { sub: 'alice', claims } }
      }
      health() {
        return [
          {
            component: 'introspection' as const,
            name: 'own',
            status: 'ok' as const,
            detail: `${this.#calls} calls`,
          },
        ]
      }
    }
    const verifier = new OwnVerifier()
    verifier.bind('own-bound', key.jkt)
    verifier.bind('own-plain', undefined)
    const gate = gateWith({}, verifier)
    const bound = await gate.authenticate(request('own-bound', await proof(key, { token: 'own-bound' })))
    t.equal(
      bound.ok ? bound.auth.extra.dpopJkt : bound.error.reason,
      key.jkt,
      'claims.cnf.jkt binds a custom verifier’s token',
    )
    const asBearer = await gate.authenticate({ authorization: 'Bearer own-bound' })
    t.equal(asBearer.ok ? 'ok' : asBearer.error.reason, 'token_sender_constrained')
    t.ok((await gate.authenticate({ authorization: 'Bearer own-plain' })).ok)
    t.same(
      gate.health().components.map((c) => c.detail),
      ['3 calls'],
      'health() runs on the verifier itself',
    )
  },
)
