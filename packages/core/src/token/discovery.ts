import { z } from 'zod'
import { secureUrlProblem } from '../oauth/resource.js'
import { FetchFailure, fetchJson } from '../support/bounded-fetch.js'
import { temporarilyUnavailable } from '../support/errors.js'
import { type CacheStore, LruCache } from '../support/lru-cache.js'
import { parseOptions } from '../support/options.js'
import { SingleFlight } from '../support/single-flight.js'
import { traceDiscovery } from '../telemetry/telemetry-channels.js'

/**
 * Authorization server metadata (RFC 8414 §2, OpenID Connect Discovery 1.0 §3), typed for the
 * members Portcullis reads. Every other member of the document is kept as received.
 */
export interface AuthorizationServerMetadata extends Record<string, unknown> {
  issuer: string
  authorization_endpoint?: string
  token_endpoint?: string
  jwks_uri?: string
  registration_endpoint?: string
  introspection_endpoint?: string
  revocation_endpoint?: string
  userinfo_endpoint?: string
  scopes_supported?: string[]
  response_types_supported?: string[]
  grant_types_supported?: string[]
  code_challenge_methods_supported?: string[]
  token_endpoint_auth_methods_supported?: string[]
  introspection_endpoint_auth_methods_supported?: string[]
  revocation_endpoint_auth_methods_supported?: string[]
  /** RFC 9207 §3. */
  authorization_response_iss_parameter_supported?: boolean
  /** OAuth Client ID Metadata Document (MCP 2025-11-25 and later). */
  client_id_metadata_document_supported?: boolean
}

export interface DiscoveredAuthorizationServer {
  metadata: AuthorizationServerMetadata
  /** The well-known URL the document was read from. */
  metadataUrl: string
}

/** What the discovery cache holds per issuer: a document, or the failure (kept briefly). */
export type DiscoveryCacheEntry =
  | { ok: true; value: DiscoveredAuthorizationServer }
  | { ok: false; error: Error }

export interface DiscoveryOptions {
  /** Deadline per metadata URL, in ms. Default 5000. */
  fetchTimeoutMs?: number
  /** Largest metadata document accepted, in bytes. Default 256 KiB. */
  maxBytes?: number
  /**
   * Where results are kept, and the scope within which concurrent discoveries of one issuer share
   * one probe. Default: the process-wide cache (`processDiscoveryCache`, 100 issuers, LRU),
   * shared by every verifier not given its own. Give a `new LruCache({ maxEntries })` (or any
   * `CacheStore`) to keep a verifier's discoveries apart from the rest of the process.
   */
  cache?: CacheStore<DiscoveryCacheEntry>
  /** How long a discovered document is reused, in ms. Default 1 hour. */
  ttlMs?: number
  /** How long a failed discovery is remembered before it is tried again, in ms. Default 5 s. */
  failureTtlMs?: number
}

const optionsSchema = z.strictObject({
  fetchTimeoutMs: z.number().int().positive().max(60_000).optional(),
  maxBytes: z.number().int().positive().optional(),
  cache: z
    .custom<CacheStore<DiscoveryCacheEntry>>(
      (v) => typeof v === 'object' && v !== null && 'get' in v && 'set' in v,
      'must be a cache store with get and set',
    )
    .optional(),
  ttlMs: z.number().int().nonnegative().optional(),
  failureTtlMs: z.number().int().nonnegative().optional(),
})

const DEFAULT_TTL_MS = 60 * 60 * 1000
const DEFAULT_FAILURE_TTL_MS = 5000
/** The discovery cache used when none is given: one per process (per loaded copy of this module). */
export const processDiscoveryCache: CacheStore<DiscoveryCacheEntry> = new LruCache<DiscoveryCacheEntry>({
  maxEntries: 100,
})
// Probes in flight, per cache: callers with separate caches never share a probe (or its options).
const inFlightByCache = new WeakMap<
  CacheStore<DiscoveryCacheEntry>,
  SingleFlight<DiscoveredAuthorizationServer>
>()
const inFlightFor = (cache: CacheStore<DiscoveryCacheEntry>) => {
  let flights = inFlightByCache.get(cache)
  if (flights === undefined) {
    flights = new SingleFlight<DiscoveredAuthorizationServer>()
    inFlightByCache.set(cache, flights)
  }
  return flights
}

