// instrumentPortcullis: spans and metrics from the tracing channels, recorded by the OpenTelemetry
// SDK's in-memory exporters; and nothing subscribed (the plain call) when it is not installed.
import { tracingChannel } from 'node:diagnostics_channel'
import { SpanStatusCode } from '@opentelemetry/api'
import {
  type AuthenticateResult,
  createGate,
  type InstrumentOptions,
  instrumentPortcullis,
  introspectionVerifier,
  jwksKeySet,
  jwtVerifier,
  TELEMETRY_CHANNELS,
  type TokenVerifier,
  tokenFingerprint,
} from '@portcullis/core'
import {
  CLIENT_ID,
  CLIENT_SECRET,
  inMemoryTelemetry,
  introspectionServer,
  loopbackServer,
  refusedPort,
  tokenSigner,
} from '@portcullis/test-kit'
import t, { type Test } from 'tap'
import type { DiscoveryCacheEntry } from '../src/token/discovery.js'

const RESOURCE = 'https://mcp.example.com/mcp'

function instrumented(t: Test, options: InstrumentOptions = {}) {
  const otel = inMemoryTelemetry()
  const { tracerProvider, meterProvider } = otel
  const stop = instrumentPortcullis({ tracerProvider, meterProvider, ...options })
  t.teardown(async () => {
    stop()
    await otel.shutdown()
  })
  return { stop, spans: otel.spans, points: otel.points }
}

const subscribed = () =>
  Object.values(TELEMETRY_CHANNELS).some((name) => tracingChannel(name).start.hasSubscribers)

/** A verifier that accepts `good` (remembering it after the first time) and refuses the rest. */
function rememberingVerifier(): TokenVerifier {
  const known = new Set<string>()
  const auth = (token: string) => ({
    token,
    clientId: 'notes-app',
    scopes: ['notes:read'],
    expiresAt: Math.floor(Date.now() / 1000) + 600,
    extra: { iss: 'https://id.example.com', sub: 'alice' },
  })
  return {
    async verifyAccessToken(token) {
      if (token !== 'good') {
        const { PortcullisError } = await import('@portcullis/core')
        throw new PortcullisError(
          'invalid_token',
          'signature_invalid',
          'The access token signature is invalid',
        )
      }
      known.add(token)
      return auth(token)
    },
    cachedOutcome: (token) =>
      known.has(token)
        ? { authInfo: auth(token), error: undefined, fingerprint: tokenFingerprint(token) }
        : undefined,
  }
}

const gateWith = (verifier: TokenVerifier) =>
  createGate({ resource: RESOURCE, authorizationServers: ['https://id.example.com'], verifier })

t.test('not installed: nothing subscribes, so a traced call is the plain call', async (t) => {
  t.notOk(subscribed(), 'no subscriber before instrumentPortcullis')
  const gate = gateWith(rememberingVerifier())
  await gate.authenticate({ authorization: 'Bearer good' })
  const hit = gate.authenticateNow({ authorization: 'Bearer good' })
  t.notOk(hit instanceof Promise, 'a cache hit is answered synchronously, as before')
  t.match(hit, { ok: true })
  const { stop } = instrumented(t)
  t.ok(subscribed(), 'installed: subscribed')
  stop()
  t.notOk(subscribed(), 'stopped: no subscriber left')
})

