import { z } from 'zod'
import { secureUrlProblem } from '../oauth/resource.js'

// The options every verifier that fetches from the authorization server takes alike (the key set
// of jwks.ts, the introspection endpoint): one schema, so their bounds and messages cannot drift.

/**
 * A URL the verifier fetches: https only; plain http only on loopback, where no network is
 * crossed (development and tests). Key sets and client secrets travel over these.
 */
export const secureUrlSchema = (name: string) =>
  z.union([z.string(), z.instanceof(URL)]).transform((value, ctx) => {
    const text = String(value)
    const problem = secureUrlProblem(text)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${name} ${problem}` })
    return text
  })

/** `fetchTimeoutMs` and `maxBytes`: how long one fetch may take and how much it may read. */
export const fetchBoundsShape = (maxBytesDefault: number) => ({
  fetchTimeoutMs: z.number().int().positive().max(60_000).default(5000),
  maxBytes: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024)
    .default(maxBytesDefault),
})

/** A clock in milliseconds (tests). */
export const nowSchema = z
  .custom<() => number>((value) => typeof value === 'function', 'now must be a function')
  .optional()
