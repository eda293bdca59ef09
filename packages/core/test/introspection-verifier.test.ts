import {
  createGate,
  type IntrospectionAnswer,
  type IntrospectionCache,
  type IntrospectionVerifierOptions,
  introspectionVerifier,
  LruCache,
  PortcullisError,
  processDiscoveryCache,
  scopeMapper,
} from '@portcullis/core'
import {
  CLIENT_ID,
  CLIENT_SECRET,
  introspectionServer,
  loopbackServer,
  refusedPort,
  rejectionOf,
  sendJson,
} from '@portcullis/test-kit'
import t, { type Test } from 'tap'
import type { DiscoveryCacheEntry } from '../src/token/discovery.js'

const RESOURCE = 'https://mcp.example.com/mcp'
const nowS = () => Math.floor(Date.now() / 1000)

async function setup(t: Test, overrides: Partial<IntrospectionVerifierOptions> = {}) {
  const as = await introspectionServer()
  t.teardown(as.close)
  const issuer = as.origin
  const verifier = introspectionVerifier({
    issuer,
    endpoint: as.endpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
    ...overrides,
  })
  const activeAnswer = (extra: Record<string, unknown> = {}) => ({
    active: true,
    iss: issuer,
    aud: RESOURCE,
    client_id: 'notes-app',
    sub: 'alice',
    scope: 'notes:read notes:write',
    exp: nowS() + 600,
    iat: nowS(),
    token_type: 'Bearer',
    ...extra,
  })
  return { as, issuer, verifier, activeAnswer }
}

/** The PortcullisError a verification rejects with. */
async function failure(promise: Promise<unknown>): Promise<PortcullisError> {
  const err = await rejectionOf(promise)
  if (!(err instanceof PortcullisError)) throw err
  return err
}

t.test('options are validated with errors that name the option', async (t) => {
  const base = { issuer: 'https://id.example.com', clientId: 'rs', clientSecret: 's', audience: RESOURCE }
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ audience: undefined }, /option "audience"/],
    [{ audience: [] }, /option "audience": audience needs at least one value/],
    [{ audience: 'http://mcp.example.com' }, /option "audience": .*must use https/],
    [{ issuer: 'http://id.example.com' }, /option "issuer": issuer "http:\/\/id.example.com" must use https/],
    [{ endpoint: 'http://id.example.com/introspect' }, /option "endpoint": endpoint must use https/],
    [{ clientId: '' }, /option "clientId": clientId must not be empty/],
    [{ clientSecret: undefined }, /option "clientSecret"/],
    [{ clientAuth: 'private_key_jwt' }, /option "clientAuth"/],
    [{ cache: { ttl: -1 } }, /option "cache.ttl"/],
    [{ cache: { store: {} } }, /option "cache.store": store must have get, set and delete/],
    [{ clockTolerance: 3600 }, /option "clockTolerance"/],
    [{ introspectionEndpoint: 'https://x' }, /Unrecognized key: "introspectionEndpoint"/],
  ]
  for (const [change, message] of cases) {
    t.throws(
      () => introspectionVerifier({ ...base, ...change } as IntrospectionVerifierOptions),
      { name: 'TypeError', message: new RegExp(`^introspectionVerifier: .*${message.source}`) },
      JSON.stringify(change),
    )
  }
  t.doesNotThrow(() => introspectionVerifier({ ...base, audience: [RESOURCE, 'https://b.example/'] }))
})

