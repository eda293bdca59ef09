import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel'
import {
  type Attributes,
  context,
  type MeterProvider,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import { z } from 'zod'
import type { AuthenticateResult } from '../gate/gate-types.js'
import { requirementParts, type ScopeRequirement } from '../oauth/scopes.js'
import { parseOptions } from '../support/options.js'
import { subscribeSafely } from '../token/key-set-events.js'
import { AUDIT_CHANNEL, type AuditEvent } from './audit.js'
import {
  createMetrics,
  type HealthSource,
  observeHealth,
  type PortcullisMetrics,
  upstreamOutcome,
} from './otel-metrics.js'
import {
  type AuthenticateTrace,
  type AuthorizeTrace,
  TELEMETRY_CHANNELS,
  type UpstreamTrace,
} from './telemetry-channels.js'

/** The instrumentation scope name of Portcullis's tracer and meter. */
export const INSTRUMENTATION_NAME = '@portcullis/core'

export interface InstrumentOptions {
  /** Where spans go. Default: the global provider (`trace.getTracerProvider()`, which follows a later registration). */
  tracerProvider?: TracerProvider
  /** Where metrics go. Default: the global provider at the time of the call (register the SDK first). */
  meterProvider?: MeterProvider
  /** Spans per decision, key set fetch, introspection call and MCP request. Default true. */
  traces?: boolean
  /** Counters and histograms. Default true. */
  metrics?: boolean
  /**
   * Gates whose `health()` is observed as gauges (`portcullis.health.status`, `portcullis.health.duration`):
   * key sets fresh or stale and since when, the introspection endpoint, the deny list.
   */
  gates?: readonly HealthSource[]
}

const optionsSchema = z
  .object({
    tracerProvider: z
      .custom<TracerProvider>((v) => typeof (v as TracerProvider)?.getTracer === 'function', {
        message: 'expected an OpenTelemetry TracerProvider (with getTracer)',
      })
      .optional(),
    meterProvider: z
      .custom<MeterProvider>((v) => typeof (v as MeterProvider)?.getMeter === 'function', {
        message: 'expected an OpenTelemetry MeterProvider (with getMeter)',
      })
      .optional(),
    traces: z.boolean().optional(),
    metrics: z.boolean().optional(),
    gates: z
      .array(
        z.custom<HealthSource>(
          (v) =>
            typeof (v as HealthSource)?.health === 'function' &&
            typeof (v as HealthSource)?.resource === 'string',
          { message: 'expected a gate (with resource and health())' },
        ),
      )
      .optional(),
  })
  .strict()

interface Active {
  tracer: Tracer | undefined
}

let active: Active | undefined

/** The tracer of the current instrumentation, if it records spans (used by the MCP route). */
export function telemetryTracer(): Tracer | undefined {
  return active?.tracer
}

/** What the bridge keeps per traced call, keyed by the call's trace context object. */
interface Open {
  span: Span | undefined
  started: number
}

/**
 * Turns Portcullis's tracing channels into OpenTelemetry spans and metrics, through
 * `@opentelemetry/api` only: bring your own SDK. Returns the function that stops. One
 * instrumentation is active at a time (a new call stops the previous one).
 *
 * Until this is called nothing subscribes to the channels, and the gate's hot path (a cached token)
 * does exactly what it does without telemetry: no span, no event object, no closure.
 *
 * @example
 * // after the OpenTelemetry SDK has started (NodeSDK, or your providers registered)
 * import { instrumentPortcullis } from '@portcullis/core'
 * const stop = instrumentPortcullis()
 */
export function instrumentPortcullis(options: InstrumentOptions = {}): () => void {
  const parsed = parseOptions(optionsSchema, options, 'instrumentPortcullis')
  stopActive?.()
  const tracer =
    parsed.traces === false
      ? undefined
      : (parsed.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME)
  const meter =
    parsed.metrics === false
      ? undefined
      : (parsed.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME)
  const meters = meter === undefined ? undefined : createMetrics(meter)
  const stopHealth =
    meter === undefined || parsed.gates === undefined ? undefined : observeHealth(meter, parsed.gates)
  const open = new WeakMap<object, Open>()
  const begin = (key: object, name: string, kind: SpanKind, attributes: Attributes) => {
    open.set(key, {
      span: tracer?.startSpan(name, { kind, attributes }, context.active()),
      started: performance.now(),
    })
  }
  const finish = (key: object): { span: Span | undefined; seconds: number } | undefined => {
    const entry = open.get(key)
    if (entry === undefined) return undefined
    open.delete(key)
    return { span: entry.span, seconds: (performance.now() - entry.started) / 1000 }
  }

  const unsubscribers = [
    // Decisions are counted from the audit events: one per decision, MCP step-ups included.
    ...(meters === undefined
      ? []
      : [
          subscribeSafely<AuditEvent>(AUDIT_CHANNEL, (event) => {
            const attributes: Attributes = {
              'portcullis.resource': event.resource,
              'portcullis.outcome': event.outcome,
            }
            if (event.reason !== undefined) attributes['portcullis.reason'] = event.reason
            meters.decisions.add(1, attributes)
          }),
        ]),
    subscribe<AuthenticateTrace>(TELEMETRY_CHANNELS.authenticate, {
      start: (t) =>
        begin(t, 'portcullis.authenticate', SpanKind.INTERNAL, { 'portcullis.resource': t.resource }),
      // A synchronous answer (or throw) ends here; a promise ends at asyncEnd.
      end: (t) => {
        if (t.result !== undefined || t.error !== undefined) endAuthentication(t, finish(t), meters)
      },
      asyncEnd: (t) => endAuthentication(t, finish(t), meters),
    }),
    subscribe<AuthorizeTrace>(TELEMETRY_CHANNELS.authorize, {
      start: (t) =>
        begin(t, 'portcullis.authorize', SpanKind.INTERNAL, {
          'portcullis.resource': t.resource,
          'portcullis.scopes.required': requiredScopes(t.requirement),
        }),
      end: (t) => endAuthorization(t, finish(t)),
    }),
    subscribe<UpstreamTrace>(TELEMETRY_CHANNELS.keySetFetch, {
      start: (t) => begin(t, 'portcullis.jwks.fetch', SpanKind.CLIENT, { 'url.full': t.url ?? '' }),
      end: (t) => {
        if (t.error !== undefined)
          endUpstream(t, finish(t), meters?.keySetFetches, meters?.keySetFetchDuration)
      },
      asyncEnd: (t) => endUpstream(t, finish(t), meters?.keySetFetches, meters?.keySetFetchDuration),
    }),
    subscribe<UpstreamTrace>(TELEMETRY_CHANNELS.introspection, {
      start: (t) => begin(t, 'portcullis.introspect', SpanKind.CLIENT, {}),
      end: (t) => {
        if (t.error !== undefined) {
          endUpstream(t, finish(t), meters?.introspectionCalls, meters?.introspectionDuration)
        }
      },
      asyncEnd: (t) => endUpstream(t, finish(t), meters?.introspectionCalls, meters?.introspectionDuration),
    }),
    subscribe<UpstreamTrace>(TELEMETRY_CHANNELS.discovery, {
      start: (t) =>
        begin(t, 'portcullis.discovery', SpanKind.CLIENT, { 'portcullis.issuer': t.issuer ?? '' }),
      end: (t) => {
        if (t.error !== undefined) endUpstream(t, finish(t), meters?.discoveries, undefined)
      },
      asyncEnd: (t) => endUpstream(t, finish(t), meters?.discoveries, undefined),
    }),
  ]
  const state: Active = { tracer }
  active = state
  const stop = () => {
    for (const unsubscribe of unsubscribers) unsubscribe()
    stopHealth?.()
    if (active === state) active = undefined
    if (stopActive === stop) stopActive = undefined
  }
  stopActive = stop
  return stop
}

let stopActive: (() => void) | undefined

type Handlers<T> = Partial<Record<'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error', (trace: T) => void>>

/** Subscribes to a tracing channel; a handler that throws is ignored (telemetry must not fail a request). */
function subscribe<T extends object>(name: string, handlers: Handlers<T>): () => void {
  const channel = tracingChannel(name) as unknown as TracingChannel<unknown, T>
  const noop = () => {}
  const safe = (handler: ((trace: T) => void) | undefined) => (message: unknown) => {
    if (handler === undefined) return
    try {
      handler(message as T)
    } catch {
      // ignored: telemetry is best effort
    }
  }
  const subscribers = {
    start: safe(handlers.start),
    end: safe(handlers.end),
    asyncStart: handlers.asyncStart === undefined ? noop : safe(handlers.asyncStart),
    asyncEnd: safe(handlers.asyncEnd),
    error: safe(handlers.error),
  }
  channel.subscribe(subscribers)
  return () => {
    channel.unsubscribe(subscribers)
  }
}

type Finished = { span: Span | undefined; seconds: number } | undefined

/** The attributes of an authentication's answer; never the token, only its fingerprint. */
function authenticationAttributes(result: AuthenticateResult): Attributes {
  if (result.ok) {
    const { auth } = result
    const issuer = auth.extra.iss
    return {
      'portcullis.outcome': 'allowed',
      'portcullis.token.fingerprint': auth.extra.fingerprint,
      'portcullis.scopes.granted': [...auth.scopes],
      ...(typeof issuer === 'string' ? { 'portcullis.issuer': issuer } : {}),
      ...(auth.clientId === '' ? {} : { 'portcullis.client_id': auth.clientId }),
    }
  }
  const { reason, status } = result.error
  const { fingerprint } = result.log.fields
  return {
    'portcullis.outcome': reason === 'token_revoked' ? 'revoked' : 'refused',
    'portcullis.reason': reason,
    'http.response.status_code': status,
    ...(fingerprint === undefined ? {} : { 'portcullis.token.fingerprint': fingerprint }),
  }
}

function endAuthentication(t: AuthenticateTrace, done: Finished, meters: PortcullisMetrics | undefined) {
  if (done === undefined) return
  const { span, seconds } = done
  const attributes: Attributes =
    t.result === undefined ? { 'portcullis.outcome': 'error' } : authenticationAttributes(t.result)
  if (t.cacheHit !== undefined) attributes['portcullis.cache.hit'] = t.cacheHit
  if (span !== undefined) {
    span.setAttributes(attributes)
    const status = t.result !== undefined && !t.result.ok ? t.result.error.status : undefined
    if (t.error !== undefined) {
      span.recordException(t.error as Error)
      span.setStatus({ code: SpanStatusCode.ERROR })
    } else if (status !== undefined && status >= 500) {
      // A refused token is the gate doing its job; only a failure to decide is a span error.
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(attributes['portcullis.reason']) })
    }
    span.end()
  }
  if (meters === undefined) return
  const outcome = attributes['portcullis.outcome']
  const base = { 'portcullis.resource': t.resource, 'portcullis.outcome': outcome }
  meters.authenticationDuration.record(
    seconds,
    t.cacheHit === undefined ? base : { ...base, 'portcullis.cache.hit': t.cacheHit },
  )
  if (t.cacheHit !== undefined) {
    meters.cacheLookups.add(1, {
      'portcullis.resource': t.resource,
      'portcullis.cache.result': t.cacheHit ? 'hit' : 'miss',
    })
  }
}