t.test('a span and metrics per authentication: outcome, reason, fingerprint, cache hit', async (t) => {
  const telemetry = instrumented(t)
  const gate = gateWith(rememberingVerifier())
  const answers: AuthenticateResult[] = [
    await gate.authenticate({ authorization: undefined }),
    await gate.authenticate({ authorization: 'Bearer good' }),
    await gate.authenticate({ authorization: 'Bearer good' }),
    await gate.authenticate({ authorization: 'Bearer forged' }),
  ]
  t.same(
    answers.map((a) => a.ok),
    [false, true, true, false],
  )
  const spans = telemetry.spans().filter((s) => s.name === 'portcullis.authenticate')
  t.equal(spans.length, 4)
  t.match(spans[0]?.attributes, {
    'portcullis.outcome': 'refused',
    'portcullis.reason': 'credentials_missing',
  })
  t.match(spans[1]?.attributes, {
    'portcullis.outcome': 'allowed',
    'portcullis.issuer': 'https://id.example.com',
    'portcullis.client_id': 'notes-app',
    'portcullis.token.fingerprint': tokenFingerprint('good'),
    'portcullis.cache.hit': false,
  })
  t.match(spans[2]?.attributes, { 'portcullis.outcome': 'allowed', 'portcullis.cache.hit': true })
  t.match(spans[3]?.attributes, {
    'portcullis.outcome': 'refused',
    'portcullis.reason': 'signature_invalid',
    'http.response.status_code': 401,
    'portcullis.token.fingerprint': tokenFingerprint('forged'),
    'portcullis.cache.hit': false,
  })
  t.equal(spans[3]?.status.code, SpanStatusCode.UNSET, 'a refused token is not a span error')
  for (const span of spans) {
    t.notOk(JSON.stringify(span.attributes).includes('"good"'), 'the token itself is never an attribute')
  }
  const lookups = await telemetry.points('portcullis.gate.cache.lookups')
  t.same(Object.fromEntries(lookups.map((p) => [p.attributes['portcullis.cache.result'], p.value])), {
    miss: 2,
    hit: 1,
  })
  const decisions = await telemetry.points('portcullis.gate.decisions')
  t.equal(decisions.find((p) => p.attributes['portcullis.outcome'] === 'allowed')?.value, 2)
  t.equal(
    decisions.find((p) => p.attributes['portcullis.reason'] === 'signature_invalid')?.value,
    1,
    'refusals by reason',
  )
})

t.test('a verification decided at once is a cache miss, then a hit', async (t) => {
  const telemetry = instrumented(t)
  const signer = await tokenSigner({
    claims: { iss: 'https://id.example.com', aud: RESOURCE, scope: 'notes:read', client_id: 'notes-app' },
  })
  const gate = gateWith(
    jwtVerifier({
      issuer: 'https://id.example.com',
      audience: RESOURCE,
      keys: [signer.publicJwk],
      signatureCheck: 'event-loop',
    }),
  )
  const token = await signer.mint()
  const first = gate.authenticateNow({ authorization: `Bearer ${token}` })
  t.notOk(first instanceof Promise, 'answered at once')
  const second = gate.authenticateNow({ authorization: `Bearer ${token}` })
  t.match([first, second], [{ ok: true }, { ok: true }])
  const spans = telemetry.spans().filter((s) => s.name === 'portcullis.authenticate')
  t.same(
    spans.map((s) => s.attributes['portcullis.cache.hit']),
    [false, true],
    'the first answer came from a verification, the second from the cache',
  )
})

t.test('a span per scope check; a refused one is a step-up with the missing scopes', async (t) => {
  const telemetry = instrumented(t)
  const gate = gateWith(rememberingVerifier())
  const result = await gate.authenticate({ authorization: 'Bearer good' })
  if (!result.ok) throw new Error('expected the token to pass')
  t.ok(gate.authorize(result.auth, ['notes:read']).ok)
  t.notOk(gate.authorize(result.auth, { anyOf: ['notes:write', 'notes:admin'] }).ok)
  const [allowed, refused] = telemetry.spans().filter((s) => s.name === 'portcullis.authorize')
  t.match(allowed?.attributes, {
    'portcullis.outcome': 'allowed',
    'portcullis.scopes.required': ['notes:read'],
  })
  t.match(refused?.attributes, {
    'portcullis.outcome': 'step_up',
    'portcullis.reason': 'scope_insufficient',
    'portcullis.scopes.required': ['notes:write', 'notes:admin'],
    'portcullis.token.fingerprint': tokenFingerprint('good'),
  })
  const decisions = await telemetry.points('portcullis.gate.decisions')
  t.equal(decisions.find((p) => p.attributes['portcullis.outcome'] === 'step_up')?.value, 1)
})

