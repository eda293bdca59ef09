// The gate's option schemas, validated once at start-up.
import { z } from 'zod'
import { dpopSettingSchema } from '../dpop/options.js'
import { canonicalResource, secureUrlProblem } from '../oauth/resource.js'
import { OFFLINE_ACCESS, scopeTokenSchema } from '../oauth/scopes.js'
import type { TokenVerifier } from '../token/auth-info.js'
import type { DenyList } from '../token/deny-list.js'
import type { AttemptLimiter } from './attempt-limiter.js'
import type { Gate } from './gate-types.js'

const httpsUrl = z.string().superRefine((value, ctx) => {
  const problem = secureUrlProblem(value)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} ${problem}` })
})

// RFC 8414 §2: an issuer identifier is an https URL with no query or fragment. It is kept byte for
// byte: clients compare it with the authorization server's `issuer` (MCP 2026-07-28).
const issuerUrl = httpsUrl.refine((value) => !value.includes('?') && !value.includes('#'), {
  error: 'an issuer identifier has no query or fragment (RFC 8414 §2)',
})

const scopeList = z.array(scopeTokenSchema).readonly()
const advertisedScopeList = scopeList.refine((scopes) => !scopes.includes(OFFLINE_ACCESS), {
  // MCP 2026-07-28 §Refresh Tokens (SEP-2207): a resource server SHOULD NOT advertise it.
  error: 'must not contain offline_access (a resource server does not advertise it, MCP SEP-2207)',
})

const corsOptionsSchema = z.strictObject({
  origin: z
    .union([
      z.literal('*'),
      z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin is scheme://host[:port]')),
    ])
    .optional(),
  maxAge: z.number().int().min(0).max(86400).optional(),
  allowHeaders: z.array(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'not a header name')).optional(),
  exposeHeaders: z.array(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'not a header name')).optional(),
})

/** zod schema of `GateOptions`; adapters extend it with their own options. */
export const gateOptionsSchema = z.strictObject({
  resource: z.union([z.string(), z.instanceof(URL)]).transform((value, ctx) => {
    try {
      return canonicalResource(value)
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message })
      return z.NEVER
    }
  }),
  authorizationServers: z
    .array(issuerUrl)
    .min(1, 'name at least one authorization server (MCP: PRM MUST list one)'),
  verifier: z.custom<TokenVerifier>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      typeof (value as { verifyAccessToken?: unknown }).verifyAccessToken === 'function',
    { error: 'must be a TokenVerifier (an object with verifyAccessToken(token))' },
  ),
  scopes: z
    .strictObject({
      implies: z.record(scopeTokenSchema, scopeList).optional(),
      base: advertisedScopeList.optional(),
      supported: advertisedScopeList.optional(),
    })
    .optional(),
  maxTokenLength: z.number().int().min(64).max(1_000_000).optional(),
  resourceName: z.string().min(1).optional(),
  resourceDocumentation: httpsUrl.optional(),
  cors: z.union([z.boolean(), corsOptionsSchema]).optional(),
  metadataMaxAge: z.number().int().min(0).max(31_536_000).optional(),
  verifyTimeoutMs: z.number().int().min(1).max(120_000).optional(),
  denyList: z
    .custom<DenyList>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        typeof (value as { isDenied?: unknown }).isDenied === 'function',
      { error: 'must be a DenyList (an object with isDenied(auth))' },
    )
    .optional(),
  attemptLimiter: z
    .custom<AttemptLimiter>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        typeof (value as { retryAfter?: unknown }).retryAfter === 'function' &&
        typeof (value as { recordFailure?: unknown }).recordFailure === 'function',
      { error: 'must be an AttemptLimiter (an object with retryAfter(address) and recordFailure(address))' },
    )
    .optional(),
  dpop: dpopSettingSchema.optional(),
})

/** zod schema of a `Gate` passed as an option (`{ gate }`), so adapters can share one gate. */
export const gateSchema = z.custom<Gate>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Gate).authenticate === 'function' &&
    typeof (value as Gate).metadataReply === 'function',
  { error: 'must be a gate made by createGate()' },
)
