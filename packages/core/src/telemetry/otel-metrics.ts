import type { Attributes, BatchObservableResult, Counter, Histogram, Meter } from '@opentelemetry/api'
import type { GateHealth } from './health.js'

/** Seconds: a cache hit takes microseconds, a verification milliseconds, an upstream call up to seconds. */
const DURATION_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]

/**
 * The instruments of `instrumentPortcullis`, named `portcullis.*` (the attribute names are in
 * `docs/telemetry.md`). Created once per instrumentation from the meter it was given.
 */
export interface PortcullisMetrics {
  /** Decisions by `portcullis.outcome` (allowed, refused, revoked, step_up) and `portcullis.reason`. */
  decisions: Counter
  /** How long `authenticate` took, by outcome and `portcullis.cache.hit`. */
  authenticationDuration: Histogram
  /** Lookups of a token in the verifier's cache, by `portcullis.cache.result` (hit, miss). */
  cacheLookups: Counter
  /** Key set (JWKS) fetches, by `portcullis.upstream.outcome` (ok, error). */
  keySetFetches: Counter
  keySetFetchDuration: Histogram
  /** Introspection calls, by `portcullis.upstream.outcome` (ok, error). */
  introspectionCalls: Counter
  introspectionDuration: Histogram
  /** Authorization server metadata discoveries (cache misses), by `portcullis.upstream.outcome`. */
  discoveries: Counter
}

export function createMetrics(meter: Meter): PortcullisMetrics {
  const histogram = (name: string, description: string) =>
    meter.createHistogram(name, {
      description,
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    })
  return {
    decisions: meter.createCounter('portcullis.gate.decisions', {
      description: 'Access decisions of the gate, by outcome and reason',
      unit: '{decision}',
    }),
    authenticationDuration: histogram(
      'portcullis.gate.authentication.duration',
      'Time to authenticate a request: bearer, verification or its cache, audience, deny list',
    ),
    cacheLookups: meter.createCounter('portcullis.gate.cache.lookups', {
      description: "Lookups of a presented token in the verifier's cache, hit or miss",
      unit: '{lookup}',
    }),
    keySetFetches: meter.createCounter('portcullis.jwks.fetches', {
      description: 'Fetches of a remote JSON Web Key Set document',
      unit: '{fetch}',
    }),
    keySetFetchDuration: histogram('portcullis.jwks.fetch.duration', 'Time to fetch and import a key set'),
    introspectionCalls: meter.createCounter('portcullis.introspection.calls', {
      description: 'Calls to an RFC 7662 token introspection endpoint',
      unit: '{call}',
    }),
    introspectionDuration: histogram('portcullis.introspection.duration', 'Time of an introspection call'),
    discoveries: meter.createCounter('portcullis.discovery.probes', {
      description: "Discoveries of an authorization server's metadata (the MCP probe order, cache misses)",
      unit: '{discovery}',
    }),
  }
}

/** Attributes of one upstream call's outcome. */
export const upstreamOutcome = (failed: boolean): Attributes => ({
  'portcullis.upstream.outcome': failed ? 'error' : 'ok',
})

/** What the health gauges read: a gate (or anything with its `resource` and `health()`). */
export interface HealthSource {
  readonly resource: string
  health(): GateHealth
}

const STATUS_VALUE: Record<string, number> = { ok: 2, degraded: 1, down: 0 }

/**
 * Observable gauges over `health()` of the given gates, read at each collection (no request is
 * made: health is as last seen). Returns the function that stops observing.
 *
 * - `portcullis.health.status`: 2 ok, 1 degraded, 0 down, per component (`unknown` is not reported);
 * - `portcullis.health.duration`: seconds since the component's status began (for a key set that
 *   is ok, the age of its keys; degraded, how long stale keys have been serving);
 * - `portcullis.health.entries`: entries a bounded table holds (the deny list's revocations).
 */
export function observeHealth(meter: Meter, sources: readonly HealthSource[]): () => void {
  const status = meter.createObservableGauge('portcullis.health.status', {
    description: 'Health of each part a gate depends on: 2 ok, 1 degraded, 0 down',
    unit: '1',
  })
  const duration = meter.createObservableGauge('portcullis.health.duration', {
    description: "Time since the part's status began (for a key set that is ok: the age of its keys)",
    unit: 's',
  })
  const entries = meter.createObservableGauge('portcullis.health.entries', {
    description: 'Entries a bounded table of the gate holds now (the deny list: revocations)',
    unit: '{entry}',
  })
  const observe = (observer: BatchObservableResult) => {
    const now = Date.now()
    for (const source of sources) {
      for (const component of source.health().components) {
        const value = STATUS_VALUE[component.status]
        if (value === undefined) continue
        const attributes = {
          'portcullis.resource': source.resource,
          'portcullis.component': component.component,
          'portcullis.component.name': component.name,
          'portcullis.health.status': component.status,
        }
        observer.observe(status, value, attributes)
        if (component.entries !== undefined) observer.observe(entries, component.entries, attributes)
        if (component.since !== undefined) {
          observer.observe(duration, Math.max(0, (now - Date.parse(component.since)) / 1000), attributes)
        }
      }
    }
  }
  meter.addBatchObservableCallback(observe, [status, duration, entries])
  return () => meter.removeBatchObservableCallback(observe, [status, duration, entries])
}
