import { z } from 'zod'
import { canonicalResource } from '../oauth/resource.js'
import type { CacheStats } from '../support/lru-cache.js'
import type { ComponentHealth } from '../telemetry/health.js'
import type { TokenVerifier } from './auth-info.js'
import { clockToleranceSchema } from './clock-tolerance.js'
import { authorizationServerMetadataUrls, type DiscoveryOptions } from './discovery.js'
import { fetchBoundsShape, nowSchema, secureUrlSchema } from './fetch-options.js'

// The options of `introspectionVerifier`, validated at start-up, and what it returns.

/** An introspection answer (RFC 7662 §2.2) as received: `active` plus the claims. */
export type IntrospectionAnswer = Readonly<Record<string, unknown>> & { readonly active: boolean }

/**
 * Where introspection answers are kept between requests: the built-in bounded LRU cache, or a
 * shared store (Redis) so several instances reuse one answer. Methods may return values or
 * promises. Keys are token hashes behind a prefix naming the issuer, endpoint and client id, never
 * tokens. A store that fails is treated as a miss.
 */
export interface IntrospectionCache {
  get(key: string): IntrospectionAnswer | undefined | Promise<IntrospectionAnswer | undefined>
  /**
   * The answer held in this process, at once, without a round trip (`undefined` when it would
   * take one). Optional: with it, a remembered token is answered without a promise, as with the
   * built-in cache (the gate's hit path).
   */
  peek?(key: string): IntrospectionAnswer | undefined
  set(key: string, value: IntrospectionAnswer, ttlMs: number): unknown
  delete(key: string): unknown
  /** How full the store's bounded part is, for `stats()`. */
  stats?(): CacheStats
}

const seconds = (fallback: number, max: number) => z.number().nonnegative().max(max).default(fallback)

export const cacheSchema = z.strictObject({
  maxEntries: z.number().int().positive().max(10_000_000).default(10_000),
  /** Longest time an active answer is reused, in seconds (never past the token's `exp`). */
  ttl: seconds(60, 86_400),
  /** How long an inactive answer is reused, in seconds. */
  inactiveTtl: seconds(5, 3600),
  store: z
    .custom<IntrospectionCache>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as IntrospectionCache).get === 'function' &&
        typeof (v as IntrospectionCache).set === 'function' &&
        typeof (v as IntrospectionCache).delete === 'function',
      'store must have get, set and delete methods',
    )
    .optional(),
})

export const introspectionVerifierSchema = z
  .strictObject({
    issuer: z.string().superRefine((value, ctx) => {
      try {
        authorizationServerMetadataUrls(value)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
      }
    }),
    // Client secrets travel to it: https, or plain http only where no network is crossed.
    endpoint: secureUrlSchema('endpoint').optional(),
    clientId: z.string().min(1, 'clientId must not be empty'),
    clientSecret: z.string().min(1, 'clientSecret must not be empty'),
    clientAuth: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    audience: z
      .union([z.string(), z.array(z.string()).min(1, 'audience needs at least one value')])
      .transform((value, ctx) => {
        const list = typeof value === 'string' ? [value] : value
        try {
          return list.map((item) => canonicalResource(item))
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message })
          return z.NEVER
        }
      }),
    requireAudience: z.boolean().default(true),
    scopeClaim: z.string().min(1).optional(),
    /** Turns the answer's claims into scopes (see `scopeMapper`), instead of reading `scope`/`scp`. */
    claimsToScopes: z
      .custom<(claims: Record<string, unknown>) => readonly string[]>(
        (v) => typeof v === 'function',
        'must be a function',
      )
      .optional(),
    ...fetchBoundsShape(64 * 1024),
    /**
     * How the endpoint is discovered when not configured: `cache` (default: the process-wide
     * discovery cache, see `DiscoveryOptions.cache`), `ttlMs`, `failureTtlMs`, `maxBytes`. The
     * deadline is `fetchTimeoutMs`.
     */
    discovery: z
      .custom<Omit<DiscoveryOptions, 'fetchTimeoutMs'>>(
        (value) => typeof value === 'object' && value !== null,
        {
          error: 'must be discovery options ({ cache, ttlMs, failureTtlMs, maxBytes })',
        },
      )
      .optional(),
    // Not a z.union: its error would not say which member of `cache` is wrong.
    cache: z
      .custom<false | z.input<typeof cacheSchema>>(() => true)
      .transform((value, ctx): false | z.output<typeof cacheSchema> => {
        if (value === false) return false
        const result = cacheSchema.safeParse(value)
        if (result.success) return result.data
        for (const issue of result.error.issues)
          ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path })
        return z.NEVER
      })
      .optional(),
    /** Leeway for `exp` and `nbf`, in seconds. */
    clockTolerance: clockToleranceSchema,
    /** Seconds a client is told to wait when the endpoint cannot be used. */
    retryAfter: z.number().int().positive().max(3600).default(5),
    /** Clock in milliseconds (tests). */
    now: nowSchema,
  })
  .refine((o) => o.scopeClaim === undefined || o.claimsToScopes === undefined, {
    message: 'give scopeClaim or claimsToScopes, not both',
    path: ['claimsToScopes'],
  })

export type IntrospectionVerifierOptions = z.input<typeof introspectionVerifierSchema>

export interface IntrospectionVerifier extends TokenVerifier {
  /** The introspection endpoint in use, once known (configured, or found by discovery). */
  readonly endpoint: string | undefined
  /** Forgets a cached answer for a token, e.g. after a revocation notice. */
  forget(token: string): Promise<void>
  /** How full the answer cache is (`undefined` with `cache: false` or a store without `stats`), and calls under way. */
  stats(): { cache: CacheStats | undefined; inFlight: number }
  /** The endpoint as last seen: reachable, or failing since when (see `gate.health()`). */
  health(): ComponentHealth[]
}
