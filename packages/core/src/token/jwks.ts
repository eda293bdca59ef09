import { z } from 'zod'
import { fetchJson } from '../support/bounded-fetch.js'
import { invalidToken, temporarilyUnavailable } from '../support/errors.js'
import { parseOptions } from '../support/options.js'
import { SingleFlight } from '../support/single-flight.js'
import { traceKeySetFetch } from '../telemetry/telemetry-channels.js'
import { fetchBoundsShape, nowSchema, secureUrlSchema } from './fetch-options.js'
import { RSA_JWS_ALGORITHMS } from './jws-algorithms.js'
import { importJwks, KeyIndex } from './key-import.js'
import type { IgnoredKey, RemoteKeySet, VerificationKey } from './key-set.js'
import { publishKeySetEvent } from './key-set-events.js'

/** Distinct ignored keys reported per key set; a document that keeps changing them is not logged forever. */
const MAX_REPORTED_IGNORED = 100

const seconds = (name: string, fallback: number) =>
  z
    .number({ error: `${name} must be a number of seconds` })
    .nonnegative()
    .max(31_536_000)
    .default(fallback)

const jwksKeySetSchema = z
  .strictObject({
    // Key sets are fetched over https only; plain http only on loopback (development and tests).
    jwksUri: secureUrlSchema('jwksUri'),
    ...fetchBoundsShape(512 * 1024),
    maxKeys: z.number().int().positive().max(10_000).default(100),
    cacheMaxAge: seconds('cacheMaxAge', 600),
    cacheMinAge: seconds('cacheMinAge', 60),
    cooldown: seconds('cooldown', 30),
    staleIfError: seconds('staleIfError', 86_400),
    rsaAlgorithm: z.enum(RSA_JWS_ALGORITHMS).default('RS256'),
    headers: z.record(z.string(), z.string()).optional(),
    now: nowSchema,
  })
  .refine((o) => o.cacheMinAge <= o.cacheMaxAge, {
    message: 'cacheMinAge must not exceed cacheMaxAge',
    path: ['cacheMinAge'],
  })

export type JwksKeySetOptions = z.input<typeof jwksKeySetSchema>

/** Validates key set options without a jwksUri (known only after discovery); throws like jwksKeySet. */
export function checkJwksKeySetOptions(options: Omit<JwksKeySetOptions, 'jwksUri'>, owner: string): void {
  parseOptions(jwksKeySetSchema, { ...options, jwksUri: 'https://jwks-uri.invalid/' }, owner)
}

/**
 * A remote JSON Web Key Set (RFC 7517 §5), fetched lazily, bounded and kept fresh:
 * - cached for the response's `Cache-Control: max-age`, clamped to [cacheMinAge, cacheMaxAge]
 *   (default 60 s–600 s);
 * - an unknown `kid` refreshes at most once per `cooldown` (30 s), so a flood of made-up key ids
 *   costs one fetch per cooldown;
 * - concurrent callers share one fetch;
 * - if a refresh fails, the keys held keep working for `staleIfError` (24 h) past their lifetime,
 *   and `status()` says so; each failed fetch and the first success after one are published as
 *   a `KeySetEvent` (see `onKeySetEvent`);
 * - each key is imported once and bound to one algorithm: its `alg`, else inferred (EC by curve,
 *   OKP EdDSA, RSA `rsaAlgorithm` = RS256). Keys for encryption, private or symmetric keys, weak or
 *   inconsistent keys are left out and listed in `status().ignored`.
 *
 * Durations are in seconds except `fetchTimeoutMs`.
 *
 * @example
 * const keySet = jwksKeySet({ jwksUri: 'https://idp.example/.well-known/jwks.json' })
 * const key = await keySet.getKey({ alg: 'RS256', kid: 'abc' })
 */
