import { type DenyList, denyListWait } from '../token/deny-list.js'
import type { KeySetStatus } from '../token/key-set.js'

/**
 * `ok`: working. `degraded`: requests still succeed, on borrowed time (stale keys, an upstream
 * failing while cached answers last). `down`: requests that need this part fail. `unknown`: not
 * used yet (a key set is fetched on the first token), so nothing to say.
 */
export type HealthStatus = 'ok' | 'degraded' | 'down' | 'unknown'

/** One part the gate depends on, as last seen: no health call makes a network request. */
export interface ComponentHealth {
  component: 'key_set' | 'introspection' | 'deny_list' | 'mcp_sessions'
  /** Which one: the key set or introspection URL, or the deny list's kind. */
  name: string
  status: HealthStatus
  /** When this status began, ISO 8601: stale since, failing since, last success. */
  since?: string
  /** The last error, or counts. Never a token or secret. */
  detail?: string
  /** Entries a bounded table holds now (the deny list's revocations), when it says. */
  entries?: number
}

/**
 * What a readiness probe needs: `status` is the worst of the components (`unknown` counts as ok:
 * a gate that has not seen a token yet is ready). `ready` is false only when something is down.
 */
export interface GateHealth {
  status: 'ok' | 'degraded' | 'down'
  ready: boolean
  checkedAt: string
  components: ComponentHealth[]
}

/** A verifier (or other part) that can say how it is. The built-in verifiers all can. */
export interface HealthReporter {
  health(): ComponentHealth[]
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString())

/** A key set's status as a component: stale keys are degraded, no keys after a failure is down. */
export function keySetHealth(name: string, status: KeySetStatus): ComponentHealth {
  const base = { component: 'key_set' as const, name }
  if (status.keys === 0) {
    if (status.lastError === undefined) return { ...base, status: 'unknown', detail: 'not fetched yet' }
    return { ...base, status: 'down', detail: status.lastError }
  }
  if (status.stale) {
    const since = iso(status.staleSince)
    return {
      ...base,
      status: 'degraded',
      ...(since === undefined ? {} : { since }),
      detail: `serving ${status.keys} stale key(s) because refreshing failed: ${status.lastError ?? 'unknown error'}`,
    }
  }
  const since = iso(status.lastFetchAt)
  return { ...base, status: 'ok', ...(since === undefined ? {} : { since }), detail: `${status.keys} key(s)` }
}

/** The components of a verifier that reports them; none for a custom verifier that does not. */
export function verifierHealth(verifier: unknown): ComponentHealth[] {
  const health = (verifier as Partial<HealthReporter> | null)?.health
  return typeof health === 'function' ? health.call(verifier) : []
}

/**
 * A deny list's component: down while it cannot vouch for tokens (`unavailableFor() > 0`: a shared
 * list not loaded yet or too stale; the gate answers 503 meanwhile), else up.
 */
export function denyListHealth(denyList: DenyList): ComponentHealth {
  const entries = entriesOf(denyList)
  // The gate's own rule (deny-list.ts), so health and the 503 answers always agree.
  const wait = denyListWait(denyList)
  const kind = denyList.constructor?.name
  const base = { component: 'deny_list' as const, name: kind && kind !== 'Object' ? kind : 'deny list' }
  if (wait > 0) {
    return {
      ...base,
      status: 'down',
      detail: `cannot vouch for tokens; tokens get 503 with Retry-After ${wait}`,
    }
  }
  return {
    ...base,
    status: 'ok',
    ...(entries === undefined ? {} : { detail: `${entries} revocation(s)`, entries }),
  }
}

/** A memory list's `size`, a shared list's `stats().entries` (@portcullis/redis); never throws. */
function entriesOf(denyList: DenyList): number | undefined {
  try {
    const list = denyList as { size?: unknown; stats?: () => { entries?: unknown } }
    const entries = typeof list.size === 'number' ? list.size : list.stats?.().entries
    return typeof entries === 'number' && Number.isFinite(entries) ? entries : undefined
  } catch {
    return undefined
  }
}

const RANK: Record<HealthStatus, number> = { unknown: 0, ok: 0, degraded: 1, down: 2 }

/** The overall answer from the components. */
export function summariseHealth(components: ComponentHealth[], now: number = Date.now()): GateHealth {
  const worst = components.reduce((rank, c) => Math.max(rank, RANK[c.status]), 0)
  const status = worst === 2 ? 'down' : worst === 1 ? 'degraded' : 'ok'
  return { status, ready: status !== 'down', checkedAt: new Date(now).toISOString(), components }
}

// Parts that join a gate's health after it is built (an MCP route's session table), by gate.
const addedParts = new WeakMap<object, Set<() => ComponentHealth>>()

/**
 * Adds a part to what `owner.health()` reports (an MCP route adds its session table to its gate's).
 * Returns the function that removes it (the route's `close()`).
 */
export function addHealthPart(owner: object, part: () => ComponentHealth): () => void {
  let parts = addedParts.get(owner)
  if (parts === undefined) {
    parts = new Set()
    addedParts.set(owner, parts)
  }
  parts.add(part)
  return () => void parts.delete(part)
}

/** The parts added to `owner` (`addHealthPart`), as they are now. */
export function addedHealthOf(owner: object): ComponentHealth[] {
  const parts = addedParts.get(owner)
  return parts === undefined ? [] : [...parts].map((part) => part())
}

/**
 * An MCP route's session table: degraded while it is full (a new 2025-era session gets 503 until
 * one closes or idles out), with its size as `entries`.
 */
export function sessionTableHealth(path: string, open: number, max: number): ComponentHealth {
  const base = {
    component: 'mcp_sessions' as const,
    name: path,
    entries: open,
    detail: `${open} of ${max} sessions`,
  }
  return open >= max ? { ...base, status: 'degraded' } : { ...base, status: 'ok' }
}
