import { z } from 'zod'
import { parseOptions } from '../support/options.js'
import type { AuthInfo } from './auth-info.js'
import { MAX_CLOCK_TOLERANCE, revocationLapsesAt } from './clock-tolerance.js'
import { tokenFingerprint } from './fingerprint.js'

/**
 * The revoked tokens a gate refuses even when their signature or introspection answer is still
 * good. The gate asks on every request, cache hits included, after verification, so `isDenied`
 * is synchronous: it reads local state and never waits on a network.
 *
 * It may throw a `PortcullisError` (e.g. `temporarily_unavailable` when the list is too stale to
 * be trusted): the gate answers with it. Any other throw fails the request closed (503).
 */
export interface DenyList {
  /** True when the token of this verified caller is revoked. */
  isDenied(auth: AuthInfo): boolean
  /**
   * Seconds to wait while the list cannot vouch for any token (a shared list not loaded yet, or
   * too stale to trust); 0 when it can. The gate answers 503 `revocation_unavailable` with this
   * `Retry-After` meanwhile, rather than admit a token the list might hold. Absent: always known.
   */
  unavailableFor?(): number
}

/**
 * One revoked token, named by its fingerprint (`tokenFingerprint`, the value Portcullis logs) or by
 * its `jti` claim (RFC 7519 §4.1.7; unique per issuer, so `issuer` narrows it to one issuer).
 * `expiresAt` (seconds since the epoch) is the token's own `exp`; the entry is kept until
 * `revocationLapsesAt(expiresAt)`, past the clock tolerance any verifier allows.
 */
export type Revocation =
  | { readonly fingerprint: string; readonly expiresAt: number }
  | { readonly jti: string; readonly issuer?: string; readonly expiresAt: number }

/**
 * The `Retry-After` a deny list asks for now (`unavailableFor`), in whole seconds; 0 when it can
 * vouch for tokens. A list that fails to say is taken as unable for 5 s: fail closed.
 */
export function denyListWait(list: DenyList): number {
  if (list.unavailableFor === undefined) return 0
  try {
    const wait = list.unavailableFor()
    return wait > 0 ? Math.ceil(Math.min(wait, 3600)) : 0
  } catch {
    return 5
  }
}

const FINGERPRINT = /^[A-Za-z0-9_-]{16}$/

const revocationInputSchema = z
  .strictObject({
    /** The token itself; only its fingerprint is kept. */
    token: z.string().min(1).optional(),
    fingerprint: z.string().regex(FINGERPRINT, 'a fingerprint is 16 base64url characters').optional(),
    jti: z.string().min(1).max(1024).optional(),
    issuer: z.string().min(1).max(2048).optional(),
    /** Seconds since the epoch; default: now plus the list's default lifetime. */
    expiresAt: z.number().finite().positive().optional(),
  })
  .refine((o) => [o.token, o.fingerprint, o.jti].filter((v) => v !== undefined).length === 1, {
    message: 'name the token by exactly one of token, fingerprint or jti',
  })
  .refine((o) => o.issuer === undefined || o.jti !== undefined, {
    message: 'issuer narrows a jti; give it with jti only',
    path: ['issuer'],
  })

/** What a caller may say about a token to revoke. */
export type RevocationInput = z.input<typeof revocationInputSchema>

/**
 * A `Revocation` from what a caller knows about the token: the token (kept as its fingerprint),
 * a fingerprint from a log line, or a `jti`. Without `expiresAt` the entry lives `defaultTtl`
 * seconds: give the token's `exp` when it is known, so the entry goes when the token would.
 *
 * @example
 * revocationOf({ fingerprint: 'q3M1b2xY4n8AaC0d' }, { defaultTtl: 86_400 })
 * // { fingerprint: 'q3M1b2xY4n8AaC0d', expiresAt: <now + 1 day> }
 */
