// The broker example's readiness route: 200 while the gate and the broker are ready, 503 with the
// part that is down when the upstream IdP stops answering or the shared state store (a real Redis)
// goes away; never a 500, never a secret in the answer.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AuthorizationServerHealth } from '@portcullis/authorization-server'
import { redisAdapter, redisConnection } from '@portcullis/redis'
import { redisServer } from '@portcullis/test-kit'
import t from 'tap'
import { BROKER_CLIENT, startBrokerStack } from './fixtures/broker-stack.js'

/** A little more than the broker's reuse window (5 s), so the next probe looks again. */
const REUSE_WINDOW_MS = 5200

interface HealthAnswer {
  status: number
  cacheControl: string | null
  text: string
  body: { ready: boolean; gate: { ready: boolean }; authorizationServer: AuthorizationServerHealth }
}

async function health(origin: string): Promise<HealthAnswer> {
  const response = await fetch(`${origin}/health`, { signal: AbortSignal.timeout(15_000) })
  const text = await response.text()
  return {
    status: response.status,
    cacheControl: response.headers.get('cache-control'),
    text,
    body: JSON.parse(text),
  }
}

const component = (answer: HealthAnswer, name: string) =>
  answer.body.authorizationServer.components.find((c) => c.component === name)

t.test('upstream answering, keys loaded, memory store: 200; upstream gone: 503 naming it', async (t) => {
  const stack = await startBrokerStack(t)
  const ready = await health(stack.origin)
  t.equal(ready.status, 200)
  t.equal(ready.cacheControl, 'no-store')
  t.match(ready.body, {
    ready: true,
    gate: { ready: true },
    authorizationServer: { status: 'ok', ready: true },
  })
  t.match(component(ready, 'upstream'), {
    status: 'ok',
    name: stack.idp.issuer,
    detail: /discovery document/,
  })
  t.match(component(ready, 'signing_keys'), {
    status: 'ok',
    name: 'in memory',
    detail: /^1 signing key\(s\)/,
  })
  t.match(component(ready, 'state_store'), { status: 'ok', name: 'memory' })
  t.notMatch(ready.text, BROKER_CLIENT.client_secret, 'no upstream client secret')
  t.notMatch(ready.text, /"d":|vaultKey|cookieKeys/, 'no key material')

  const again = await health(stack.origin)
  t.equal(
    again.body.authorizationServer.checkedAt,
    ready.body.authorizationServer.checkedAt,
    'a probe within 5 s reuses the last answer (no new upstream request)',
  )

  await stack.idp.close()
  await new Promise((resolve) => setTimeout(resolve, REUSE_WINDOW_MS))
  const down = await health(stack.origin)
  t.equal(down.status, 503, 'not ready')
  t.match(down.body, { ready: false, authorizationServer: { status: 'down', ready: false } })
  t.match(component(down, 'upstream'), { status: 'down', detail: /^not answering: / })
  t.match(component(down, 'state_store'), { status: 'ok' }, 'the other parts still say how they are')
  t.ok(
    Date.parse(component(down, 'upstream')!.since!) > Date.parse(component(ready, 'upstream')!.since!),
    'since: when the upstream went down',
  )
})

t.test('a shared store on Redis: ok while it answers, down when it is gone', async (t) => {
  const redis = await redisServer(t)
  const connection = redisConnection({ url: redis.url, keyPrefix: 'broker-health:' })
  t.teardown(() => connection.close())
  const dir = await mkdtemp(join(tmpdir(), 'broker-health-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const keysFile = join(dir, 'keys.json')
  const stack = await startBrokerStack(t, { broker: { adapter: redisAdapter(connection), keysFile } })

  const ready = await health(stack.origin)
  t.equal(ready.status, 200)
  t.match(component(ready, 'state_store'), { status: 'ok', name: 'configured adapter' })
  t.match(component(ready, 'signing_keys'), { status: 'ok', name: keysFile })

  await redis.kill()
  await new Promise((resolve) => setTimeout(resolve, REUSE_WINDOW_MS))
  const started = Date.now()
  const down = await health(stack.origin)
  t.ok(Date.now() - started < 10_000, 'answers within the store time limit, does not hang')
  t.equal(down.status, 503)
  t.match(component(down, 'state_store'), { status: 'down' })
  t.match(component(down, 'upstream'), { status: 'ok' }, 'the upstream is fine')
})
