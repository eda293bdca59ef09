import { z } from 'zod'

/**
 * Seconds of clock difference every verifier allows on `exp`, `nbf` and `iat` unless told
 * otherwise (RFC 7519 §4.1.4 "some small leeway").
 */
export const DEFAULT_CLOCK_TOLERANCE = 60

/**
 * The most clock tolerance a verifier may be given, in seconds. A verifier accepts a token up to
 * this long past its `exp`, so a revocation must outlive the token's `exp` by as much: the deny
 * lists keep each entry until `revocationLapsesAt`, whatever tolerance a verifier is set to.
 */
export const MAX_CLOCK_TOLERANCE = 600

/** The `clockTolerance` option of the verifiers. */
export const clockToleranceSchema = z
  .number()
  .nonnegative()
  .max(MAX_CLOCK_TOLERANCE)
  .default(DEFAULT_CLOCK_TOLERANCE)

/**
 * When a revocation of a token expiring at `expiresAt` (seconds) may be forgotten, in ms since the
 * epoch: no verifier accepts the token any more.
 */
export function revocationLapsesAt(expiresAt: number): number {
  return (expiresAt + MAX_CLOCK_TOLERANCE) * 1000
}