t.test('an active token becomes AuthInfo; the request follows RFC 7662 with Basic auth', async (t) => {
  const { as, issuer, verifier, activeAnswer } = await setup(t)
  const answer = activeAnswer()
  as.answers.set('tok-1', answer)
  const auth = await verifier.verifyAccessToken('tok-1')
  t.equal(auth.token, 'tok-1')
  t.equal(auth.clientId, 'notes-app')
  t.same(auth.scopes, ['notes:read', 'notes:write'])
  t.equal(auth.expiresAt, answer.exp)
  t.equal(auth.resource?.href, new URL(RESOURCE).href)
  t.equal(auth.extra?.sub, 'alice')
  t.equal(auth.extra?.iss, issuer)
  t.match(auth.extra?.fingerprint, /^[A-Za-z0-9_-]{16}$/)
  t.not(auth.extra?.fingerprint, 'tok-1')
  t.same(auth.extra?.claims, answer)

  const seen = as.requests[0]!
  t.equal(seen.method, 'POST')
  t.equal(seen.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(seen.headers.accept, 'application/json')
  t.same(Object.fromEntries(new URLSearchParams(seen.body)), {
    token: 'tok-1',
    token_type_hint: 'access_token',
  })
  // RFC 6749 §2.3.1: form-urlencode, then base64.
  const expected = Buffer.from(
    `${encodeURIComponent(CLIENT_ID).replace(/%20/g, '+')}:${new URLSearchParams({ s: CLIENT_SECRET }).toString().slice(2)}`,
  ).toString('base64')
  t.equal(seen.headers.authorization, `Basic ${expected}`)
  t.same(as.auth, ['basic'])
})

t.test('claimsToScopes turns the roles of an answer into scopes', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t, {
    claimsToScopes: scopeMapper({
      scopeClaims: ['scope'],
      roleClaims: [['resource_access', 'notes.api', 'roles']],
      roles: { admin: ['notes:admin'] },
    }),
  })
  as.answers.set('tok-roles', activeAnswer({ resource_access: { 'notes.api': { roles: ['admin'] } } }))
  const auth = await verifier.verifyAccessToken('tok-roles')
  t.same(auth.scopes, ['notes:read', 'notes:write', 'notes:admin'])
  t.throws(
    () =>
      introspectionVerifier({
        issuer: 'https://id.example.com',
        clientId: 'rs',
        clientSecret: 's',
        audience: RESOURCE,
        scopeClaim: 'scp',
        claimsToScopes: () => [],
      }),
    /scopeClaim or claimsToScopes, not both/,
  )
})

t.test('client_secret_post puts the credentials in the body', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t, { clientAuth: 'client_secret_post' })
  as.answers.set('tok-1', activeAnswer())
  await verifier.verifyAccessToken('tok-1')
  const seen = as.requests[0]!
  t.equal(seen.headers.authorization, undefined)
  const form = new URLSearchParams(seen.body)
  t.equal(form.get('client_id'), CLIENT_ID)
  t.equal(form.get('client_secret'), CLIENT_SECRET)
  t.same(as.auth, ['post'])
})

t.test('refused client credentials are a 503-class failure, explained and not cached', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t, { clientSecret: 'wrong' })
  as.answers.set('tok-1', activeAnswer())
  const err = await failure(verifier.verifyAccessToken('tok-1'))
  t.equal(err.code, 'temporarily_unavailable')
  t.equal(err.reason, 'introspection_unavailable')
  t.equal(err.status, 503)
  t.equal(err.retryAfter, 5)
  t.match(err.message, /refused the resource server's client credentials \(HTTP 401\)/)
  t.notMatch(err.message, /wrong/, 'the secret is not echoed')
  await failure(verifier.verifyAccessToken('tok-1'))
  t.equal(as.auth.length, 2, 'the failure was not cached')
})

t.test('concurrent requests with one token make one introspection call', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t)
  as.answers.set('tok-1', activeAnswer())
  as.answers.set('tok-2', activeAnswer({ sub: 'bob' }))
  as.delayMs = 100
  const results = await Promise.all([
    ...Array.from({ length: 50 }, () => verifier.verifyAccessToken('tok-1')),
    ...Array.from({ length: 10 }, () => verifier.verifyAccessToken('tok-2')),
  ])
  t.equal(as.callsFor('tok-1'), 1)
  t.equal(as.callsFor('tok-2'), 1)
  t.ok(results.slice(0, 50).every((a) => a.extra?.sub === 'alice'))
  t.ok(results.slice(50).every((a) => a.extra?.sub === 'bob'))
  await verifier.verifyAccessToken('tok-1')
  t.equal(as.callsFor('tok-1'), 1, 'later requests are answered from the cache')
})

