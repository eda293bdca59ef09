import {
  AttemptWindows,
  type AuthInfo,
  type CachedOutcome,
  createGate,
  type GateOptions,
  invalidToken,
  jwtVerifier,
  MemoryDenyList,
  PortcullisError,
  parseChallenges,
  revocationOf,
  type TokenVerifier,
  temporarilyUnavailable,
  tokenFingerprint,
} from '@portcullis/core'
import { authorizationHeaders } from '@portcullis/core/adapter'
import { tokenSigner } from '@portcullis/test-kit'
import t from 'tap'

// The gate's treatment of verifiers that misbehave in ways a real verifier can (a custom
// verifier's database throwing, hanging, returning the wrong shape) is exercised with small
// hand-written TokenVerifier objects: the verifier contract is the thing under test.

const RESOURCE = 'https://mcp.example.com/mcp'
const ISSUER = 'https://idp.example.com/realms/acme'
const TOKEN = 'abc.def.ghi'

const authFor = (token: string, scopes: string[], extra: Partial<AuthInfo> = {}): AuthInfo => ({
  token,
  clientId: 'client-1',
  scopes,
  expiresAt: Math.floor(Date.now() / 1000) + 300,
  extra: { sub: 'alice', iss: ISSUER },
  ...extra,
})

const verifierOf = (fn: (token: string) => Promise<AuthInfo>): TokenVerifier => ({ verifyAccessToken: fn })

const gateWith = (verifier: TokenVerifier, more: Partial<GateOptions> = {}) =>
  createGate({
    resource: RESOURCE,
    authorizationServers: [ISSUER],
    verifier,
    scopes: {
      base: ['notes:read'],
      implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] },
    },
    ...more,
  })

const challengeOf = (headers: Record<string, string>) => {
  const value = headers['WWW-Authenticate']
  if (value === undefined) throw new Error('no challenge')
  const [challenge] = parseChallenges(value)
  return challenge!
}

t.test('options are validated with errors that name the option', async (t) => {
  const verifier = verifierOf(async (token) => authFor(token, []))
  t.throws(
    () => createGate({ resource: 'http://mcp.example.com/mcp', authorizationServers: [ISSUER], verifier }),
    /createGate: option "resource": .*https/,
  )
  t.throws(
    () => createGate({ resource: RESOURCE, authorizationServers: [], verifier }),
    /option "authorizationServers": name at least one/,
  )
  t.throws(
    () =>
      createGate({ resource: RESOURCE, authorizationServers: ['https://idp.example.com/?x=1'], verifier }),
    /option "authorizationServers\.0": .*no query or fragment/,
  )
  t.throws(
    () => createGate({ resource: RESOURCE, authorizationServers: [ISSUER], verifier: {} as TokenVerifier }),
    /option "verifier": must be a TokenVerifier/,
  )
  t.throws(
    () =>
      createGate({
        resource: RESOURCE,
        authorizationServers: [ISSUER],
        verifier,
        scopes: { base: ['offline_access'] },
      }),
    /option "scopes\.base": must not contain offline_access/,
  )
  t.throws(
    () =>
      createGate({ resource: RESOURCE, authorizationServers: [ISSUER], verifier, scopes: { base: ['a b'] } }),
    /option "scopes\.base\.0": "a b" is not a valid scope/,
  )
  t.throws(
    () =>
      createGate({
        resource: RESOURCE,
        authorizationServers: [ISSUER],
        verifier,
        resourse: 'x',
      } as GateOptions),
    /createGate: .*resourse/,
  )
  t.throws(
    () => createGate({ resource: RESOURCE, authorizationServers: [ISSUER], verifier, maxTokenLength: 0 }),
    /option "maxTokenLength"/,
  )
})