t.test('introspection calls: a client span and a counter by outcome, never the token', async (t) => {
  const telemetry = instrumented(t)
  const as = await introspectionServer()
  t.teardown(as.close)
  const token = 'opaque-token-value-1234'
  as.answers.set(token, {
    active: true,
    iss: as.origin,
    aud: RESOURCE,
    client_id: 'notes-app',
    scope: 'notes:read',
    exp: Math.floor(Date.now() / 1000) + 600,
  })
  const verifier = introspectionVerifier({
    issuer: as.origin,
    endpoint: as.endpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: RESOURCE,
    cache: false,
  })
  await verifier.verifyAccessToken(token)
  as.mode = 'error500'
  await t.rejects(verifier.verifyAccessToken(token))
  const spans = telemetry.spans().filter((s) => s.name === 'portcullis.introspect')
  t.equal(spans.length, 2)
  t.equal(spans[0]?.status.code, SpanStatusCode.UNSET)
  t.equal(spans[1]?.status.code, SpanStatusCode.ERROR)
  t.notOk(JSON.stringify(spans.map((s) => [s.attributes, s.status])).includes(token))
  const calls = await telemetry.points('portcullis.introspection.calls')
  t.same(Object.fromEntries(calls.map((p) => [p.attributes['portcullis.upstream.outcome'], p.value])), {
    ok: 1,
    error: 1,
  })
  const durations = await telemetry.points('portcullis.introspection.duration')
  t.equal(durations.length, 2, 'a duration per outcome')
})

t.test('key set fetches: ok and failed, each a span and a count', async (t) => {
  const telemetry = instrumented(t, { traces: true })
  const server = await loopbackServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"keys":[]}')
  })
  t.teardown(server.close)
  const keys = jwksKeySet({ jwksUri: `${server.origin}/jwks` })
  await t.rejects(keys.refresh(), 'a key set with no usable key fails')
  const down = jwksKeySet({ jwksUri: `http://127.0.0.1:${await refusedPort()}/jwks` })
  await t.rejects(down.refresh())
  const spans = telemetry.spans().filter((s) => s.name === 'portcullis.jwks.fetch')
  t.equal(spans.length, 2)
  t.ok(spans.every((s) => s.status.code === SpanStatusCode.ERROR))
  t.equal(spans[0]?.attributes['url.full'], `${server.origin}/jwks`)
  const fetches = await telemetry.points('portcullis.jwks.fetches')
  t.match(fetches, [{ attributes: { 'portcullis.upstream.outcome': 'error' }, value: 2 }])
})

t.test(
  'options: traces or metrics off; a second instrumentation replaces the first; bad providers named',
  async (t) => {
    const first = instrumented(t)
    const second = instrumented(t, { traces: false })
    const gate = gateWith(rememberingVerifier())
    await gate.authenticate({ authorization: 'Bearer good' })
    t.equal(first.spans().length, 0, 'the first instrumentation was stopped')
    t.equal(second.spans().length, 0, 'traces off: no span')
    t.equal((await second.points('portcullis.gate.decisions'))[0]?.value, 1, 'metrics still counted')
    t.throws(
      () => instrumentPortcullis({ tracerProvider: {} as never }),
      /instrumentPortcullis: option "tracerProvider": expected an OpenTelemetry TracerProvider/,
    )
    t.throws(() => instrumentPortcullis({ spans: true } as never), /instrumentPortcullis: .*spans/)
  },
)