export function jwksKeySet(options: JwksKeySetOptions): RemoteKeySet {
  const o = parseOptions(jwksKeySetSchema, options, 'jwksKeySet')
  const now = o.now ?? Date.now
  const jwksUri = o.jwksUri
  const cooldownMs = o.cooldown * 1000
  const staleIfErrorMs = o.staleIfError * 1000
  // With no keys at all, retry sooner than the unknown-kid cooldown: every request is failing.
  const failureBackoffMs = Math.min(cooldownMs, 5000)
  const flight = new SingleFlight<void>()

  let held: KeyIndex | undefined
  let fetchedAt: number | undefined
  let freshUntil = 0
  let lastAttemptAt = Number.NEGATIVE_INFINITY
  let lastError: string | undefined
  let ignored: IgnoredKey[] = []
  /** Ignored keys already reported (`kid \n reason`), so each is logged once, not at every refresh. */
  const reported = new Set<string>()
  const reportIgnored = (keys: number) => {
    for (const key of ignored) {
      const id = `${key.kid ?? ''}\n${key.reason}`
      if (reported.has(id) || reported.size >= MAX_REPORTED_IGNORED) continue
      reported.add(id)
      publishKeySetEvent({ type: 'key_ignored', jwksUri, keys, stale: false, ignored: { ...key } })
    }
  }

  const load = async (): Promise<void> => {
    lastAttemptAt = now()
    try {
      const res = await fetchJson(jwksUri, {
        timeoutMs: o.fetchTimeoutMs,
        maxBytes: o.maxBytes,
        headers: { accept: 'application/jwk-set+json, application/json', ...o.headers },
      })
      const imported = importJwks(res.json, { maxKeys: o.maxKeys, rsaAlgorithm: o.rsaAlgorithm })
      if (imported.keys.length === 0) {
        ignored = imported.ignored
        reportIgnored(0)
        throw new Error(`the key set holds no usable signing key (${imported.ignored.length} ignored)`)
      }
      const at = now()
      held = new KeyIndex(imported.keys)
      ignored = imported.ignored
      reportIgnored(held.size)
      fetchedAt = at
      freshUntil = at + lifetimeMs(res.headers, o.cacheMinAge, o.cacheMaxAge)
      const recovered = lastError !== undefined
      lastError = undefined
      if (recovered) publishKeySetEvent({ type: 'refresh_recovered', jwksUri, keys: held.size, stale: false })
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error)
      // Held keys keep serving (stale-if-error), so the outage is reported rather than felt.
      publishKeySetEvent({
        type: 'refresh_failed',
        jwksUri,
        error: lastError,
        keys: held?.size ?? 0,
        stale: held !== undefined && now() >= freshUntil,
      })
      throw error
    }
  }

  const tracedLoad = () => traceKeySetFetch(jwksUri, load)
  const refresh = () => flight.run('jwks', tracedLoad)
  // The message goes to clients: it says what, not why. The why (lastError) is the cause, for logs.
  const unavailable = (cause?: unknown) => {
    const wait = Math.max(1, Math.ceil((lastAttemptAt + failureBackoffMs - now()) / 1000))
    return temporarilyUnavailable(
      'jwks_unavailable',
      'the signing keys of the authorization server are unavailable',
      wait,
      cause ?? new Error(lastError ?? 'not fetched yet'),
    )
  }

  /** Keys usable at `t`: fresh, or stale within the stale-if-error window (RFC 5861 §4 semantics). */
  const usable = (t: number) => (held !== undefined && t < freshUntil + staleIfErrorMs ? held : undefined)

  const getKey = async (header: { alg: string; kid?: string | undefined }): Promise<VerificationKey> => {
    const t = now()
    let keys = usable(t)
    if (keys === undefined) {
      if (flight.pending === 0 && t < lastAttemptAt + failureBackoffMs) throw unavailable()
      try {
        await refresh()
      } catch (cause) {
        throw unavailable(cause)
      }
      keys = usable(now())
      if (keys === undefined) throw unavailable()
    } else if (t >= freshUntil && flight.pending === 0 && t >= lastAttemptAt + cooldownMs) {
      // Past its lifetime: refresh in the background and serve the held keys meanwhile.
      refresh().catch(() => {})
    }
    const found = keys.find(header)
    if (found !== undefined) return found
    // RFC 7517 §4.5: an unknown kid may mean the issuer rotated keys; look again, once per cooldown.
    if (flight.pending > 0 || now() >= lastAttemptAt + cooldownMs) {
      await refresh().catch(() => {})
      const again = usable(now())?.find(header)
      if (again !== undefined) return again
    }
    throw invalidToken(
      'kid_unknown',
      header.kid === undefined ? 'no key fits a token without kid' : 'token signed with an unknown key',
    )
  }

  return {
    jwksUri,
    getKey,
    // Only while fresh: past its lifetime getKey starts the background refresh.
    heldKey: (header) => (held !== undefined && now() < freshUntil ? held.find(header) : undefined),
    refresh,
    status: () => {
      const stale = held !== undefined && now() >= freshUntil
      return {
        lastFetchAt: fetchedAt,
        lastError,
        stale,
        ...(stale ? { staleSince: freshUntil } : {}),
        keys: held?.size ?? 0,
        ignored: [...ignored],
      }
    },
  }
}

/** RFC 9111 §5.2.2.1 max-age minus §5.1 Age, clamped to [min, max] seconds. */
function lifetimeMs(headers: Headers, minSeconds: number, maxSeconds: number): number {
  const cacheControl = headers.get('cache-control') ?? ''
  let seconds = maxSeconds
  if (/(?:^|,)\s*no-(?:cache|store)\b/i.test(cacheControl)) seconds = minSeconds
  else {
    const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl)
    if (maxAge !== null) {
      const age = Number(headers.get('age') ?? 0)
      seconds = Number(maxAge[1]) - (Number.isFinite(age) && age > 0 ? age : 0)
    }
  }
  return Math.min(maxSeconds, Math.max(minSeconds, seconds)) * 1000
}