t.test('resource is canonical and metadata is derived from it', async (t) => {
  const gate = gateWith(
    verifierOf(async (token) => authFor(token, [])),
    { resource: 'HTTPS://MCP.Example.com:443/mcp/', resourceName: 'Notes' },
  )
  t.equal(gate.resource, RESOURCE)
  t.equal(gate.metadataUrl, 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp')
  t.ok(gate.metadataPaths.includes('/.well-known/oauth-protected-resource/mcp'))
  t.match(gate.metadataDocument, {
    resource: RESOURCE,
    authorization_servers: [ISSUER],
    scopes_supported: ['notes:read'],
    resource_name: 'Notes',
  })
  t.ok(Object.isFrozen(gate.metadataDocument))
})

t.test("idp is not a gate option: a preset's description stays out of the gate", async (t) => {
  const idp = { name: 'keycloak', issuer: ISSUER }
  t.throws(
    () =>
      gateWith(
        verifierOf(async (token) => authFor(token, [])),
        { idp } as never,
      ),
    /Unrecognized key.*"idp"/,
  )
  t.notOk('idp' in gateWith(verifierOf(async (token) => authFor(token, []))))
})

t.test('no credentials: 401 with a challenge that has no error attribute (RFC 6750 §3.1)', async (t) => {
  const gate = gateWith(verifierOf(async () => t.fail('verifier must not be called') as never))
  for (const authorization of [undefined, '', 'Basic dXNlcjpwYXNz']) {
    const result = await gate.authenticate({ authorization })
    t.equal(result.ok, false)
    if (result.ok) continue
    t.equal(result.reply.status, 401)
    t.same(result.reply.headers, {
      'Cache-Control': 'no-store',
      'Content-Type': 'application/json; charset=utf-8',
      'WWW-Authenticate': `Bearer scope="notes:read", resource_metadata="${gate.metadataUrl}"`,
    })
    t.equal(result.reply.body.error, 'invalid_token')
    t.equal(result.log.severity, 'rejection')
    t.equal(result.log.fields.fingerprint, undefined)
  }
})

t.test('a token failure is 401 invalid_token with description, scope and resource_metadata', async (t) => {
  const gate = gateWith(
    verifierOf(async () => {
      throw invalidToken('token_expired', 'The access token expired')
    }),
  )
  const result = await gate.authenticate({ authorization: `Bearer ${TOKEN}` })
  if (result.ok) return t.fail('accepted')
  t.equal(result.reply.status, 401)
  t.same(challengeOf(result.reply.headers).params, {
    error: 'invalid_token',
    error_description: 'The access token expired',
    scope: 'notes:read',
    resource_metadata: gate.metadataUrl,
  })
  t.same(result.reply.body, { error: 'invalid_token', error_description: 'The access token expired' })
  t.same(result.log.fields, { reason: 'token_expired', status: 401, fingerprint: tokenFingerprint(TOKEN) })
})

t.test('malformed and repeated headers are 400 invalid_request with a challenge', async (t) => {
  const gate = gateWith(verifierOf(async (token) => authFor(token, [])))
  for (const input of [
    { authorization: 'Bearer a b' },
    { authorization: [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`] },
    { authorization: `Bearer ${TOKEN}`, bodyToken: TOKEN },
  ]) {
    const result = await gate.authenticate(input)
    if (result.ok) return t.fail('accepted')
    t.equal(result.reply.status, 400)
    const challenge = challengeOf(result.reply.headers)
    t.equal(challenge.params.error, 'invalid_request')
    t.equal(challenge.params.resource_metadata, gate.metadataUrl)
    t.notOk('scope' in challenge.params)
    t.equal(result.reply.headers['Cache-Control'], 'no-store')
  }
})

t.test('verifier unavailability is 503 with Retry-After and no challenge', async (t) => {
  const gate = gateWith(
    verifierOf(async () => {
      throw temporarilyUnavailable('jwks_unavailable', 'The signing keys cannot be fetched', 7)
    }),
  )
  const result = await gate.authenticate({ authorization: `Bearer ${TOKEN}` })
  if (result.ok) return t.fail('accepted')
  t.same(result.reply, {
    status: 503,
    headers: {
      'Cache-Control': 'no-store',
      'Content-Type': 'application/json; charset=utf-8',
      'Retry-After': '7',
    },
    // CWE-209: the client learns what is unavailable; the verifier's explanation goes to the log.
    body: {
      error: 'temporarily_unavailable',
      error_description: 'the signing keys of the authorization server are unavailable',
    },
  })
  t.equal(result.log.fields.detail, 'The signing keys cannot be fetched')
  t.equal(result.log.severity, 'rejection')
})

t.test(
  'an unexpected verifier failure fails closed with 503 and scrubs the token from the log',
  async (t) => {
    const gate = gateWith(
      verifierOf(async (token) => {
        throw new Error(`database refused token ${token}`)
      }),
    )
    const result = await gate.authenticate({ authorization: `Bearer ${TOKEN}` })
    if (result.ok) return t.fail('accepted')
    t.equal(result.reply.status, 503)
    t.equal(result.reply.headers['Retry-After'], '5')
    t.equal(result.reply.body.error, 'temporarily_unavailable')
    t.notMatch(result.reply.body.error_description, /database/)
    t.equal(result.log.severity, 'error')
    t.equal(result.log.fields.reason, 'internal_error')
    const logged = JSON.stringify(result.log)
    t.notOk(logged.includes(TOKEN), 'token not in the log fields')
    t.match(result.log.fields.err?.message, `database refused token [token ${tokenFingerprint(TOKEN)}]`)

    const serverError = gateWith(
      verifierOf(async () => {
        throw new PortcullisError('server_error', 'internal_error', 'boom')
      }),
    )
    const second = await serverError.authenticate({ authorization: `Bearer ${TOKEN}` })
    t.equal(second.ok ? 200 : second.reply.status, 503, 'server_error is never a 500')

    const sync = gateWith({
      verifyAccessToken: () => {
        throw new TypeError('sync')
      },
    })
    const third = await sync.authenticate({ authorization: `Bearer ${TOKEN}` })
    t.equal(third.ok ? 200 : third.reply.status, 503, 'a synchronous throw is caught')
  },
)

t.test('a verifier that hangs is cut off with 503', async (t) => {
  const gate = gateWith(
    verifierOf(() => new Promise<AuthInfo>(() => {})),
    { verifyTimeoutMs: 50 },
  )
  const started = Date.now()
  const result = await gate.authenticate({ authorization: `Bearer ${TOKEN}` })
  t.ok(Date.now() - started < 2000)
  if (result.ok) return t.fail('accepted')
  t.equal(result.reply.status, 503)
  t.equal(result.error.reason, 'internal_error')
})

t.test('a verifier returning something other than an AuthInfo fails closed', async (t) => {
  const gate = gateWith(
    verifierOf(async () => ({ token: TOKEN, clientId: 'c', scopes: 'notes:read' }) as never),
  )
  const result = await gate.authenticate({ authorization: `Bearer ${TOKEN}` })
  t.equal(result.ok ? 200 : result.reply.status, 503)
})

t.test('success: resource and fingerprint are set; a token for another resource is refused', async (t) => {
  const gate = gateWith(verifierOf(async (token) => authFor(token, ['notes:read'])))
  const result = await gate.authenticate({ authorization: `bearer ${TOKEN}` })
  if (!result.ok) return t.fail('rejected')
  t.equal(result.auth.resource.href, RESOURCE)
  t.equal(result.auth.extra.fingerprint, tokenFingerprint(TOKEN))
  t.equal(result.auth.extra.sub, 'alice')

  const same = gateWith(
    verifierOf(async (token) => authFor(token, [], { resource: new URL('https://MCP.example.com/mcp/') })),
  )
  t.ok((await same.authenticate({ authorization: `Bearer ${TOKEN}` })).ok, 'equal once canonical')

  const other = gateWith(
    verifierOf(async (token) => authFor(token, [], { resource: new URL('https://other.example.com/mcp') })),
  )
  const refused = await other.authenticate({ authorization: `Bearer ${TOKEN}` })
  if (refused.ok) return t.fail('accepted a token for another resource')
  t.equal(refused.reply.status, 401)
  t.equal(refused.error.reason, 'audience_mismatch')
})

t.test('authorize: 403 with the minimal missing scopes, implication honoured', async (t) => {
  const gate = gateWith(verifierOf(async (token) => authFor(token, [])))
  const auth = authFor(TOKEN, ['notes:read'])
  t.same(gate.authorize(authFor(TOKEN, ['notes:admin']), ['notes:read', 'notes:write']), { ok: true })
  const denied = gate.authorize(auth, ['notes:read', 'notes:write', 'notes:admin'])
  if (denied.ok) return t.fail('allowed')
  t.equal(denied.reply.status, 403)
  t.same(challengeOf(denied.reply.headers).params, {
    error: 'insufficient_scope',
    error_description: 'This operation requires the scope: notes:admin',
    scope: 'notes:admin',
    resource_metadata: gate.metadataUrl,
  })
  t.same(denied.log.fields.missingScopes, ['notes:admin'])
  const anyOf = gate.authorize(auth, { anyOf: ['files:read', 'files:admin'] })
  if (anyOf.ok) return t.fail('allowed')
  t.equal(challengeOf(anyOf.reply.headers).params.scope, 'files:read')
  t.match(anyOf.reply.body.error_description, /one of the scopes: files:read files:admin/)
})

t.test('metadata replies by method', async (t) => {
  const gate = gateWith(
    verifierOf(async (token) => authFor(token, [])),
    { metadataMaxAge: 60 },
  )
  const get = gate.metadataReply('GET')
  t.equal(get.status, 200)
  t.equal(get.headers['Cache-Control'], 'public, max-age=60')
  t.equal(get.headers['Access-Control-Allow-Origin'], '*')
  t.equal(get.body, gate.metadataDocument)
  t.equal(gate.metadataReply('HEAD').status, 200)
  const options = gate.metadataReply('OPTIONS')
  t.equal(options.status, 204)
  t.equal(options.headers['Access-Control-Allow-Methods'], 'GET, HEAD, OPTIONS')
  const post = gate.metadataReply('POST')
  t.equal(post.status, 405)
  t.equal(post.headers.Allow, 'GET, HEAD, OPTIONS')
  t.equal(post.body, undefined)
})

t.test('authorizationHeaders reads every Authorization header from rawHeaders', async (t) => {
  t.equal(authorizationHeaders(['Host', 'a', 'Accept', '*/*']), undefined)
  t.equal(authorizationHeaders(['authorization', 'Bearer x']), 'Bearer x')
  t.same(
    authorizationHeaders(['Authorization', 'Bearer x', 'AUTHORIZATION', 'Bearer y', 'x-authorization', 'z']),
    ['Bearer x', 'Bearer y'],
  )
})

t.test(
  'scope implications keep a "__proto__" key: the policy gets the caller object, not a copy',
  async (t) => {
    const gate = createGate({
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      verifier: verifierOf(async (token) => authFor(token, ['__proto__'])),
      scopes: { implies: JSON.parse('{"__proto__":["notes:read"],"notes:write":["notes:read"]}') },
    })
    const auth = authFor(TOKEN, ['__proto__'])
    t.ok(gate.authorize(auth, ['notes:read']).ok, '__proto__ implies notes:read')
    t.notOk(gate.authorize(auth, ['notes:write']).ok)
    t.ok(gate.policy.satisfies(['notes:read'], ['notes:write']), 'the other keys still count')
    t.throws(
      () =>
        createGate({
          resource: RESOURCE,
          authorizationServers: [ISSUER],
          verifier: verifierOf(async (token) => authFor(token, [])),
          scopes: { implies: JSON.parse('{"__proto__":[42]}') },
        }),
      { name: 'TypeError', message: /__proto__/ },
      'and it is validated',
    )
  },
)

/** A verifier with a remembered outcome per token, counting full verifications. */
function rememberingVerifier(
  remembered: Map<string, CachedOutcome>,
  verify: (token: string) => Promise<AuthInfo>,
) {
  const calls = { verify: 0, peek: 0 }
  const verifier: TokenVerifier = {
    verifyAccessToken: (token) => {
      calls.verify++
      return verify(token)
    },
    cachedOutcome: (token) => {
      calls.peek++
      return remembered.get(token)
    },
  }
  return { verifier, calls }
}

t.test('a remembered outcome is answered at once, and every check still runs on it', async (t) => {
  const remembered = new Map<string, CachedOutcome>()
  const { verifier, calls } = rememberingVerifier(remembered, () => new Promise<AuthInfo>(() => {}))
  const gate = gateWith(verifier, { verifyTimeoutMs: 50 })
  const header = (token: string) => ({ authorization: `Bearer ${token}` })

  remembered.set('good.token.x', {
    authInfo: Object.freeze(authFor('good.token.x', ['notes:read'])),
    error: undefined,
    fingerprint: tokenFingerprint('good.token.x'),
  })
  const now = gate.authenticateNow(header('good.token.x'))
  if (now instanceof Promise) return t.fail('a remembered token waited for a promise')
  if (!now.ok) return t.fail('rejected')
  t.equal(now.auth.extra.fingerprint, tokenFingerprint('good.token.x'))
  t.equal(now.auth.resource.href, RESOURCE)
  t.equal(calls.verify, 0, 'the verifier did no work (its verification would hang)')
  const viaPromise = await gate.authenticate(header('good.token.x'))
  t.ok(viaPromise.ok, 'authenticate answers the same through a promise')
  t.not(viaPromise.ok && viaPromise.auth, now.auth, 'each request gets its own AuthInfo object')

  // The resource binding is checked on the remembered answer too (RFC 8707 §2).
  remembered.set('other.resource.x', {
    authInfo: authFor('other.resource.x', [], { resource: new URL('https://other.example.com/mcp') }),
    error: undefined,
    fingerprint: tokenFingerprint('other.resource.x'),
  })
  const other = gate.authenticateNow(header('other.resource.x'))
  if (other instanceof Promise || other.ok) return t.fail('accepted a token for another resource')
  t.equal(other.error.reason, 'audience_mismatch')

  // So is the shape.
  remembered.set('bad.shape.x', {
    authInfo: { token: 'bad.shape.x', clientId: 'c', scopes: 'notes:read' } as never,
    error: undefined,
    fingerprint: tokenFingerprint('bad.shape.x'),
  })
  const badShape = gate.authenticateNow(header('bad.shape.x'))
  t.equal(badShape instanceof Promise || badShape.ok ? 0 : badShape.reply.status, 503)

  // A remembered refusal is a 401 with its own description, no verification either.
  remembered.set('refused.token.x', {
    authInfo: undefined,
    error: invalidToken('token_expired', 'token has expired'),
    fingerprint: tokenFingerprint('refused.token.x'),
  })
  const refused = gate.authenticateNow(header('refused.token.x'))
  if (refused instanceof Promise || refused.ok) return t.fail('accepted a remembered refusal')
  t.equal(refused.reply.status, 401)
  t.equal(refused.log.fields.fingerprint, tokenFingerprint('refused.token.x'))
  t.equal(calls.verify, 0)

  // A token it does not remember is verified, under the timeout.
  const unknown = gate.authenticateNow(header('unknown.token.x'))
  t.ok(unknown instanceof Promise, 'an unknown token is verified asynchronously')
  t.equal(calls.verify, 1)
  const timedOut = await unknown
  t.equal(timedOut.ok ? 200 : timedOut.reply.status, 503, 'real work is under the timeout')
})

t.test('a remembered credential that is not a token68 is still a malformed header (400)', async (t) => {
  const remembered = new Map<string, CachedOutcome>()
  const { verifier } = rememberingVerifier(remembered, async (token) => authFor(token, ['notes:read']))
  const gate = gateWith(verifier)
  // A custom verifier may remember any string it was handed directly; the header rule still holds.
  for (const token of ['a=b', 'a,b', 'tok\u00e9n']) {
    remembered.set(token, {
      authInfo: Object.freeze(authFor(token, ['notes:read'])),
      error: undefined,
      fingerprint: tokenFingerprint(token),
    })
    const result = gate.authenticateNow({ authorization: `Bearer ${token}` })
    if (result instanceof Promise || result.ok) return t.fail(`accepted ${token}`)
    t.equal(result.reply.status, 400, token)
    t.equal(result.error.reason, 'header_malformed')
  }
})

t.test('a failing cachedOutcome costs a full verification, not the request', async (t) => {
  const { verifier, calls } = rememberingVerifier(new Map(), async (token) => authFor(token, ['notes:read']))
  verifier.cachedOutcome = () => {
    throw new Error('broken shortcut')
  }
  const result = await gateWith(verifier).authenticate({ authorization: `Bearer ${TOKEN}` })
  t.ok(result.ok)
  t.equal(calls.verify, 1)
})

t.test('a verifier that decides at once is answered at once, on its first sighting too', async (t) => {
  const signer = await tokenSigner({
    kid: 'k1',
    claims: { iss: ISSUER, aud: RESOURCE, scope: 'notes:read', client_id: 'c1', sub: 'alice' },
  })
  // A held key on the event loop: the verifier decides before it returns.
  const verifier = jwtVerifier({
    issuer: ISSUER,
    audience: RESOURCE,
    keys: [signer.publicJwk],
    signatureCheck: 'event-loop',
  })
  const gate = gateWith(verifier)
  const token = await signer.mint()
  const first = gate.authenticateNow({ authorization: `Bearer ${token}` })
  if (first instanceof Promise) return t.fail('a decided verification waited for a promise')
  if (!first.ok) return t.fail('rejected')
  t.equal(first.auth.extra.fingerprint, tokenFingerprint(token))
  t.equal(first.auth.resource.href, RESOURCE)
  t.ok(gate.authorize(first.auth, ['notes:read']).ok)

  // A forged token is refused at once too (its rejected promise is handled: no unhandled rejection).
  const forged = await signer.mint({}, { forged: true })
  const refused = gate.authenticateNow({ authorization: `Bearer ${forged}` })
  if (refused instanceof Promise || refused.ok) return t.fail('a forged token was not refused at once')
  t.equal(refused.reply.status, 401)
  t.equal(refused.error.reason, 'signature_invalid')
  t.equal(refused.log.fields.fingerprint, tokenFingerprint(forged))

  // An expired one likewise, with its own reason.
  const expired = await signer.mint({ exp: Math.floor(Date.now() / 1000) - 3600 })
  const late = gate.authenticateNow({ authorization: `Bearer ${expired}` })
  if (late instanceof Promise || late.ok) return t.fail('an expired token was not refused at once')
  t.equal(late.error.reason, 'token_expired')

  // Without a cache nothing is remembered, so the answer waits for the verifier's promise.
  const uncached = gateWith(
    jwtVerifier({
      issuer: ISSUER,
      audience: RESOURCE,
      keys: [signer.publicJwk],
      signatureCheck: 'event-loop',
      cache: false,
    }),
  )
  const waited = uncached.authenticateNow({ authorization: `Bearer ${token}` })
  t.ok(waited instanceof Promise, 'no cache: through the promise')
  t.ok((await waited).ok)
})

t.test(
  'with jwtVerifier: a hit is answered at once; expiry, revocation and the limiter still count',
  async (t) => {
    const signer = await tokenSigner({
      kid: 'k1',
      claims: { iss: ISSUER, aud: RESOURCE, scope: 'notes:read', client_id: 'c1', sub: 'alice' },
    })
    const jwk = signer.publicJwk
    let clock = Date.now()
    const verifier = jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [jwk], now: () => clock })
    const denyList = new MemoryDenyList({ now: () => clock })
    const gate = gateWith(verifier, { denyList })
    const mint = (exp: number) => signer.mint({ iat: Math.floor(clock / 1000), exp })
    const token = await mint(Math.floor(clock / 1000) + 120)
    const input = { authorization: `Bearer ${token}` }

    const first = gate.authenticateNow(input)
    t.ok(first instanceof Promise, 'the first sighting is verified')
    t.ok((await first).ok)
    const hit = gate.authenticateNow(input)
    if (hit instanceof Promise) return t.fail('a cache hit waited for a promise')
    if (!hit.ok) return t.fail('rejected')
    t.equal(hit.auth.extra.fingerprint, tokenFingerprint(token), 'the fingerprint the cache computed')
    t.equal(verifier.cachedOutcome(token)?.fingerprint, tokenFingerprint(token))

    // exp (plus the 60 s leeway) is checked again on the hit path.
    clock += 181_000
    const expired = await gate.authenticate(input)
    if (expired.ok) return t.fail('accepted an expired token')
    t.equal(expired.error.reason, 'token_expired')

    const fresh = await mint(Math.floor(clock / 1000) + 600)
    t.ok((await gate.authenticate({ authorization: `Bearer ${fresh}` })).ok)
    denyList.add(revocationOf({ token: fresh }, { defaultTtl: 600, now: () => clock }))
    const revoked = gate.authenticateNow({ authorization: `Bearer ${fresh}` })
    if (revoked instanceof Promise || revoked.ok) return t.fail('a revoked token got through the cache')
    t.equal(revoked.error.reason, 'token_revoked')

    // The attempt limiter counts refusals answered from the cache.
    const limited = gateWith(verifier, {
      attemptLimiter: new AttemptWindows({ maxAttempts: 2, window: 60, now: () => clock }),
    })
    const bad = await mint(Math.floor(clock / 1000) - 3600)
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const result = await limited.authenticate({
        authorization: `Bearer ${bad}`,
        clientAddress: '192.0.2.7',
      })
      statuses.push(result.ok ? 200 : result.reply.status)
    }
    t.same(statuses, [401, 401, 429, 429], 'remembered refusals are counted like fresh ones')
  },
)

t.test("a jwtVerifier's answer is each request's own copy, and its resource is still checked", async (t) => {
  const signer = await tokenSigner({
    kid: 'k1',
    claims: { iss: ISSUER, aud: RESOURCE, scope: 'notes:read', client_id: 'c1', sub: 'alice' },
  })
  const verifier = jwtVerifier({ issuer: ISSUER, audience: RESOURCE, keys: [signer.publicJwk] })
  const gate = gateWith(verifier)
  const token = await signer.mint()
  const input = { authorization: `Bearer ${token}` }
  const first = await gate.authenticate(input)
  const second = await gate.authenticate(input)
  if (!first.ok || !second.ok) return t.fail('rejected')
  t.not(first.auth, second.auth, 'one AuthInfo per request')
  t.not(first.auth.extra, second.auth.extra, 'one extra per request')
  t.not(first.auth, verifier.cachedOutcome(token)?.authInfo, "not the verifier's remembered answer")
  t.notOk(Object.isFrozen(first.auth), 'the application may add to its copy')
  ;(first.auth.extra as Record<string, unknown>).note = 'mine'
  const third = await gate.authenticate(input)
  if (!third.ok) return t.fail('rejected')
  t.equal(third.auth.extra.note, undefined, "one request's change is not seen by the next")
  t.equal(third.auth.extra.fingerprint, tokenFingerprint(token))
  t.equal(third.auth.resource.href, RESOURCE)

  // The same verifier behind a gate for another resource: its answer names ours, not theirs.
  const other = gateWith(verifier, { resource: 'https://other.example.com/mcp' })
  const refused = await other.authenticate(input)
  if (refused.ok) return t.fail('a token for another resource was accepted')
  t.equal(refused.error.reason, 'audience_mismatch')
})
