import { createPublicKey, type JsonWebKey, KeyObject } from 'node:crypto'
import { z } from 'zod'
import { fetchJson } from './bounded-fetch.js'
import { invalidToken, temporarilyUnavailable } from './errors.js'
import {
  inferJwsAlgorithm,
  isJwsAlgorithm,
  type JwsAlgorithm,
  keyUnfitFor,
  RSA_JWS_ALGORITHMS,
  signatureVerifier,
  threadPoolSignatureVerifier,
} from './jws-algorithms.js'
import { publishKeySetEvent } from './key-set-events.js'
import { parseOptions } from './options.js'
import { secureUrlProblem } from './resource.js'
import { SingleFlight } from './single-flight.js'
import { traceKeySetFetch } from './telemetry-channels.js'

/** A public key bound to exactly one algorithm (RFC 8725 §3.1), ready to verify. */
export interface VerificationKey {
  readonly kid: string | undefined
  readonly alg: JwsAlgorithm
  readonly key: KeyObject
  /** Checks a signature over `data`; false for any failure, never throws. */
  verify(data: Buffer, signature: Buffer): boolean
  /** `verify` on libuv's thread pool; resolves false for any failure. Optional for key sets of your own. */
  verifyOnThreadPool?(data: Buffer, signature: Buffer): Promise<boolean>
}

export interface IgnoredKey {
  kid?: string
  reason: string
}

export interface KeySetStatus {
  /** When the key set document was last fetched successfully (ms since the epoch). */
  lastFetchAt: number | undefined
  /** Why the last fetch failed, if it did and no fetch succeeded since. */
  lastError: string | undefined
  /** Keys are past their cache lifetime and in use only because a refresh failed (stale-if-error). */
  stale: boolean
  /** When the held keys went past their lifetime (ms since the epoch), while `stale`. */
  staleSince?: number
  /** Usable keys held. */
  keys: number
  /** Keys of the document that were left out, and why. */
  ignored: IgnoredKey[]
}

/** Where a verifier gets its keys: a remote JWKS or a fixed list. */
export interface KeySet {
  /**
   * The one key for a token's `alg` and `kid`. Throws PortcullisError `invalid_token` (kid_unknown,
   * key_unsuitable) or `temporarily_unavailable` (jwks_unavailable).
   */
  getKey(header: { alg: string; kid?: string | undefined }): Promise<VerificationKey>
  status(): KeySetStatus
}

export interface RemoteKeySet extends KeySet {
  readonly jwksUri: string
  /** Fetches the document now (shares a fetch already under way). */
  refresh(): Promise<void>
}

const seconds = (name: string, fallback: number) =>
  z
    .number({ error: `${name} must be a number of seconds` })
    .nonnegative()
    .max(31_536_000)
    .default(fallback)

const jwksKeySetSchema = z
  .strictObject({
    jwksUri: z.union([z.string(), z.instanceof(URL)]).transform((value, ctx) => {
      // Key sets are fetched over https only; plain http only on loopback (development and tests).
      const problem = secureUrlProblem(String(value))
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `jwksUri ${problem}` })
      return String(value)
    }),
    fetchTimeoutMs: z.number().int().positive().max(60_000).default(5000),
    maxBytes: z
      .number()
      .int()
      .positive()
      .max(16 * 1024 * 1024)
      .default(512 * 1024),
    maxKeys: z.number().int().positive().max(10_000).default(100),
    cacheMaxAge: seconds('cacheMaxAge', 600),
    cacheMinAge: seconds('cacheMinAge', 60),
    cooldown: seconds('cooldown', 30),
    staleIfError: seconds('staleIfError', 86_400),
    rsaAlgorithm: z.enum(RSA_JWS_ALGORITHMS).default('RS256'),
    headers: z.record(z.string(), z.string()).optional(),
    now: z.custom<() => number>((value) => typeof value === 'function', 'now must be a function').optional(),
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

/** Distinct ignored keys reported per key set; a document that keeps changing them is not logged forever. */
const MAX_REPORTED_IGNORED = 100

/** A key given to `staticKeySet`: a public JWK, a public KeyObject, or either with its algorithm and kid. */
export type StaticKey = JsonWebKey | KeyObject | ExplicitKey

export interface ExplicitKey {
  key: JsonWebKey | KeyObject
  alg?: JwsAlgorithm
  kid?: string
}

/**
 * A fixed key set, for issuers without a JWKS endpoint and for tests. Same binding rules as
 * `jwksKeySet`; a key that cannot be used is an error here, not a silent omission.
 *
 * @example
 * const keySet = staticKeySet([{ kty: 'EC', crv: 'P-256', x: '…', y: '…', kid: 'k1' }])
 */
export function staticKeySet(
  keys: readonly StaticKey[],
  options: { rsaAlgorithm?: JwsAlgorithm } = {},
): KeySet {
  if (!Array.isArray(keys) || keys.length === 0)
    throw new TypeError('staticKeySet: keys must be a non-empty list')
  const imported: VerificationKey[] = []
  keys.forEach((entry, index) => {
    const explicit: ExplicitKey = isExplicitKey(entry) ? entry : { key: entry as JsonWebKey | KeyObject }
    const jwk: Record<string, unknown> =
      explicit.key instanceof KeyObject ? {} : { ...(explicit.key as Record<string, unknown>) }
    if (explicit.alg !== undefined) jwk.alg = explicit.alg
    if (explicit.kid !== undefined) jwk.kid = explicit.kid
    const result =
      explicit.key instanceof KeyObject
        ? bindKey(explicit.key, jwk, options.rsaAlgorithm ?? 'RS256')
        : importJwk(jwk, options.rsaAlgorithm ?? 'RS256')
    if (typeof result === 'string') throw new TypeError(`staticKeySet: key ${index}: ${result}`)
    imported.push(result)
  })
  if (new Set(imported.map((k) => `${k.alg} ${k.kid ?? ''}`)).size !== imported.length) {
    throw new TypeError('staticKeySet: two keys share a kid and algorithm')
  }
  const index = new KeyIndex(imported)
  const status: KeySetStatus = {
    lastFetchAt: undefined,
    lastError: undefined,
    stale: false,
    keys: index.size,
    ignored: [],
  }
  return {
    getKey: async (header) => {
      const found = index.find(header)
      if (found === undefined) throw invalidToken('kid_unknown', 'token signed with an unknown key')
      return found
    },
    status: () => ({ ...status }),
  }
}

