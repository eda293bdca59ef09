import { z } from 'zod'
import { canonicalResource } from '../oauth/resource.js'
import type { CacheStats } from '../support/lru-cache.js'
import type { ComponentHealth } from '../telemetry/health.js'
import type { CachedOutcome, TokenVerifier } from './auth-info.js'
import { clockToleranceSchema } from './clock-tolerance.js'
import type { JwsHeader } from './compact-jwt.js'
import type { DiscoveryOptions } from './discovery.js'
import type { JwksKeySetOptions } from './jwks.js'
import { isJwsAlgorithm, JWS_ALGORITHMS } from './jws-algorithms.js'
import type { StaticKey } from './key-import.js'
import type { KeySet } from './key-set.js'
import { tokenCacheOptionsSchema } from './token-cache.js'

// The options of `jwtVerifier`, validated at start-up, and the verifier it returns.

const isFunction = (value: unknown) => typeof value === 'function'

const algorithmSchema = z.string().superRefine((alg, ctx) => {
  if (isJwsAlgorithm(alg)) return
  const message = /^HS\d+$/.test(alg)
    ? `${alg} is refused: HMAC needs a shared secret, a resource server verifies with public keys only (RFC 8725 §3.1)`
    : alg.toLowerCase() === 'none'
      ? 'none is refused: access tokens must be signed (RFC 9068 §4)'
      : `${alg} is not supported (supported: ${JWS_ALGORITHMS.join(', ')})`
  ctx.addIssue({ code: 'custom', message })
})

const audienceSchema = z
  .union([z.string(), z.array(z.string()).min(1), z.literal(false)])
  .transform((value, ctx) => {
    if (value === false) return false as const
    const list = typeof value === 'string' ? [value] : value
    const out: string[] = []
    for (const audience of list) {
      try {
        out.push(canonicalAudience(audience))
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
      }
    }
    return out
  })

export const jwtVerifierSchema = z
  .strictObject({
    issuer: z.string().min(1, 'issuer must be the exact iss value the authorization server puts in tokens'),
    audience: audienceSchema,
    jwksUri: z.union([z.string(), z.instanceof(URL)]).optional(),
    keys: z
      .array(z.custom<StaticKey>((value) => typeof value === 'object' && value !== null))
      .min(1)
      .optional(),
    keySet: z
      .custom<KeySet>(
        (value) => typeof value === 'object' && value !== null && isFunction((value as KeySet).getKey),
        'keySet must have getKey(header)',
      )
      .optional(),
    jwks: z.custom<Omit<JwksKeySetOptions, 'jwksUri'>>((value) => typeof value === 'object').optional(),
    discovery: z.custom<DiscoveryOptions>((value) => typeof value === 'object').optional(),
    algorithms: z.array(algorithmSchema).min(1).optional(),
    clockTolerance: clockToleranceSchema,
    requiredClaims: z.array(z.string().min(1)).default(['exp']),
    typ: z.enum(['lenient', 'strict']).default('lenient'),
    scopeClaim: z.string().min(1).optional(),
    claimsToScopes: z
      .custom<(claims: Record<string, unknown>) => readonly string[]>(isFunction, 'must be a function')
      .optional(),
    audienceClaim: z.enum(['aud', 'client_id', 'azp']).default('aud'),
    audienceIfPresent: audienceSchema.refine((v) => v !== false, 'must be an audience or a list').optional(),
    clientIdClaims: z.array(z.string().min(1)).min(1).optional(),
    maxTokenLength: z.number().int().positive().max(1_048_576).default(16_384),
    signatureCheck: z.enum(['thread-pool', 'event-loop']).default('thread-pool'),
    cache: z.union([tokenCacheOptionsSchema.omit({ now: true }), z.literal(false)]).optional(),
    validateClaims: z
      .custom<(claims: Record<string, unknown>, header: JwsHeader) => void>(isFunction, 'must be a function')
      .optional(),
    now: z.custom<() => number>(isFunction, 'now must be a function').optional(),
  })
  .refine((o) => [o.jwksUri, o.keys, o.keySet].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of jwksUri, keys and keySet (none: discovered from the issuer)',
    path: ['jwksUri'],
  })
  .refine((o) => o.scopeClaim === undefined || o.claimsToScopes === undefined, {
    message: 'give scopeClaim or claimsToScopes, not both',
    path: ['claimsToScopes'],
  })
  .refine((o) => o.audienceClaim === 'aud' || o.audience !== false, {
    message: 'audienceClaim names the claim the audience values are checked against: give them',
    path: ['audience'],
  })
  .refine((o) => o.audience !== false || o.validateClaims !== undefined, {
    message: 'audience: false needs validateClaims to check what stands in for the audience (e.g. client_id)',
    path: ['audience'],
  })

export type JwtVerifierOptions = z.input<typeof jwtVerifierSchema>

export interface JwtVerifier extends TokenVerifier {
  readonly issuer: string
  /** The accepted audiences, canonical (`false` when the audience check is delegated to validateClaims). */
  readonly audiences: readonly string[] | false
  /** The claim the audiences are checked against: `aud`, or `client_id` / `azp` for IdPs without one. */
  readonly audienceClaim: 'aud' | 'client_id' | 'azp'
  /** Where the keys come from; with discovery, resolved on first use. */
  readonly keySet: KeySet
  /** The remembered outcome for `token`, at once (see `TokenVerifier.cachedOutcome`); never with `cache: false`. */
  cachedOutcome(token: string): CachedOutcome | undefined
  /** Forgets every remembered verification outcome. */
  clearCache(): void
  /** How full the outcome cache is (`undefined` with `cache: false`). */
  stats(): { cache: (CacheStats & { pending: number }) | undefined }
  /** The key set as last seen (see `gate.health()`). */
  health(): ComponentHealth[]
}

/** URL audiences are compared in canonical form; other identifiers (`api://x`, a GUID) verbatim. */
export function canonicalAudience(audience: string): string {
  if (audience === '') throw new TypeError('an audience must not be empty')
  return /^https?:\/\//i.test(audience) ? canonicalResource(audience) : audience
}
