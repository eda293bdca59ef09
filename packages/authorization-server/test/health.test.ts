import { memoryAdapter } from '@portcullis/authorization-server'
import t from 'tap'
import { healthCheck } from '../src/health.js'
import { loadBrokerSecrets } from '../src/key-store.js'
import { resolveOptions } from '../src/options.js'
import { MODELS } from '../src/provider-configuration.js'
import { UpstreamClient } from '../src/upstream-client.js'
import { startStandaloneBroker, UPSTREAM_CLIENT } from './fixtures/broker.js'

t.test('a state store that does not answer: down after its time limit, not a hang', async (t) => {
  const memory = memoryAdapter()
  const { broker } = await startStandaloneBroker(t, {
    // A store that accepts connections but never answers (a partitioned Redis, say), for the probe's records.
    adapter: (name) =>
      name === MODELS.health ? { ...memory(name), upsert: () => new Promise<void>(() => {}) } : memory(name),
  })
  const started = Date.now()
  const health = await broker.health()
  t.ok(Date.now() - started < 5000, 'answers within the 2 s store limit (and some margin)')
  t.match(health, { status: 'down', ready: false })
  t.match(
    health.components.find((c) => c.component === 'state_store'),
    { status: 'down', name: 'configured adapter', detail: 'no answer within 2000 ms' },
  )
  t.match(
    health.components.find((c) => c.component === 'upstream'),
    { status: 'ok' },
  )
})

t.test(
  'signing keys older than the rotation age: degraded (ready), rotation at the next start',
  async (t) => {
    const { idp, origin } = await startStandaloneBroker(t)
    const options = resolveOptions({
      issuer: origin,
      resources: [{ resource: `${origin}/mcp`, scopes: ['notes:read'] }],
      upstream: {
        issuer: idp.issuer,
        clientId: UPSTREAM_CLIENT.client_id,
        clientSecret: UPSTREAM_CLIENT.client_secret,
      },
      roles: { scopes: { 'notes-reader': ['notes:read'] } },
      keyRotation: { rotateAfterDays: 30, overlapDays: 7 },
    })
    const upstream = await UpstreamClient.discover(options.upstream, `${origin}/oauth/upstream/callback`)
    const secrets = await loadBrokerSecrets(undefined, options.keyRotation)
    let clock = Date.now()
    const check = healthCheck({
      upstream,
      upstreamIssuer: idp.issuer,
      adapter: memoryAdapter(),
      adapterName: 'memory',
      secrets,
      keysFile: undefined,
      rotateAfterDays: 30,
      now: () => clock,
    })
    const fresh = await check()
    t.match(fresh, { status: 'ok', ready: true })
    clock += 31 * 86_400_000
    const due = await check()
    t.match(due, { status: 'degraded', ready: true })
    t.match(
      due.components.find((c) => c.component === 'signing_keys'),
      {
        status: 'degraded',
        detail: /rotation is due, at the next start$/,
        since: new Date(clock).toISOString(),
      },
    )
    t.match(
      due.components.find((c) => c.component === 'upstream'),
      {
        status: 'ok',
        since: new Date(clock - 31 * 86_400_000).toISOString(),
      },
      'an unchanged status keeps its since',
    )
  },
)