/**
 * Imports a JWK Set document: every usable signing key bound to one algorithm, the rest listed
 * with the reason it was left out. A document that is not a key set, or holds more than
 * `maxKeys` entries, throws.
 */
export function importJwks(
  document: unknown,
  options: { maxKeys?: number; rsaAlgorithm?: JwsAlgorithm } = {},
): { keys: VerificationKey[]; ignored: IgnoredKey[] } {
  const list = (document as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new TypeError('not a JWK Set: no "keys" list') // RFC 7517 §5
  const maxKeys = options.maxKeys ?? 100
  if (list.length > maxKeys)
    throw new TypeError(`the key set lists ${list.length} keys, more than ${maxKeys}`)
  const keys: VerificationKey[] = []
  const ignored: IgnoredKey[] = []
  const seen = new Set<string>()
  for (const jwk of list) {
    const result = importJwk(jwk, options.rsaAlgorithm ?? 'RS256')
    const kid = typeof jwk?.kid === 'string' ? jwk.kid : undefined
    if (typeof result === 'string') {
      ignored.push(kid === undefined ? { reason: result } : { kid, reason: result })
      continue
    }
    const identity = `${result.alg} ${result.kid ?? ''}`
    if (seen.has(identity)) {
      ignored.push({
        ...(kid === undefined ? {} : { kid }),
        reason: 'repeats the kid and alg of an earlier key',
      })
      continue
    }
    seen.add(identity)
    keys.push(result)
  }
  return { keys, ignored }
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** One JWK to a bound key, or the reason it cannot be used for verifying signatures. */
function importJwk(jwk: unknown, rsaAlgorithm: JwsAlgorithm): VerificationKey | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'not a JSON object'
  const { kty, use, key_ops: keyOps, alg, kid } = jwk as Record<string, unknown>
  if (typeof kty !== 'string') return 'kty missing'
  if (kty === 'oct') return 'symmetric keys are never used to verify' // RFC 8725 §3.1
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return `unsupported kty ${kty}`
  if (use !== undefined && use !== 'sig') return `use is ${String(use)}, not sig` // RFC 7517 §4.2
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    return 'key_ops does not allow verify' // RFC 7517 §4.3
  }
  if (kid !== undefined && typeof kid !== 'string') return 'kid is not a string'
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) return 'private key material published'
  if (alg !== undefined && !isJwsAlgorithm(alg))
    return `alg ${String(alg)} is not a supported signature algorithm`
  let key: KeyObject
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
  } catch {
    return 'key material does not import'
  }
  return bindKey(key, jwk as Record<string, unknown>, rsaAlgorithm)
}

function bindKey(
  key: KeyObject,
  jwk: Record<string, unknown>,
  rsaAlgorithm: JwsAlgorithm,
): VerificationKey | string {
  if (key.type !== 'public') return 'not a public key'
  const alg = isJwsAlgorithm(jwk.alg) ? jwk.alg : inferJwsAlgorithm(key, rsaAlgorithm)
  if (alg === undefined) return `no signature algorithm for a ${key.asymmetricKeyType} key`
  const unfit = keyUnfitFor(key, alg)
  if (unfit !== undefined) return unfit
  const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
  return {
    kid,
    alg,
    key,
    verify: signatureVerifier(key, alg),
    verifyOnThreadPool: threadPoolSignatureVerifier(key, alg),
  }
}

function isExplicitKey(entry: StaticKey): entry is ExplicitKey {
  return !(entry instanceof KeyObject) && typeof entry === 'object' && entry !== null && 'key' in entry
}

/** Keys by kid; `kid` is only ever a Map key (RFC 8725 §3.10). */
class KeyIndex {
  readonly #byKid = new Map<string, VerificationKey[]>()
  readonly #all: readonly VerificationKey[]

  constructor(keys: readonly VerificationKey[]) {
    this.#all = keys
    for (const key of keys) {
      if (key.kid === undefined) continue
      const list = this.#byKid.get(key.kid)
      if (list === undefined) this.#byKid.set(key.kid, [key])
      else list.push(key)
    }
  }

  get size(): number {
    return this.#all.length
  }

  /**
   * The key for a header: by kid and alg, or, for a token without kid, the only key bound to its
   * alg. `undefined` when none is held (worth a refresh); throws when the answer cannot change.
   */
  find(header: { alg: string; kid?: string | undefined }): VerificationKey | undefined {
    const { alg, kid } = header
    if (kid !== undefined) {
      const list = this.#byKid.get(kid)
      if (list === undefined) return undefined
      for (const key of list) if (key.alg === alg) return key
      throw invalidToken(
        'key_unsuitable',
        `key ${JSON.stringify(kid)} is bound to ${list[0]?.alg}, not ${alg}`,
      )
    }
    let match: VerificationKey | undefined
    for (const key of this.#all) {
      if (key.alg !== alg) continue
      if (match !== undefined) throw invalidToken('kid_unknown', 'token has no kid and several keys fit')
      match = key
    }
    return match
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
