// The gate's `dpop` option (RFC 9449), validated once at start-up.
import { z } from 'zod'
import type { CorsOptions } from '../gate/cors-policy.js'
import { DEFAULT_JWS_ALGORITHMS, JWS_ALGORITHMS, type JwsAlgorithm } from '../token/jws-algorithms.js'
import type { DpopReplayCache } from './replay.js'

/**
 * How a protected resource treats DPoP (RFC 9449):
 * - `'off'` (default): DPoP is not spoken. A `DPoP` Authorization scheme is an unsupported scheme and a
 *   DPoP-bound token is refused (it cannot be used as a Bearer token).
 * - `'allowed'`: Bearer tokens as before, and DPoP-bound tokens with a valid proof; the
 *   401 challenges name both schemes.
 * - `'required'`: only DPoP-bound tokens with a valid proof; a Bearer token is refused unread.
 */
export type DpopMode = 'off' | 'allowed' | 'required'

export interface DpopNonceOptions {
  /**
   * The key nonces are made with (at least 32 bytes, or a string of at least 32 characters): the
   * same on every instance that serves the resource, so a nonce from one is good on all. Default: a
   * random key per process (fine for one instance; behind a load balancer give one).
   */
  secret?: string | Uint8Array
  /** How long one nonce is handed out, in seconds; it stays valid one period more. Default 300. */
  periodSeconds?: number
}

export interface DpopOptions {
  /** Default `'allowed'` when options are given (no `dpop` option at all is `'off'`). */
  mode?: DpopMode
  /**
   * The JWS algorithms accepted for proofs (`dpop_signing_alg_values_supported`, RFC 9728 §2).
   * Asymmetric only (RFC 9449 §11.6). Default: every supported one but the `Ed25519` alias.
   */
  algorithms?: readonly JwsAlgorithm[]
  /** How old a proof may be (`iat`), in seconds. Default 300 (RFC 9449 §11.1 leaves it to the server). */
  maxAgeSeconds?: number
  /** How far in the future a proof's `iat` may be (clock skew), in seconds. Default 300. */
  maxSkewSeconds?: number
  /**
   * Server-issued nonces (RFC 9449 §9): a proof without a fresh nonce is answered 401
   * `use_dpop_nonce` with a `DPoP-Nonce` header. They bound how long a proof signed in advance
   * lasts (§11.2) at the price of one extra round trip per period. Default off.
   */
  nonce?: boolean | DpopNonceOptions
  /**
   * Where presented proofs are remembered so none is used twice (RFC 9449 §11.1). Default: a
   * `MemoryDpopReplayCache` of this gate; with several instances, `@portcullis/redis`'s
   * `redisDpopReplayCache`, or a replayed proof is refused only by the instance that saw it.
   */
  replayCache?: DpopReplayCache
}

/** The `dpop` gate option as given: a mode, or options. */
export type DpopSetting = DpopMode | DpopOptions

const MODES = ['off', 'allowed', 'required'] as const

const secretSchema = z.union([
  z.string().min(32, 'a nonce secret string must have at least 32 characters'),
  z.instanceof(Uint8Array).refine((value) => value.length >= 32, {
    error: 'a nonce secret must have at least 32 bytes',
  }),
])

/** zod schema of the `dpop` gate option: a mode stands for `{ mode }`, so errors name the member at fault. */
export const dpopSettingSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { mode: value } : value),
  z.strictObject({
    mode: z.enum(MODES).optional(),
    algorithms: z.array(z.enum(JWS_ALGORITHMS)).min(1, 'name at least one algorithm').readonly().optional(),
    maxAgeSeconds: z.number().int().min(1).max(3600).optional(),
    maxSkewSeconds: z.number().int().min(0).max(3600).optional(),
    nonce: z
      .union([
        z.boolean(),
        z.strictObject({
          secret: secretSchema.optional(),
          periodSeconds: z.number().int().min(10).max(86_400).optional(),
        }),
      ])
      .optional(),
    replayCache: z
      .custom<DpopReplayCache>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as { firstUse?: unknown }).firstUse === 'function',
        { error: 'must be a DpopReplayCache (an object with firstUse(id, expiresAtMs))' },
      )
      .optional(),
  }),
)

/** The `dpop` setting with every default applied. */
export interface ResolvedDpop {
  mode: DpopMode
  algorithms: readonly JwsAlgorithm[]
  maxAgeSeconds: number
  maxSkewSeconds: number
  nonce: { secret: Uint8Array | undefined; periodSeconds: number } | undefined
  replayCache: DpopReplayCache | undefined
}

/** Defaults applied to a validated `dpop` setting (`undefined` is the default mode). */
export function resolveDpop(setting: z.output<typeof dpopSettingSchema> | undefined): ResolvedDpop {
  const options = setting ?? {}
  const nonce = options.nonce
  return {
    // No option: off. Options given without a mode: DPoP is wanted.
    mode: setting === undefined ? 'off' : (options.mode ?? 'allowed'),
    algorithms: options.algorithms ?? DEFAULT_JWS_ALGORITHMS,
    maxAgeSeconds: options.maxAgeSeconds ?? 300,
    maxSkewSeconds: options.maxSkewSeconds ?? 300,
    nonce:
      nonce === undefined || nonce === false
        ? undefined
        : {
            secret:
              nonce === true || nonce.secret === undefined
                ? undefined
                : typeof nonce.secret === 'string'
                  ? Buffer.from(nonce.secret, 'utf8')
                  : nonce.secret,
            periodSeconds: nonce === true ? 300 : (nonce.periodSeconds ?? 300),
          },
    replayCache: options.replayCache,
  }
}

/** The RFC 9728 §2 members a resource with DPoP on publishes; `undefined` when it is off. */
export function dpopMetadata(
  dpop: ResolvedDpop,
): { dpopSigningAlgValuesSupported: readonly string[]; dpopBoundAccessTokensRequired: boolean } | undefined {
  if (dpop.mode === 'off') return undefined
  return {
    dpopSigningAlgValuesSupported: dpop.algorithms,
    dpopBoundAccessTokensRequired: dpop.mode === 'required',
  }
}

/**
 * CORS for a resource with DPoP on: browsers must be allowed to send the `DPoP` header (RFC 9449
 * §4.1) and to read `DPoP-Nonce` (§8.1). Unchanged when DPoP is off.
 */
export function dpopCors(cors: CorsOptions, dpop: ResolvedDpop): CorsOptions {
  if (dpop.mode === 'off') return cors
  return {
    ...cors,
    allowHeaders: [...(cors.allowHeaders ?? []), 'DPoP'],
    exposeHeaders: [...(cors.exposeHeaders ?? []), 'DPoP-Nonce'],
  }
}