export function revocationOf(
  input: RevocationInput,
  options: { defaultTtl: number; now?: () => number },
): Revocation {
  const o = parseOptions(revocationInputSchema, input, 'revocation')
  const expiresAt = o.expiresAt ?? Math.ceil((options.now ?? Date.now)() / 1000) + options.defaultTtl
  if (o.jti !== undefined) {
    return o.issuer === undefined ? { jti: o.jti, expiresAt } : { jti: o.jti, issuer: o.issuer, expiresAt }
  }
  return { fingerprint: o.fingerprint ?? tokenFingerprint(o.token as string), expiresAt }
}

/**
 * A stable text form of a revocation without its expiry, one per token: the member of a shared
 * set (Redis). JSON, so issuer and jti can hold any character.
 *
 * @example
 * revocationKey({ jti: 'a1', issuer: 'https://id.example.com', expiresAt: 1_900_000_000 })
 * // '["j","https://id.example.com","a1"]'
 */
export function revocationKey(revocation: Revocation): string {
  if ('fingerprint' in revocation) return JSON.stringify(['f', revocation.fingerprint])
  return JSON.stringify(['j', revocation.issuer ?? '', revocation.jti])
}

/**
 * The revocation a `revocationKey` names, or `undefined` when the text is not one.
 *
 * @example
 * revocationFromKey('["f","q3M1b2xY4n8AaC0d"]', 1_900_000_000) // { fingerprint: 'q3M1b2xY4n8AaC0d', expiresAt: 1_900_000_000 }
 */
export function revocationFromKey(key: string, expiresAt: number): Revocation | undefined {
  let value: unknown
  try {
    value = JSON.parse(key)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || !Number.isFinite(expiresAt)) return undefined
  const [kind, a, b] = value as unknown[]
  if (kind === 'f' && value.length === 2 && typeof a === 'string' && FINGERPRINT.test(a)) {
    return { fingerprint: a, expiresAt }
  }
  if (kind === 'j' && value.length === 3 && typeof a === 'string' && typeof b === 'string' && b !== '') {
    return a === '' ? { jti: b, expiresAt } : { jti: b, issuer: a, expiresAt }
  }
  return undefined
}

const memoryDenyListSchema = z.strictObject({
  maxEntries: z.number().int().positive().max(10_000_000).default(100_000),
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
})

export interface MemoryDenyListOptions {
  /** Most revocations held. Default 100,000. Adding one more (after dropping expired ones) throws. */
  maxEntries?: number
  /** Clock in milliseconds (tests). */
  now?: () => number
}

/**
 * A deny list in this process's memory: the whole list for a single instance, and the local copy
 * a shared deny list (`@portcullis/redis`) keeps in step. Lookups are two map reads.
 *
 * Entries are dropped once lapsed (`revocationLapsesAt`: the token's `exp` plus the largest
 * clock tolerance a verifier may use, so no verifier still accepts the token). The list is bounded: when it is full of unexpired entries,
 * `add` throws rather than forget a revocation silently.
 *
 * @example
 * const denyList = new MemoryDenyList()
 * const gate = createGate({ resource, authorizationServers, verifier, denyList })
 * denyList.add(revocationOf({ token }, { defaultTtl: 3600 }))
 */
export class MemoryDenyList implements DenyList {
  /** fingerprint → when the entry lapses (ms): `revocationLapsesAt` of the token's expiry. */
  readonly #byFingerprint = new Map<string, number>()
  /** `issuer \n jti` (issuer empty: any issuer) → when the entry lapses (ms). */
  readonly #byJti = new Map<string, number>()
  readonly #max: number
  readonly #now: () => number

  constructor(options: MemoryDenyListOptions = {}) {
    const o = parseOptions(memoryDenyListSchema, options, 'MemoryDenyList')
    this.#max = o.maxEntries
    this.#now = o.now ?? Date.now
  }

  get size(): number {
    return this.#byFingerprint.size + this.#byJti.size
  }

