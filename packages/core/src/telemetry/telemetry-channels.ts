import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel'
import type { AuthenticateInput, AuthenticateResult, AuthorizeResult } from '../gate/gate-types.js'
import type { ScopeRequirement } from '../oauth/scopes.js'
import type { AuthInfo } from '../token/auth-info.js'

/**
 * The tracing channels (`node:diagnostics_channel`, start/end/asyncStart/asyncEnd/error) that
 * telemetry subscribes to: `instrumentPortcullis` turns them into OpenTelemetry spans and
 * metrics, and anyone may subscribe directly. Publishing checks `start.hasSubscribers` first, so
 * with no subscriber a traced call is the plain call: no context object, no closure.
 */
export const TELEMETRY_CHANNELS = Object.freeze({
  /** One gate authentication (bearer, verifier or its cache, audience, deny list). */
  authenticate: 'portcullis:authenticate',
  /** One scope check of a verified caller. */
  authorize: 'portcullis:authorize',
  /** One fetch of a remote key set (JWKS) document. */
  keySetFetch: 'portcullis:jwks-fetch',
  /** One call to an RFC 7662 introspection endpoint. */
  introspection: 'portcullis:introspection',
  /** One discovery of an authorization server's metadata (RFC 8414 / OIDC, in the MCP probe order; cache misses). */
  discovery: 'portcullis:discovery',
})

/** The context of an `authenticate` trace; `result` is set before `end` (sync) or `asyncEnd`. */
export interface AuthenticateTrace {
  resource: string
  /**
   * Whether the verifier's cache answered: set when a token reached the verifier. A promise means
   * verification ran; so does a synchronous answer the gate marks fresh (`Freshness`).
   */
  cacheHit?: boolean
  result?: AuthenticateResult
  error?: unknown
}

/** The context of an `authorize` trace. */
export interface AuthorizeTrace {
  resource: string
  auth: Pick<AuthInfo, 'scopes' | 'extra'>
  requirement: ScopeRequirement
  result?: AuthorizeResult
  error?: unknown
}

/** The context of an upstream call (`keySetFetch`, `introspection`, `discovery`). */
export interface UpstreamTrace {
  /** The URL called (a key set URI; absent for introspection, whose endpoint may be discovered). */
  url?: string
  /** The issuer whose metadata is discovered (`discovery`). */
  issuer?: string
  error?: unknown
}

/** A tracing channel typed by its context object (Node's types leave the context `{}`). */
const traced = <T extends object>(name: string) =>
  tracingChannel(name) as unknown as TracingChannel<unknown, T>

const authenticateChannel = traced<AuthenticateTrace>(TELEMETRY_CHANNELS.authenticate)
const authorizeChannel = traced<AuthorizeTrace>(TELEMETRY_CHANNELS.authorize)
const keySetFetchChannel = traced<UpstreamTrace>(TELEMETRY_CHANNELS.keySetFetch)
const introspectionChannel = traced<UpstreamTrace>(TELEMETRY_CHANNELS.introspection)
const discoveryChannel = traced<UpstreamTrace>(TELEMETRY_CHANNELS.discovery)

/**
 * Set by the gate during one synchronous `authenticate` call: whether its answer at once came from
 * a verification made in that call (a verifier that decided without waiting), not from the cache.
 */
export interface Freshness {
  verified: boolean
}

// Reasons decided before any token reaches the verifier: neither a cache hit nor a miss.
const BEFORE_VERIFIER = new Set(['attempts_exceeded'])

/**
 * Runs `authenticate(input)` (sync answer or promise) inside the `authenticate` tracing channel.
 * The function and its argument are passed apart so that, with no subscriber, nothing is allocated.
 */
export function traceAuthentication(
  resource: string,
  authenticate: (input: AuthenticateInput) => AuthenticateResult | Promise<AuthenticateResult>,
  input: AuthenticateInput,
  freshness?: Freshness,
): AuthenticateResult | Promise<AuthenticateResult> {
  if (!authenticateChannel.start.hasSubscribers) return authenticate(input)
  const trace: AuthenticateTrace = { resource }
  authenticateChannel.start.publish(trace)
  let result: AuthenticateResult | Promise<AuthenticateResult>
  try {
    result = authenticate(input)
  } catch (error) {
    trace.error = error
    authenticateChannel.error.publish(trace)
    authenticateChannel.end.publish(trace)
    throw error
  }
  if (!(result instanceof Promise)) {
    trace.result = result
    const fingerprint = result.ok ? result.auth.extra.fingerprint : result.log.fields.fingerprint
    if (fingerprint !== undefined && (result.ok || !BEFORE_VERIFIER.has(result.error.reason))) {
      trace.cacheHit = freshness?.verified !== true
    }
    authenticateChannel.end.publish(trace)
    return result
  }
  authenticateChannel.end.publish(trace)
  return result.then(
    (settled) => {
      trace.result = settled
      const fingerprint = settled.ok ? settled.auth.extra.fingerprint : settled.log.fields.fingerprint
      if (fingerprint !== undefined) trace.cacheHit = false
      authenticateChannel.asyncStart.publish(trace)
      authenticateChannel.asyncEnd.publish(trace)
      return settled
    },
    (error: unknown) => {
      trace.error = error
      authenticateChannel.error.publish(trace)
      authenticateChannel.asyncStart.publish(trace)
      authenticateChannel.asyncEnd.publish(trace)
      throw error
    },
  )
}

/** Runs a scope check inside the `authorize` tracing channel (nothing allocated without a subscriber). */
export function traceAuthorization<A extends Pick<AuthInfo, 'scopes' | 'token' | 'extra'>>(
  resource: string,
  authorize: (auth: A, requirement: ScopeRequirement) => AuthorizeResult,
  auth: A,
  requirement: ScopeRequirement,
): AuthorizeResult {
  if (!authorizeChannel.start.hasSubscribers) return authorize(auth, requirement)
  const trace: AuthorizeTrace = { resource, auth, requirement }
  authorizeChannel.start.publish(trace)
  try {
    trace.result = authorize(auth, requirement)
    return trace.result
  } catch (error) {
    trace.error = error
    authorizeChannel.error.publish(trace)
    throw error
  } finally {
    authorizeChannel.end.publish(trace)
  }
}

/** Runs one key set fetch inside the `keySetFetch` tracing channel. */
export function traceKeySetFetch(url: string, load: () => Promise<void>): Promise<void> {
  if (!keySetFetchChannel.start.hasSubscribers) return load()
  return keySetFetchChannel.tracePromise(load, { url })
}

/** Runs one introspection call inside the `introspection` tracing channel. */
export function traceIntrospection<T>(call: (token: string) => Promise<T>, token: string): Promise<T> {
  if (!introspectionChannel.start.hasSubscribers) return call(token)
  return introspectionChannel.tracePromise(call, {}, undefined, token)
}

/** Runs one discovery of `issuer`'s metadata inside the `discovery` tracing channel. */
export function traceDiscovery<T>(issuer: string, discover: () => Promise<T>): Promise<T> {
  if (!discoveryChannel.start.hasSubscribers) return discover()
  return discoveryChannel.tracePromise(discover, { issuer })
}
