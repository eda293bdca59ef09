import { isIPv4, isIPv6 } from 'node:net'
import { z } from 'zod'
import { LruCache } from '../support/lru-cache.js'
import { parseOptions } from '../support/options.js'

/**
 * Limits how many refused access tokens one client address may present. The gate asks
 * `retryAfter` before it verifies a token (synchronously: it runs on every request that carries
 * one) and answers 429 with `Retry-After` while it is positive; it calls `recordFailure` after a
 * token is refused (`invalid_token`). Requests without a token are never limited: a client must
 * always be able to learn where to get one.
 *
 * Addresses reach the limiter as `clientAddressKey` gives them (IPv6 by /64).
 */
export interface AttemptLimiter {
  /** Seconds `address` must wait before its next token is looked at; 0 when it may go on. */
  retryAfter(address: string): number
  /** Counts one refused token from `address`. The gate waits for it, so keep it bounded in time. */
  recordFailure(address: string): void | Promise<void>
  /**
   * Called once by each gate with its resource. A limiter whose counts outlive the process (Redis)
   * returns one that counts that resource apart, so two deployments sharing the store never refuse
   * each other's clients; without it the gate uses this limiter as is.
   */
  forResource?(resource: string): AttemptLimiter
}

const attemptWindowsSchema = z.strictObject({
  /** Refused tokens an address may present per window; the next request with a token gets 429. */
  maxAttempts: z.number().int().positive().max(1_000_000),
  /** Length of the window, in seconds. */
  window: z.number().positive().max(86_400),
  /** Most addresses tracked (least recently seen dropped first). Default 100,000. */
  maxAddresses: z.number().int().positive().max(10_000_000).default(100_000),
  now: z.custom<() => number>((v) => typeof v === 'function', 'now must be a function').optional(),
})

export type AttemptWindowsOptions = z.input<typeof attemptWindowsSchema>

interface Window {
  count: number
  /** ms; the window closes here. */
  resetAt: number
}

/**
 * Fixed-window counters of refused tokens per address, in this process's memory: the limiter of
 * a single instance, and the local view (and fallback) of a shared one (`@portcullis/redis`).
 *
 * @example
 * const limiter = new AttemptWindows({ maxAttempts: 20, window: 60 })
 * const gate = createGate({ resource, authorizationServers, verifier, attemptLimiter: limiter })
 */
export class AttemptWindows implements AttemptLimiter {
  readonly #windows: LruCache<Window>
  readonly #max: number
  readonly #windowMs: number
  readonly #now: () => number

  constructor(options: AttemptWindowsOptions) {
    const o = parseOptions(attemptWindowsSchema, options, 'AttemptWindows')
    this.#now = o.now ?? Date.now
    this.#max = o.maxAttempts
    this.#windowMs = o.window * 1000
    this.#windows = new LruCache<Window>({ maxEntries: o.maxAddresses, now: this.#now })
  }

  get maxAttempts(): number {
    return this.#max
  }

  /** Addresses tracked now (bounded by `maxAddresses`). */
  get size(): number {
    return this.#windows.size
  }

  retryAfter(address: string): number {
    if (this.#windows.size === 0) return 0
    const window = this.#windows.get(address)
    if (window === undefined || window.count < this.#max) return 0
    return Math.max(1, Math.ceil((window.resetAt - this.#now()) / 1000))
  }

  recordFailure(address: string): void {
    const window = this.#windows.get(address)
    if (window !== undefined) window.count++
    else this.#windows.set(address, { count: 1, resetAt: this.#now() + this.#windowMs }, this.#windowMs)
  }

  /** Takes a count kept elsewhere (a shared store) for `address`, whose window closes in `resetInMs`. */
  observe(address: string, count: number, resetInMs: number): void {
    if (!(resetInMs > 0)) this.#windows.delete(address)
    else this.#windows.set(address, { count, resetAt: this.#now() + resetInMs }, resetInMs)
  }
}

const MAX_ADDRESS_LENGTH = 100

/**
 * The key a client address is counted under: an IPv4 address as is (IPv4-mapped IPv6 too), an
 * IPv6 address by its /64 prefix (one host is usually given a whole /64, RFC 6177), anything else
 * (a Unix socket path, a proxy's label) cut to 100 characters.
 *
 * @example
 * clientAddressKey('::ffff:203.0.113.7') // '203.0.113.7'
 * clientAddressKey('2001:db8:1:2:aaaa::1') // '2001:db8:1:2::/64'
 */
export function clientAddressKey(address: string): string {
  if (isIPv4(address)) return address
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  if (mapped !== null && isIPv4(mapped[1]!)) return mapped[1]!
  if (isIPv6(address)) return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`
  return address.slice(0, MAX_ADDRESS_LENGTH)
}

/** The eight groups of an IPv6 address (valid, per `isIPv6`), lower-case, without leading zeros. */
function ipv6Groups(address: string): string[] {
  const zone = address.indexOf('%')
  const bare = (zone < 0 ? address : address.slice(0, zone)).toLowerCase()
  const split = (part: string) => (part === '' ? [] : part.split(':'))
  const [head = '', tail] = bare.split('::')
  const groupsOf = (parts: string[]) => parts.reduce((n, part) => n + (part.includes('.') ? 2 : 1), 0)
  const left = split(head)
  const right = tail === undefined ? [] : split(tail)
  const zeros = Array<string>(8 - groupsOf(left) - groupsOf(right)).fill('0')
  // An embedded IPv4 address only ever fills the last 32 bits: it never reaches the /64 prefix.
  return [...left, ...zeros, ...right].map((group) =>
    group.includes('.') ? group : Number.parseInt(group, 16).toString(16),
  )
}