/** Raised (inside a discovery failure's `cause`) when a document names another issuer. */
export class IssuerMismatchError extends Error {
  override readonly name = 'IssuerMismatchError'
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `issuer mismatch: the document says ${quote(actual)} but the configured issuer is ${quote(expected)}` +
        mismatchHint(expected, actual),
    )
  }
}

/**
 * The metadata URLs to try for an issuer, in the order the MCP specification (2025-11-25,
 * 2026-07-28) gives: RFC 8414 path insertion, OIDC path insertion, then OIDC path appending
 * when the issuer has a path; the two root documents when it has none. A terminating `/` of the
 * issuer's path is dropped first (RFC 8414 §3.1, OIDC Discovery §4.1).
 *
 * Throws a TypeError for an issuer that is not an https URL (http on loopback hosts only), or
 * that has a query, fragment or credentials (RFC 8414 §2).
 *
 * @example
 * authorizationServerMetadataUrls('https://id.example.com/realms/r1')
 * // ['https://id.example.com/.well-known/oauth-authorization-server/realms/r1',
 * //  'https://id.example.com/.well-known/openid-configuration/realms/r1',
 * //  'https://id.example.com/realms/r1/.well-known/openid-configuration']
 */
export function authorizationServerMetadataUrls(issuer: string): string[] {
  const url = parseIssuer(issuer)
  const path = url.pathname.replace(/\/+$/, '')
  if (path === '') {
    return [
      `${url.origin}/.well-known/oauth-authorization-server`,
      `${url.origin}/.well-known/openid-configuration`,
    ]
  }
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ]
}

/**
 * Finds and reads an authorization server's metadata, trying each well-known URL in the MCP
 * order until one answers with a document whose `issuer` is exactly the one given (RFC 8414 §3.3:
 * byte for byte, a trailing slash included). Results are cached (1 hour), failures briefly (5 s),
 * and concurrent calls for one issuer with the same cache share one probe. The cache is
 * `options.cache`, by default the process-wide `processDiscoveryCache`.
 *
 * Fails with a PortcullisError `temporarily_unavailable` (reason `discovery_failed`) whose message
 * lists every URL tried and what it answered; `cause` is an AggregateError of the per-URL errors
 * (FetchFailure, IssuerMismatchError, or an Error for an unusable document).
 *
 * @example
 * const { metadata, metadataUrl } = await discoverAuthorizationServer('https://id.example.com/realms/r1')
 * metadata.introspection_endpoint // 'https://id.example.com/realms/r1/protocol/openid-connect/token/introspect'
 */
export async function discoverAuthorizationServer(
  issuer: string,
  options: DiscoveryOptions = {},
): Promise<DiscoveredAuthorizationServer> {
  const opts: DiscoveryOptions = parseOptions(optionsSchema, options, 'discoverAuthorizationServer')
  const urls = authorizationServerMetadataUrls(issuer)
  const cache = opts.cache ?? processDiscoveryCache
  const cached = cache.get(issuer)
  if (cached !== undefined) {
    if (cached.ok) return cached.value
    throw cached.error
  }
  try {
    const value = await inFlightFor(cache).run(issuer, () =>
      traceDiscovery(issuer, () => probe(issuer, urls, opts)),
    )
    cache.set(issuer, { ok: true, value }, opts.ttlMs ?? DEFAULT_TTL_MS)
    return value
  } catch (error) {
    cache.set(issuer, { ok: false, error: error as Error }, opts.failureTtlMs ?? DEFAULT_FAILURE_TTL_MS)
    throw error
  }
}

async function probe(
  issuer: string,
  urls: string[],
  opts: DiscoveryOptions,
): Promise<DiscoveredAuthorizationServer> {
  const failures: Error[] = []
  for (const url of urls) {
    try {
      const { json } = await fetchJson(url, { timeoutMs: opts.fetchTimeoutMs, maxBytes: opts.maxBytes })
      const metadata = readMetadata(json as Record<string, unknown>, issuer, url)
      return Object.freeze({ metadata, metadataUrl: url })
    } catch (error) {
      failures.push(error instanceof Error ? error : new Error(String(error)))
    }
  }
  const tried = urls.map((url, i) => `${url} -> ${describeFailure(failures[i])}`).join('; ')
  throw temporarilyUnavailable(
    'discovery_failed',
    `no authorization server metadata found for issuer ${quote(issuer)}; tried ${tried}`,
    5,
    new AggregateError(failures, 'every metadata URL failed'),
  )
}