t.test('concurrent requests share a failure too, and it is not kept', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t)
  as.answers.set('tok-1', activeAnswer())
  as.delayMs = 50
  as.mode = 'error500'
  const errors = await Promise.all(
    Array.from({ length: 20 }, () => failure(verifier.verifyAccessToken('tok-1'))),
  )
  t.ok(errors.every((e) => e.reason === 'introspection_unavailable'))
  t.equal(as.callsFor('tok-1'), 1)
  as.mode = 'ok'
  t.equal((await verifier.verifyAccessToken('tok-1')).extra?.sub, 'alice')
  t.equal(as.callsFor('tok-1'), 2)
})

t.test('an active answer is cached until the earlier of exp and the TTL', async (t) => {
  let now = Date.now()
  const { as, issuer, verifier } = await setup(t, { now: () => now, cache: { ttl: 60 } })
  const exp = Math.floor(now / 1000) + 30
  as.answers.set('short', { active: true, iss: issuer, aud: RESOURCE, exp })
  as.answers.set('long', { active: true, iss: issuer, aud: RESOURCE, exp: Math.floor(now / 1000) + 3600 })
  await verifier.verifyAccessToken('short')
  await verifier.verifyAccessToken('long')
  now += 25_000
  await verifier.verifyAccessToken('short')
  await verifier.verifyAccessToken('long')
  t.same([as.callsFor('short'), as.callsFor('long')], [1, 1], 'both cached at 25 s')
  now += 10_000
  // 'short' reached its exp: the cached answer is gone, and the AS now says it is inactive.
  as.answers.set('short', { active: false })
  const err = await failure(verifier.verifyAccessToken('short'))
  t.equal(err.reason, 'token_inactive')
  t.equal(as.callsFor('short'), 2)
  await verifier.verifyAccessToken('long')
  t.equal(as.callsFor('long'), 1, "'long' still cached at 35 s")
  now += 30_000
  await verifier.verifyAccessToken('long')
  t.equal(as.callsFor('long'), 2, "'long' asked again after the 60 s TTL")
})

t.test('an inactive token is invalid_token and is remembered briefly', async (t) => {
  let now = Date.now()
  const { as, verifier } = await setup(t, { now: () => now })
  const err = await failure(verifier.verifyAccessToken('unknown-token'))
  t.equal(err.code, 'invalid_token')
  t.equal(err.reason, 'token_inactive')
  t.equal(err.status, 401)
  await failure(verifier.verifyAccessToken('unknown-token'))
  t.equal(as.callsFor('unknown-token'), 1, 'cached')
  now += 5000
  await failure(verifier.verifyAccessToken('unknown-token'))
  t.equal(as.callsFor('unknown-token'), 2, 'asked again after inactiveTtl')
})

t.test('the audience must name the resource', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t)
  as.answers.set('other', activeAnswer({ aud: 'https://other.example.com/mcp' }))
  as.answers.set('account', activeAnswer({ aud: ['account'] }))
  as.answers.set('listed', activeAnswer({ aud: ['account', 'HTTPS://MCP.example.com/mcp/'] }))
  as.answers.set('none', activeAnswer({ aud: undefined }))
  as.answers.set('number', activeAnswer({ aud: 42 }))
  for (const token of ['other', 'account', 'number']) {
    const err = await failure(verifier.verifyAccessToken(token))
    t.equal(err.reason, 'audience_mismatch', token)
    t.equal(err.status, 401)
    t.match(err.message, /does not include https:\/\/mcp\.example\.com\/mcp/)
  }
  const listed = await verifier.verifyAccessToken('listed')
  t.equal(listed.resource?.href, 'https://mcp.example.com/mcp')
  const none = await failure(verifier.verifyAccessToken('none'))
  t.equal(none.reason, 'audience_mismatch')
  t.match(none.message, /has no aud/)
})

t.test('requireAudience: false accepts an answer without aud, still checks one that has it', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t, { requireAudience: false })
  as.answers.set('none', activeAnswer({ aud: undefined }))
  as.answers.set('other', activeAnswer({ aud: 'https://other.example.com' }))
  const auth = await verifier.verifyAccessToken('none')
  t.equal(auth.resource?.href, 'https://mcp.example.com/mcp')
  t.equal((await failure(verifier.verifyAccessToken('other'))).reason, 'audience_mismatch')
})

