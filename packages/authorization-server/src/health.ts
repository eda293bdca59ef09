import { randomUUID } from 'node:crypto'
import { type ComponentHealth, type HealthStatus, summariseHealth } from '@portcullis/core'
import type { BrokerSecrets } from './key-store.js'
import { MODELS } from './provider-configuration.js'
import type { ProviderAdapterFactory } from './provider-types.js'
import type { UpstreamClient } from './upstream-client.js'

/** One part the broker depends on. */
export interface AuthorizationServerComponentHealth {
  component: 'upstream' | 'signing_keys' | 'state_store'
  /** Which one: the upstream issuer, the keys file (or `in memory`), the adapter. */
  name: string
  status: HealthStatus
  /** When this status began, ISO 8601. */
  since?: string
  /** What was seen; never a token, key or secret. */
  detail?: string
}

/** What a readiness probe needs: `ready` is false only when a part is down. */
export interface AuthorizationServerHealth {
  status: 'ok' | 'degraded' | 'down'
  ready: boolean
  checkedAt: string
  components: AuthorizationServerComponentHealth[]
}

/** A probe's answer is reused this long, so frequent probes make at most one upstream call per interval. */
export const HEALTH_REUSE_MS = 5000
/** Longest wait for the state store's round trip. */
const STORE_TIMEOUT_MS = 2000
const DAY_MS = 86_400_000

export interface HealthContext {
  upstream: Pick<UpstreamClient, 'probe'>
  upstreamIssuer: string
  adapter: ProviderAdapterFactory
  adapterName: string
  secrets: BrokerSecrets
  keysFile: string | undefined
  rotateAfterDays: number
  now?: () => number
}

/**
 * The broker's readiness: the upstream IdP answering (its discovery document read again), the
 * signing keys loaded (degraded once rotation is due: it happens at the next start), the state
 * store answering a write, read and delete of a record of its own. Checks run together, each
 * bounded in time; one result serves every caller for `HEALTH_REUSE_MS`.
 */
export function healthCheck(context: HealthContext): () => Promise<AuthorizationServerHealth> {
  const now = context.now ?? Date.now
  const since = new Map<string, { status: HealthStatus; at: number }>()
  let last: { at: number; result: Promise<AuthorizationServerHealth> } | undefined

  const mark = (
    part: Omit<AuthorizationServerComponentHealth, 'since'>,
  ): AuthorizationServerComponentHealth => {
    const seen = since.get(part.component)
    const at = seen !== undefined && seen.status === part.status ? seen.at : now()
    since.set(part.component, { status: part.status, at })
    return { ...part, since: new Date(at).toISOString() }
  }

  const upstream = async () => {
    const base = { component: 'upstream' as const, name: context.upstreamIssuer }
    try {
      return mark({ ...base, status: 'ok', detail: await context.upstream.probe() })
    } catch (error) {
      return mark({ ...base, status: 'down', detail: `not answering: ${(error as Error).message}` })
    }
  }

  const signingKeys = () => {
    const keys = context.secrets.signingKeys
    const base = { component: 'signing_keys' as const, name: context.keysFile ?? 'in memory' }
    const newest = keys[0]
    if (newest === undefined) return mark({ ...base, status: 'down', detail: 'no signing key' })
    const ageDays = (now() - newest.createdAt * 1000) / DAY_MS
    const counted = `${keys.length} signing key(s), the newest from ${new Date(newest.createdAt * 1000).toISOString()}`
    if (ageDays >= context.rotateAfterDays)
      return mark({ ...base, status: 'degraded', detail: `${counted}: rotation is due, at the next start` })
    return mark({ ...base, status: 'ok', detail: counted })
  }

  const store = async () => {
    const base = { component: 'state_store' as const, name: context.adapterName }
    const model = context.adapter(MODELS.health)
    const id = randomUUID()
    let timer: NodeJS.Timeout | undefined
    try {
      const roundTrip = (async () => {
        await model.upsert(id, { checkedAt: now() }, 60)
        const found = await model.find(id)
        await model.destroy(id)
        if (found === undefined) throw new Error('a record just written was not found')
      })()
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${STORE_TIMEOUT_MS} ms`)),
          STORE_TIMEOUT_MS,
        )
      })
      await Promise.race([roundTrip, timeout])
      return mark({ ...base, status: 'ok', detail: 'write, read and delete answered' })
    } catch (error) {
      return mark({ ...base, status: 'down', detail: (error as Error).message })
    } finally {
      clearTimeout(timer)
    }
  }

  const run = async (): Promise<AuthorizationServerHealth> => {
    const components = await Promise.all([upstream(), Promise.resolve(signingKeys()), store()])
    // Core's rule for the overall answer (the worst part; ready unless one is down); it reads only `status`.
    const summary = summariseHealth(components as unknown as ComponentHealth[], now())
    return { ...summary, components }
  }

  return () => {
    if (last === undefined || now() - last.at >= HEALTH_REUSE_MS) last = { at: now(), result: run() }
    return last.result
  }
}