function describeFailure(error: Error | undefined): string {
  if (error instanceof FetchFailure) {
    switch (error.kind) {
      case 'http_status':
        return `HTTP ${error.status}`
      case 'timeout':
        return `timeout (${error.message})`
      case 'malformed':
        return `not JSON (${error.message})`
      case 'too_large':
        return `too large (${error.message})`
      case 'network':
        return `unreachable (${error.message})`
    }
  }
  return error?.message ?? 'unknown failure'
}

const URL_MEMBERS = [
  'authorization_endpoint',
  'token_endpoint',
  'jwks_uri',
  'registration_endpoint',
  'introspection_endpoint',
  'revocation_endpoint',
  'userinfo_endpoint',
] as const
const LIST_MEMBERS = [
  'scopes_supported',
  'response_types_supported',
  'grant_types_supported',
  'code_challenge_methods_supported',
  'token_endpoint_auth_methods_supported',
  'introspection_endpoint_auth_methods_supported',
  'revocation_endpoint_auth_methods_supported',
] as const
const FLAG_MEMBERS = [
  'authorization_response_iss_parameter_supported',
  'client_id_metadata_document_supported',
] as const

/** Checks the members Portcullis relies on; a document that fails is not used at all. */
function readMetadata(
  doc: Record<string, unknown>,
  issuer: string,
  url: string,
): AuthorizationServerMetadata {
  if (typeof doc.issuer !== 'string') throw new Error('document has no issuer string')
  // RFC 8414 §3.3, OIDC Discovery §4.3: identical, or the document must not be used.
  if (doc.issuer !== issuer) throw new IssuerMismatchError(url, issuer, doc.issuer)
  for (const name of URL_MEMBERS) {
    const value = doc[name]
    if (value === undefined) continue
    if (typeof value !== 'string') throw new Error(`${name} is not a string`)
    // RFC 8414 §2: endpoints are https URLs; plain http only on loopback for development.
    const problem = secureUrlProblem(value)
    if (problem !== undefined) throw new Error(`${name} ${quote(value)} ${problem}`)
  }
  for (const name of LIST_MEMBERS) {
    const value = doc[name]
    if (value !== undefined && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
      throw new Error(`${name} is not a list of strings`)
    }
    if (value !== undefined) Object.freeze(value)
  }
  for (const name of FLAG_MEMBERS) {
    const value = doc[name]
    if (value !== undefined && typeof value !== 'boolean') throw new Error(`${name} is not a boolean`)
  }
  // Shared through the cache: frozen so no caller can change what the next one reads.
  return Object.freeze(doc) as AuthorizationServerMetadata
}

function parseIssuer(issuer: string): URL {
  if (typeof issuer !== 'string' || !URL.canParse(issuer)) {
    throw new TypeError(`issuer ${quote(String(issuer))} is not an absolute URL`)
  }
  const url = new URL(issuer)
  // RFC 8414 §2: "https" scheme, no query or fragment components.
  const insecure = secureUrlProblem(url)
  if (insecure !== undefined) throw new TypeError(`issuer ${quote(issuer)} ${insecure}`)
  if (issuer.includes('?') || issuer.includes('#')) {
    throw new TypeError(`issuer ${quote(issuer)} must not have a query or fragment`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(`issuer ${quote(issuer)} must not contain credentials`)
  }
  return url
}

/** Says what differs, since the two strings often look alike at a glance. */
function mismatchHint(expected: string, actual: string): string {
  if (actual === `${expected}/` || expected === `${actual}/`) return ' (they differ only by a trailing slash)'
  if (actual.toLowerCase() === expected.toLowerCase()) return ' (they differ only in letter case)'
  if (URL.canParse(actual) && URL.canParse(expected)) {
    const a = new URL(actual)
    const e = new URL(expected)
    if (a.protocol !== e.protocol) return ' (the schemes differ)'
    if (a.host !== e.host) return ` (the hosts differ: ${a.host} vs ${e.host})`
    return ' (the paths differ)'
  }
  return ''
}

const quote = (value: string) => JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value)