t.test('only bearer access tokens are accepted', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t)
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['refresh_token', { token_type: 'refresh_token' }, 'token_type_invalid', /not a bearer/],
    ['number', { token_type: 1 }, 'token_type_invalid', /not a bearer/],
    ['keycloak refresh', { token_type: undefined, typ: 'Refresh' }, 'token_type_invalid', /Refresh/],
    ['keycloak id token', { token_type: undefined, typ: 'ID' }, 'id_token_presented', /ID token/],
    // RFC 9449 §6.2: token_type DPoP; RFC 7800 cnf: jkt (DPoP), x5t#S256 (RFC 8705 §3.1)
    ['DPoP', { token_type: 'DPoP' }, 'token_sender_constrained', /DPoP key \(cnf\.jkt/],
    ['DPoP jkt', { token_type: 'DPoP', cnf: { jkt: 'abc' } }, 'token_sender_constrained', /DPoP/],
    ['bearer with jkt', { token_type: 'Bearer', cnf: { jkt: 'abc' } }, 'token_sender_constrained', /DPoP/],
    ['mtls', { cnf: { 'x5t#S256': 'abc' } }, 'token_sender_constrained', /client certificate/],
    ['jwk', { cnf: { jwk: { kty: 'EC' } } }, 'token_sender_constrained', /cnf jwk/],
  ]
  for (const [name, extra, reason, message] of cases) {
    const token = `t-${name.replace(/ /g, '-')}`
    as.answers.set(token, activeAnswer(extra))
    const err = await failure(verifier.verifyAccessToken(token))
    t.equal(err.reason, reason, name)
    t.match(err.message, message, name)
    t.equal(err.status, 401)
  }
  as.answers.set('bearer', activeAnswer({ token_type: 'bearer', typ: 'Bearer' }))
  t.equal((await verifier.verifyAccessToken('bearer')).extra?.sub, 'alice')
})

t.test('iss, exp and nbf are checked with leeway', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t, { clockTolerance: 60 })
  as.answers.set('foreign', activeAnswer({ iss: 'https://evil.example' }))
  as.answers.set('no-iss', activeAnswer({ iss: undefined }))
  as.answers.set('expired', activeAnswer({ exp: nowS() - 120 }))
  as.answers.set('just-expired', activeAnswer({ exp: nowS() - 30 }))
  as.answers.set('future', activeAnswer({ nbf: nowS() + 600 }))
  as.answers.set('bad-exp', activeAnswer({ exp: 'tomorrow' }))
  t.equal((await failure(verifier.verifyAccessToken('foreign'))).reason, 'issuer_mismatch')
  t.ok(await verifier.verifyAccessToken('no-iss'), 'iss is optional in RFC 7662')
  t.equal((await failure(verifier.verifyAccessToken('expired'))).reason, 'token_expired')
  t.ok(await verifier.verifyAccessToken('just-expired'), 'within the leeway')
  t.equal((await failure(verifier.verifyAccessToken('future'))).reason, 'token_not_yet_valid')
  t.equal((await failure(verifier.verifyAccessToken('bad-exp'))).reason, 'claims_malformed')
})

t.test('an endpoint that fails is never "inactive" and never a 401', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t, { fetchTimeoutMs: 200 })
  as.answers.set('tok-1', activeAnswer())
  const modes = ['error500', 'notJson', 'noActive', 'activeString', 'array', 'hang'] as const
  const messages: Record<(typeof modes)[number], RegExp> = {
    error500: /answered HTTP 500/,
    notJson: /did not answer a JSON object/,
    noActive: /without a boolean "active"/,
    activeString: /without a boolean "active"/,
    array: /did not answer a JSON object/,
    hang: /did not answer in time/,
  }
  for (const mode of modes) {
    as.mode = mode
    const started = Date.now()
    const err = await failure(verifier.verifyAccessToken('tok-1'))
    t.equal(err.code, 'temporarily_unavailable', mode)
    t.equal(err.status, 503, mode)
    t.equal(err.reason, 'introspection_unavailable', mode)
    t.match(err.message, messages[mode], mode)
    t.ok(Date.now() - started < 2000, `${mode}: bounded in time`)
  }
  t.equal(as.callsFor('tok-1'), modes.length, 'no failure was cached')
  as.mode = 'ok'
  t.equal((await verifier.verifyAccessToken('tok-1')).extra?.sub, 'alice', 'recovers at once')
})