function endAuthorization(t: AuthorizeTrace, done: Finished) {
  if (done === undefined) return
  const refused = t.result !== undefined && !t.result.ok ? t.result : undefined
  const missing = refused?.error.scopes ?? []
  if (done.span !== undefined) {
    done.span.setAttributes({
      'portcullis.outcome': refused === undefined ? 'allowed' : 'step_up',
      ...(refused === undefined
        ? {}
        : { 'portcullis.reason': refused.error.reason, 'portcullis.scopes.missing': [...missing] }),
      ...(typeof t.auth.extra?.fingerprint === 'string'
        ? { 'portcullis.token.fingerprint': t.auth.extra.fingerprint }
        : {}),
    })
    if (t.error !== undefined) done.span.setStatus({ code: SpanStatusCode.ERROR })
    done.span.end()
  }
}

function endUpstream(
  t: UpstreamTrace,
  done: Finished,
  counter: PortcullisMetrics['keySetFetches'] | undefined,
  duration: PortcullisMetrics['keySetFetchDuration'] | undefined,
) {
  if (done === undefined) return
  const failed = t.error !== undefined
  if (done.span !== undefined) {
    if (failed) {
      // The message may name an address or a status; it never holds a token (fetch errors carry URLs only).
      done.span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(t.error) })
    }
    done.span.end()
  }
  const attributes = upstreamOutcome(failed)
  counter?.add(1, attributes)
  duration?.record(done.seconds, attributes)
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function requiredScopes(requirement: ScopeRequirement): string[] {
  return [...requirementParts(requirement).scopes]
}