t.test('health gauges: a key set ok with the age of its keys, one down', async (t) => {
  const { jwtVerifier } = await import('@portcullis/core')
  const signer = await tokenSigner({ kid: 'k1' })
  const jwk = signer.publicJwk
  const keys = await loopbackServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: [jwk] }))
  })
  t.teardown(keys.close)
  const issuer = keys.origin
  const up = createGate({
    resource: RESOURCE,
    authorizationServers: [issuer],
    verifier: jwtVerifier({ issuer, audience: RESOURCE, jwksUri: `${issuer}/jwks` }),
  })
  const downUri = `http://127.0.0.1:${await refusedPort()}/jwks`
  const down = createGate({
    resource: 'https://other.example.com/mcp',
    authorizationServers: [issuer],
    verifier: jwtVerifier({ issuer, audience: 'https://other.example.com/mcp', jwksUri: downUri }),
  })
  const telemetry = instrumented(t, { gates: [up, down] })
  t.same(await telemetry.points('portcullis.health.status'), [], 'nothing fetched yet: unknown, not reported')

  const token = await signer.mint({ iss: issuer, aud: RESOURCE, sub: 'alice', scope: 'notes:read' })
  t.ok((await up.authenticate({ authorization: `Bearer ${token}` })).ok)
  t.notOk((await down.authenticate({ authorization: `Bearer ${token}` })).ok)

  const status = await telemetry.points('portcullis.health.status')
  t.match(status, [
    {
      value: 2,
      attributes: {
        'portcullis.resource': RESOURCE,
        'portcullis.component': 'key_set',
        'portcullis.component.name': `${issuer}/jwks`,
        'portcullis.health.status': 'ok',
      },
    },
    { value: 0, attributes: { 'portcullis.component.name': downUri, 'portcullis.health.status': 'down' } },
  ])
  const age = await telemetry.points('portcullis.health.duration')
  t.equal(age.length, 1, 'a duration where the status has a start')
  t.ok((age[0]?.value as number) >= 0 && (age[0]?.value as number) < 60, 'the keys were fetched just now')
  t.throws(
    () => instrumentPortcullis({ gates: [{}] as never }),
    /instrumentPortcullis: option "gates.0": expected a gate/,
  )
})

t.test('health gauges: the deny list reports how many revocations it holds', async (t) => {
  const { MemoryDenyList, createGate: gateOf, jwtVerifier: verifierOf } = await import('@portcullis/core')
  const denyList = new MemoryDenyList()
  const issuer = 'https://issuer.example.com'
  const gate = gateOf({
    resource: RESOURCE,
    authorizationServers: [issuer],
    verifier: verifierOf({ issuer, audience: RESOURCE, jwksUri: `${issuer}/jwks` }),
    denyList,
  })
  const telemetry = instrumented(t, { gates: [gate] })
  const before = await telemetry.points('portcullis.health.entries')
  t.match(before, [{ value: 0, attributes: { 'portcullis.component': 'deny_list' } }], 'an empty list: 0')
  const expiresAt = Math.floor(Date.now() / 1000) + 600
  denyList.add({ jti: 'a', issuer, expiresAt })
  denyList.add({ jti: 'b', issuer, expiresAt })
  const after = await telemetry.points('portcullis.health.entries')
  t.match(after, [
    { value: 2, attributes: { 'portcullis.resource': RESOURCE, 'portcullis.component': 'deny_list' } },
  ])
  t.equal(
    gate.health().components.find((c) => c.component === 'deny_list')?.entries,
    2,
    'and in gate.health()',
  )
})

t.test('authorization server discoveries: a client span per discovery, counted by outcome', async (t) => {
  const { discoverAuthorizationServer, LruCache } = await import('@portcullis/core')
  const telemetry = instrumented(t)
  const as = await loopbackServer((req, res) => {
    if (req.url !== '/.well-known/oauth-authorization-server') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ issuer: as.origin, token_endpoint: `${as.origin}/token` }))
  })
  t.teardown(as.close)
  const cache = () => new LruCache<DiscoveryCacheEntry>({ maxEntries: 4 })
  const found = await discoverAuthorizationServer(as.origin, { cache: cache() })
  t.equal(found.metadata.issuer, as.origin)
  const gone = `http://127.0.0.1:${await refusedPort()}`
  await t.rejects(discoverAuthorizationServer(gone, { cache: cache() }))
  const spans = telemetry.spans().filter((s) => s.name === 'portcullis.discovery')
  t.same(
    spans.map((s) => [s.attributes['portcullis.issuer'], s.status.code]),
    [
      [as.origin, SpanStatusCode.UNSET],
      [gone, SpanStatusCode.ERROR],
    ],
  )
  const probes = await telemetry.points('portcullis.discovery.probes')
  t.same(Object.fromEntries(probes.map((p) => [p.attributes['portcullis.upstream.outcome'], p.value])), {
    ok: 1,
    error: 1,
  })
})