t.test('an unreachable endpoint is a 503-class failure', async (t) => {
  const port = await refusedPort()
  const verifier = introspectionVerifier({
    issuer: `http://127.0.0.1:${port}`,
    endpoint: `http://127.0.0.1:${port}/introspect`,
    clientId: 'rs',
    clientSecret: 's',
    audience: RESOURCE,
  })
  const err = await failure(verifier.verifyAccessToken('tok-1'))
  t.equal(err.status, 503)
  t.equal(err.reason, 'introspection_unavailable')
  t.match(err.message, /is unreachable .*ECONNREFUSED/)
})

t.test('the endpoint is discovered from the issuer metadata when not configured', async (t) => {
  const as = await introspectionServer()
  t.teardown(as.close)
  const meta = await loopbackServer((req, res) => {
    if (req.url === '/.well-known/oauth-authorization-server/realms/r1') {
      return sendJson(res, 200, { issuer: `${meta.origin}/realms/r1`, introspection_endpoint: as.endpoint })
    }
    if (req.url === '/.well-known/oauth-authorization-server/realms/bare') {
      return sendJson(res, 200, { issuer: `${meta.origin}/realms/bare` })
    }
    sendJson(res, 404, {})
  })
  t.teardown(meta.close)
  const issuer = `${meta.origin}/realms/r1`
  as.answers.set('tok-1', { active: true, iss: issuer, aud: RESOURCE })
  const verifier = introspectionVerifier({
    issuer,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
  })
  t.equal(verifier.endpoint, undefined)
  await verifier.verifyAccessToken('tok-1')
  t.equal(verifier.endpoint, as.endpoint)
  t.equal(as.callsFor('tok-1'), 1)

  const bare = introspectionVerifier({
    issuer: `${meta.origin}/realms/bare`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
  })
  const err = await failure(bare.verifyAccessToken('tok-1'))
  t.equal(err.status, 503)
  t.equal(err.reason, 'discovery_failed')
  t.match(err.message, /has no introspection_endpoint/)
})

t.test("discovery.cache keeps an introspection verifier's discovery apart from the process", async (t) => {
  const as = await introspectionServer()
  t.teardown(as.close)
  const meta = await loopbackServer((req, res) => {
    if (req.url === '/.well-known/oauth-authorization-server')
      return sendJson(res, 200, { issuer: meta.origin, introspection_endpoint: as.endpoint })
    sendJson(res, 404, {})
  })
  t.teardown(meta.close)
  as.answers.set('tok-c', { active: true, iss: meta.origin, aud: RESOURCE })
  const cache = new LruCache<DiscoveryCacheEntry>({ maxEntries: 4 })
  const verifier = introspectionVerifier({
    issuer: meta.origin,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
    discovery: { cache },
  })
  await verifier.verifyAccessToken('tok-c')
  t.equal(cache.get(meta.origin)?.ok, true, 'discovered into the given cache')
  t.equal(processDiscoveryCache.get(meta.origin), undefined, 'not into the process-wide one')
  t.throws(
    () =>
      introspectionVerifier({
        issuer: meta.origin,
        clientId: 'c',
        audience: RESOURCE,
        discovery: 7,
      } as never),
    { message: /option "discovery"/ },
  )
})

t.test('a string that is not a bearer token is refused without any call', async (t) => {
  const { as, verifier } = await setup(t)
  for (const token of ['', 'has space', 'a\nb', 'x'.repeat(20_000), 'tok"en', '=abc']) {
    const err = await failure(verifier.verifyAccessToken(token))
    t.equal(err.reason, 'token_malformed')
  }
  t.equal(as.calls(), 0)
})

t.test('errors never quote the token', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t)
  const token = 'secret-token-value-1234567890'
  as.answers.set(token, activeAnswer({ aud: 'https://other.example.com' }))
  const errors = [await failure(verifier.verifyAccessToken(token))]
  as.mode = 'error500'
  errors.push(await failure(verifier.verifyAccessToken(`${token}x`)))
  for (const err of errors) t.notOk(err.message.includes(token), err.reason)
})