  get maxEntries(): number {
    return this.#max
  }

  isDenied(auth: AuthInfo): boolean {
    if (this.#byFingerprint.size > 0) {
      const fingerprint = auth.extra?.fingerprint ?? tokenFingerprint(auth.token)
      if (this.#live(this.#byFingerprint, fingerprint)) return true
    }
    if (this.#byJti.size > 0) {
      const claims = auth.extra?.claims
      const jti = claims?.jti
      if (typeof jti === 'string') {
        const issuer = auth.extra?.iss ?? (typeof claims?.iss === 'string' ? claims.iss : '')
        if (this.#live(this.#byJti, `\n${jti}`)) return true
        if (issuer !== '' && this.#live(this.#byJti, `${issuer}\n${jti}`)) return true
      }
    }
    return false
  }

  /** Adds a revocation (keeping the later expiry of a repeated one). False when it has lapsed already. */
  add(revocation: Revocation): boolean {
    const until = revocationLapsesAt(revocation.expiresAt)
    if (until <= this.#now()) return false
    const [map, key] = this.#slot(revocation)
    const known = map.get(key)
    if (known === undefined && this.size >= this.#max && (this.prune() === 0 || this.size >= this.#max)) {
      throw new RangeError(`the deny list holds ${this.#max} unexpired revocations already (maxEntries)`)
    }
    if (known === undefined || known < until) map.set(key, until)
    return true
  }

  /** Forgets a revocation. */
  delete(revocation: Revocation): void {
    const [map, key] = this.#slot(revocation)
    map.delete(key)
  }

  /**
   * Replaces the whole list (a resync from a shared store). Takes at most `maxEntries`, the
   * latest-expiring first; returns how many were left out.
   */
  replace(revocations: Iterable<Revocation>): number {
    const now = this.#now()
    const live = [...revocations].filter((r) => revocationLapsesAt(r.expiresAt) > now)
    if (live.length > this.#max) live.sort((a, b) => b.expiresAt - a.expiresAt)
    this.#byFingerprint.clear()
    this.#byJti.clear()
    for (const revocation of live.slice(0, this.#max)) {
      const [map, key] = this.#slot(revocation)
      map.set(key, Math.max(map.get(key) ?? 0, revocationLapsesAt(revocation.expiresAt)))
    }
    return Math.max(0, live.length - this.#max)
  }

  /** Every unexpired revocation. */
  entries(): Revocation[] {
    const now = this.#now()
    const out: Revocation[] = []
    const expiresAt = (until: number) => until / 1000 - MAX_CLOCK_TOLERANCE
    for (const [fingerprint, until] of this.#byFingerprint) {
      if (until > now) out.push({ fingerprint, expiresAt: expiresAt(until) })
    }
    for (const [key, until] of this.#byJti) {
      if (until <= now) continue
      const cut = key.indexOf('\n')
      const issuer = key.slice(0, cut)
      const jti = key.slice(cut + 1)
      out.push(
        issuer === '' ? { jti, expiresAt: expiresAt(until) } : { jti, issuer, expiresAt: expiresAt(until) },
      )
    }
    return out
  }

  /** Drops expired entries; returns how many. */
  prune(): number {
    const now = this.#now()
    let dropped = 0
    for (const map of [this.#byFingerprint, this.#byJti]) {
      for (const [key, until] of map) {
        if (until <= now) {
          map.delete(key)
          dropped++
        }
      }
    }
    return dropped
  }

  #slot(revocation: Revocation): [Map<string, number>, string] {
    if ('fingerprint' in revocation) return [this.#byFingerprint, revocation.fingerprint]
    return [this.#byJti, `${revocation.issuer ?? ''}\n${revocation.jti}`]
  }

  #live(map: Map<string, number>, key: string): boolean {
    const until = map.get(key)
    if (until === undefined) return false
    if (until > this.#now()) return true
    map.delete(key)
    return false
  }
}
