import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api'

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
  }
}

/** Attributes of one upstream call's outcome. */
export const upstreamOutcome = (failed: boolean): Attributes => ({
  'portcullis.upstream.outcome': failed ? 'error' : 'ok',
})