t.test('a pluggable async store is shared between verifiers and keyed by hash', async (t) => {
  const map = new Map<string, { value: IntrospectionAnswer; ttlMs: number }>()
  const store: IntrospectionCache = {
    get: async (key) => map.get(key)?.value,
    set: async (key, value, ttlMs) => {
      // What a Redis store does: the value goes through JSON.
      map.set(key, { value: JSON.parse(JSON.stringify(value)), ttlMs })
    },
    delete: async (key) => map.delete(key),
  }
  const { as, issuer, activeAnswer } = await setup(t)
  as.answers.set('tok-1', activeAnswer())
  const make = () =>
    introspectionVerifier({
      issuer,
      endpoint: as.endpoint,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      audience: RESOURCE,
      cache: { store },
    })
  const [a, b] = [make(), make()]
  await a.verifyAccessToken('tok-1')
  const auth = await b.verifyAccessToken('tok-1')
  t.equal(auth.extra?.sub, 'alice')
  t.equal(as.callsFor('tok-1'), 1, 'the second instance used the shared answer')
  t.equal(map.size, 1)
  const [key, entry] = [...map.entries()][0]!
  t.notOk(key.includes('tok-1'), 'the key is a hash, not the token')
  t.ok(entry.ttlMs > 0 && entry.ttlMs <= 60_000)
  await a.forget('tok-1')
  t.equal(map.size, 0)
  await b.verifyAccessToken('tok-1')
  t.equal(as.callsFor('tok-1'), 2)
})

t.test('a failing store costs a call, not the request', async (t) => {
  const { as, issuer, activeAnswer } = await setup(t)
  as.answers.set('tok-1', activeAnswer())
  const broken: IntrospectionCache = {
    get: async () => {
      throw new Error('redis down')
    },
    set: () => {
      throw new Error('redis down')
    },
    delete: async () => {
      throw new Error('redis down')
    },
  }
  const verifier = introspectionVerifier({
    issuer,
    endpoint: as.endpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
    cache: { store: broken },
  })
  t.equal((await verifier.verifyAccessToken('tok-1')).extra?.sub, 'alice')
  t.equal((await verifier.verifyAccessToken('tok-1')).extra?.sub, 'alice')
  t.equal(as.callsFor('tok-1'), 2)
  await verifier.forget('tok-1')
})

t.test('cache: false asks every time', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t, { cache: false })
  as.answers.set('tok-1', activeAnswer())
  await verifier.verifyAccessToken('tok-1')
  await verifier.verifyAccessToken('tok-1')
  t.equal(as.callsFor('tok-1'), 2)
})

t.test('cached claims cannot be changed by a caller', async (t) => {
  const { as, verifier, activeAnswer } = await setup(t)
  as.answers.set('tok-1', activeAnswer({ roles: ['reader'] }))
  const first = await verifier.verifyAccessToken('tok-1')
  t.throws(() => {
    ;(first.extra!.claims as { roles: string[] }).roles.push('admin')
  })
  first.scopes.push('admin')
  const second = await verifier.verifyAccessToken('tok-1')
  t.same(second.extra?.claims?.roles, ['reader'])
  t.same(second.scopes, ['notes:read', 'notes:write'])
})

t.test('the cache stays bounded', async (t) => {
  const { as, issuer } = await setup(t)
  const verifier = introspectionVerifier({
    issuer,
    endpoint: as.endpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
    cache: { maxEntries: 3 },
  })
  for (const token of ['a', 'b', 'c', 'd']) {
    as.answers.set(token, { active: true, iss: issuer, aud: RESOURCE })
    await verifier.verifyAccessToken(token)
  }
  await verifier.verifyAccessToken('d')
  await verifier.verifyAccessToken('a')
  t.equal(as.callsFor('d'), 1, 'recent entry kept')
  t.equal(as.callsFor('a'), 2, 'oldest entry evicted')
})

