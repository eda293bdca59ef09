import { generateKeyPairSync } from 'node:crypto'
import {
  createGate,
  introspectionVerifier,
  issuerRouter,
  jwksKeySet,
  jwtVerifier,
  MemoryDenyList,
} from '@portcullis/core'
import { loopbackServer, sendJson } from '@portcullis/test-kit'
import t from 'tap'

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = { ...p256.publicKey.export({ format: 'jwk' }), kid: 'e1' }
const RESOURCE = 'https://mcp.example.com/mcp'

t.test(
  'a key set: unknown before use, ok once fetched, degraded while stale, down with no keys',
  async (t) => {
    let status = 200
    const server = await loopbackServer((_req, res) => sendJson(res, status, { keys: [jwk] }))
    t.teardown(() => server.close())
    const jwksUri = `${server.origin}/jwks`
    let clock = Date.parse('2026-12-05T10:00:00Z')
    const keySet = jwksKeySet({ jwksUri, now: () => clock, cacheMaxAge: 60, cacheMinAge: 60, cooldown: 10 })
    const verifier = jwtVerifier({ issuer: 'https://id.example.com', audience: RESOURCE, keySet })
    const gate = createGate({
      resource: RESOURCE,
      authorizationServers: ['https://id.example.com'],
      verifier,
    })

    t.match(gate.health(), {
      status: 'ok',
      ready: true,
      components: [{ component: 'key_set', name: jwksUri, status: 'unknown' }],
    })
    await keySet.getKey({ alg: 'ES256', kid: 'e1' })
    const fresh = gate.health().components[0]
    t.same(fresh, {
      component: 'key_set',
      name: jwksUri,
      status: 'ok',
      since: '2026-12-05T10:00:00.000Z',
      detail: '1 key(s)',
    })

    status = 503
    clock += 90_000
    await keySet.refresh().catch(() => {})
    const health = gate.health()
    t.equal(health.status, 'degraded')
    t.equal(health.ready, true, 'stale keys still serve: ready')
    t.equal(
      health.components[0]?.since,
      '2026-12-05T10:01:00.000Z',
      'stale since the end of the keys lifetime',
    )
    t.match(health.components[0]?.detail, /serving 1 stale key\(s\) because refreshing failed: .*503/)
  },
)

t.test('a key set that never loaded is down, and the gate is not ready', async (t) => {
  const server = await loopbackServer((_req, res) => sendJson(res, 500, {}))
  t.teardown(() => server.close())
  const jwksUri = `${server.origin}/jwks`
  const verifier = jwtVerifier({ issuer: 'https://id.example.com', audience: RESOURCE, jwksUri })
  await verifier.keySet.getKey({ alg: 'ES256', kid: 'e1' }).catch(() => {})
  const health = createGate({
    resource: RESOURCE,
    authorizationServers: ['https://id.example.com'],
    verifier,
  }).health()
  t.match(health, {
    status: 'down',
    ready: false,
    components: [{ name: jwksUri, status: 'down', detail: /500/ }],
  })
})

t.test('introspection: reachable as last seen, and failing since when', async (t) => {
  let status = 200
  const server = await loopbackServer((_req, res) => sendJson(res, status, { active: false }))
  t.teardown(() => server.close())
  const endpoint = `${server.origin}/introspect`
  const verifier = introspectionVerifier({
    issuer: 'https://id.example.com',
    endpoint,
    clientId: 'rs',
    clientSecret: 'secret-value',
    audience: RESOURCE,
    cache: false,
  })
  t.match(verifier.health(), [{ component: 'introspection', name: endpoint, status: 'unknown' }])
  await verifier.verifyAccessToken('opaque-1').catch(() => {})
  t.match(verifier.health(), [{ status: 'ok', since: /^\d{4}-/ }])

  status = 502
  const before = Date.now()
  await verifier.verifyAccessToken('opaque-2').catch(() => {})
  await verifier.verifyAccessToken('opaque-3').catch(() => {})
  const [down] = verifier.health()
  t.equal(down?.status, 'down')
  t.ok(
    Date.parse(down!.since!) >= before - 5 && Date.parse(down!.since!) <= Date.now(),
    'since the first failure',
  )
  t.match(down?.detail, /502/)
  t.notMatch(JSON.stringify(verifier.health()), /secret-value|opaque-/, 'no secret, no token')

  status = 200
  await verifier.verifyAccessToken('opaque-4').catch(() => {})
  t.equal(verifier.health()[0]?.status, 'ok', 'recovers at the next good answer')
})

t.test('an issuer router reports each verifier once; the deny list is a component', async (t) => {
  const server = await loopbackServer((_req, res) => sendJson(res, 200, { keys: [jwk] }))
  t.teardown(() => server.close())
  const shared = jwtVerifier({
    issuer: 'https://a.example.com',
    audience: RESOURCE,
    jwksUri: `${server.origin}/a`,
  })
  const other = jwtVerifier({
    issuer: 'https://b.example.com',
    audience: RESOURCE,
    jwksUri: `${server.origin}/b`,
  })
  const router = issuerRouter({
    issuers: {
      'https://a.example.com': shared,
      'https://a.example.com/': shared,
      'https://b.example.com': other,
    },
  })
  const denyList = new MemoryDenyList()
  denyList.add({ fingerprint: 'AAAAAAAAAAAAAAAA', expiresAt: Math.floor(Date.now() / 1000) + 60 })
  const gate = createGate({
    resource: RESOURCE,
    authorizationServers: ['https://a.example.com'],
    verifier: router,
    denyList,
  })
  t.same(
    gate.health().components.map((c) => `${c.component} ${c.name} ${c.status} ${c.detail ?? ''}`),
    [
      `key_set ${server.origin}/a unknown not fetched yet`,
      `key_set ${server.origin}/b unknown not fetched yet`,
      'deny_list MemoryDenyList ok 1 revocation(s)',
    ],
  )
  // A shared list that cannot vouch for tokens yet (not loaded, or too stale).
  const reporting = { isDenied: () => false, unavailableFor: () => 2.5 }
  const custom = createGate({
    resource: RESOURCE,
    authorizationServers: ['https://a.example.com'],
    verifier: { verifyAccessToken: async () => Promise.reject(new Error('no')) },
    denyList: reporting,
  })
  t.match(custom.health(), {
    status: 'down',
    ready: false,
    components: [{ component: 'deny_list', name: 'deny list', status: 'down', detail: /Retry-After 3/ }],
  })
  t.equal(custom.ready(), custom.health().ready, 'health agrees with ready()')
})