t.test('a remembered answer is given at once (the gate hit path), checked again on every hit', async (t) => {
  let nowMs = Date.now()
  const { as, verifier, activeAnswer } = await setup(t, { now: () => nowMs })
  as.answers.set('tok-sync', activeAnswer({ exp: Math.floor(nowMs / 1000) + 30 }))
  as.answers.set('tok-inactive', { active: false })
  t.equal(verifier.cachedOutcome?.('tok-sync'), undefined, 'nothing known before the first call')
  const first = await verifier.verifyAccessToken('tok-sync')
  const hit = verifier.cachedOutcome?.('tok-sync')
  t.equal(hit?.authInfo?.extra?.sub, 'alice')
  t.equal(hit?.fingerprint, first.extra?.fingerprint)
  t.same(hit?.authInfo?.scopes, ['notes:read', 'notes:write'])
  const again = verifier.cachedOutcome?.('tok-sync')
  t.equal(again?.authInfo, hit?.authInfo, 'the checked answer is reused, not rebuilt, on a later hit')
  t.ok(Object.isFrozen(hit?.authInfo) && Object.isFrozen(hit?.authInfo?.scopes), 'and frozen, being shared')
  await failure(verifier.verifyAccessToken('tok-inactive'))
  t.equal(verifier.cachedOutcome?.('tok-inactive')?.error?.reason, 'token_inactive', 'a remembered refusal')
  nowMs += 31_000
  const expired = verifier.cachedOutcome?.('tok-sync')
  t.ok(expired === undefined || expired.error?.reason === 'token_expired', 'never a success past exp')
  t.equal(as.callsFor('tok-sync'), 1)

  const gate = createGate({ resource: RESOURCE, authorizationServers: [as.origin], verifier })
  as.answers.set('tok-gate', activeAnswer())
  t.ok((await gate.authenticate({ authorization: 'Bearer tok-gate' })).ok)
  const now = gate.authenticateNow({ authorization: 'Bearer tok-gate' })
  if (now instanceof Promise || !now.ok) return t.fail('a remembered token waited for a promise')
  t.equal(now.auth.clientId, 'notes-app')
})

t.test('a shared (asynchronous) store is not read on the synchronous path', async (t) => {
  const entries = new Map<string, IntrospectionAnswer>()
  const store = {
    get: async (key: string) => entries.get(key),
    set: async (key: string, value: IntrospectionAnswer) => void entries.set(key, value),
    delete: async (key: string) => void entries.delete(key),
  }
  const { as, verifier, activeAnswer } = await setup(t, { cache: { store } })
  as.answers.set('tok-shared', activeAnswer())
  await verifier.verifyAccessToken('tok-shared')
  t.equal(entries.size, 1)
  t.equal(verifier.cachedOutcome?.('tok-shared'), undefined)
})

t.test('a shared store that can peek answers at once; the clock is read again on every hit', async (t) => {
  let nowMs = Date.now()
  const entries = new Map<string, IntrospectionAnswer>()
  // A store whose local copy outlives the token: the verifier must still refuse past exp.
  const store = {
    get: async (key: string) => entries.get(key),
    peek: (key: string) => entries.get(key),
    set: async (key: string, value: IntrospectionAnswer) => void entries.set(key, value),
    delete: async (key: string) => void entries.delete(key),
  }
  const { as, verifier, activeAnswer } = await setup(t, { cache: { store }, now: () => nowMs })
  as.answers.set('tok-peek', activeAnswer({ exp: Math.floor(nowMs / 1000) + 30 }))
  t.equal(verifier.cachedOutcome?.('tok-peek'), undefined, 'nothing held before the first call')
  await verifier.verifyAccessToken('tok-peek')
  const hit = verifier.cachedOutcome?.('tok-peek')
  t.equal(hit?.authInfo?.extra?.sub, 'alice', 'answered from the local copy')
  t.equal(verifier.cachedOutcome?.('tok-peek')?.authInfo, hit?.authInfo, 'the same checked answer')
  nowMs += 31_000 + 120_000
  t.equal(verifier.cachedOutcome?.('tok-peek')?.error?.reason, 'token_expired', 'past exp: refused')
  store.peek = () => {
    throw new Error('broken store')
  }
  t.equal(verifier.cachedOutcome?.('tok-peek'), undefined, 'a failing peek is a miss')
  t.equal(as.callsFor('tok-peek'), 1)
})
