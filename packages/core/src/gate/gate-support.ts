// The gate's helpers: scope-argument parsing, the Authorization headers, and the replies and
// failure descriptions the pipeline builds.

import { type ScopeRequirement, scopeRequirementSchema } from '../oauth/scopes.js'
import { PortcullisError, type PortcullisReason } from '../support/errors.js'
import { parseOptions } from '../support/options.js'
import { tokenFingerprint } from '../token/fingerprint.js'
import type { AttemptLimiter } from './attempt-limiter.js'
import type { RejectionLog } from './gate-types.js'

// Requirements validated before, frozen: a stateless MCP route registers its tools on a new
// server for every request, and a zod parse per declaration (twice: withScopes, then the route's
// rules) cost more than the gate itself. Scope lists are remembered by their text, boundedly.
const validated = new WeakSet<object>()
const listsByText = new Map<string, ScopeRequirement>()
const MAX_REMEMBERED_LISTS = 1024

/** Validates a route's or tool's scope requirement at register time, naming the owner in the error. */
export function parseScopeRequirement(value: unknown, owner: string): ScopeRequirement {
  if (isValidatedRequirement(value)) return value
  const text = isStringList(value) ? value.join('\n') : undefined
  const known = text === undefined ? undefined : listsByText.get(text)
  if (known !== undefined) return known
  const requirement = freezeRequirement(
    parseOptions(scopeRequirementSchema, value, owner) as ScopeRequirement,
  )
  validated.add(requirement)
  if (text !== undefined) {
    if (listsByText.size >= MAX_REMEMBERED_LISTS) listsByText.clear()
    listsByText.set(text, requirement)
  }
  return requirement
}

/** Whether `value` is a requirement `parseScopeRequirement` returned (valid, frozen). */
export function isValidatedRequirement(value: unknown): value is ScopeRequirement {
  return typeof value === 'object' && value !== null && validated.has(value)
}

// A scope token has no control characters (RFC 6749 §3.3), so "\n" joins a list unambiguously.
const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((scope) => typeof scope === 'string' && !scope.includes('\n'))

function freezeRequirement(requirement: ScopeRequirement): ScopeRequirement {
  if (!Array.isArray(requirement)) for (const list of Object.values(requirement)) Object.freeze(list)
  return Object.freeze(requirement)
}

/** Scopes as a guard takes them: scope names (all required), or one `ScopeRequirement`. */
export type ScopeArgs = string[] | [ScopeRequirement]

/**
 * The requirement of a guard's arguments (`requireScopes('a', 'b')`, `requireScopes({ anyOf })`),
 * validated, naming the owner in the error.
 *
 * @example
 * parseScopeArgs(['notes:read', 'notes:write'], 'requireScopes') // ['notes:read', 'notes:write']
 * parseScopeArgs([{ anyOf: ['a', 'b'] }], 'requireScopes') // { anyOf: ['a', 'b'] }
 */
export function parseScopeArgs(args: ScopeArgs, owner: string): ScopeRequirement {
  return parseScopeRequirement(args.length === 1 && typeof args[0] !== 'string' ? args[0] : args, owner)
}

/**
 * The `Authorization` header values of a Node.js request, from `rawHeaders`: Node keeps only the
 * first of repeated `Authorization` headers in `headers`, which would hide a second credential
 * (RFC 6750 §3.1 makes two an `invalid_request`).
 *
 * @example
 * gate.authenticate({ authorization: authorizationHeaders(req.rawHeaders) })
 */
export function authorizationHeaders(rawHeaders: readonly string[]): string | string[] | undefined {
  let found: string | string[] | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length !== 13) continue
    // The usual spellings first: no lower-cased copy per request.
    if (name !== 'authorization' && name !== 'Authorization' && name.toLowerCase() !== 'authorization')
      continue
    const value = rawHeaders[i + 1]!
    found = found === undefined ? value : Array.isArray(found) ? [...found, value] : [found, value]
  }
  return found
}

export const scopeParam = (scopes: readonly string[]) => (scopes.length === 0 ? {} : { scope: scopes })

// RFC 6585 §4: 429 with Retry-After. The OAuth error stays temporarily_unavailable (RFC 6749
// §4.1.2.1), the one registered code that says "later"; no challenge, the token was not judged.
export const tooManyAttempts = (retryAfter: number) =>
  new PortcullisError(
    'temporarily_unavailable',
    'attempts_exceeded',
    `Too many refused access tokens from this client address; retry after ${retryAfter} s`,
    { retryAfter, status: 429 },
  )

/** A limiter that fails never stops a request: it is a brake, not a lock (it logs through its owner). */
export function retryAfterOf(limiter: AttemptLimiter, address: string): number {
  try {
    const wait = limiter.retryAfter(address)
    return Number.isFinite(wait) && wait > 0 ? Math.ceil(wait) : 0
  } catch {
    return 0
  }
}

export async function recordFailure(
  limiter: AttemptLimiter,
  address: string,
  timeoutMs: number,
): Promise<void> {
  try {
    await withTimeout(Promise.resolve(limiter.recordFailure(address)), timeoutMs)
  } catch {
    // as above; a slow limiter delays a refusal by at most timeoutMs
  }
}

// CWE-209: what the client is told when a verifier cannot decide. Which endpoint failed and how
// (addresses, HTTP statuses, credential advice) goes to the log as `detail`, never to the client.
export const UNAVAILABLE_DESCRIPTIONS: Partial<Record<PortcullisReason, string>> = {
  jwks_unavailable: 'the signing keys of the authorization server are unavailable',
  introspection_unavailable: 'the introspection endpoint of the authorization server is unavailable',
  discovery_failed: 'the metadata of the authorization server is unavailable',
  revocation_unavailable: 'The list of revoked tokens cannot be confirmed right now; retry later',
}

/** The error a client sees for a verifier's `temporarily_unavailable`: same reason, status and wait, a fixed description. */
export function unavailableToClient(error: PortcullisError): PortcullisError {
  return new PortcullisError(
    'temporarily_unavailable',
    error.reason,
    UNAVAILABLE_DESCRIPTIONS[error.reason] ?? 'The access token could not be verified right now; retry later',
    { retryAfter: error.retryAfter ?? 5, status: error.status, cause: error },
  )
}

/** An error's message and those of its causes, for the log: the token replaced, the length bounded. */
export function describeChain(error: Error, token: string): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    parts.push(current instanceof Error ? current.message : String(current))
    current = current instanceof Error ? current.cause : undefined
  }
  const text = parts
    .join(': ')
    .split(token)
    .join(`[token ${tokenFingerprint(token)}]`)
  return text.length > 1000 ? `${text.slice(0, 1000)}...` : text
}

export const internalError = () =>
  new PortcullisError(
    'temporarily_unavailable',
    'internal_error',
    'The access token could not be verified right now; retry later',
    { retryAfter: 5 },
  )

/** An unexpected failure for the log, with the token (if the failure quotes it) replaced by its fingerprint. */
export function describeFailure(
  error: unknown,
  token: string | undefined,
): NonNullable<RejectionLog['fields']['err']> {
  const scrub = (text: string) =>
    token === undefined ? text : text.split(token).join(`[token ${tokenFingerprint(token)}]`)
  if (error instanceof Error) {
    return {
      type: error.name,
      message: scrub(error.message),
      ...(error.stack === undefined ? {} : { stack: scrub(error.stack) }),
    }
  }
  return { type: typeof error, message: scrub(String(error)) }
}

export const TIMED_OUT = Symbol('timed out')

/**
 * `promise`, or a rejection with `TIMED_OUT` once `ms` have passed (up to `DEADLINE_SLACK_MS`
 * later). Deadlines that fall in the same slice share one timer: under a flood of new tokens, a
 * timer, a race and two extra promises per verification cost more than the claim checks.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = armDeadline(ms, () => reject(TIMED_OUT))
    promise.then(
      (value) => {
        cancel()
        resolve(value)
      },
      (error: unknown) => {
        cancel()
        reject(error)
      },
    )
  })
}

/** How late a deadline may fire: the width of the slices deadlines are grouped in. */
const DEADLINE_SLACK_MS = 20
const slices = new Map<number, { timer: NodeJS.Timeout; due: Set<() => void> }>()

/** Calls `onTimeout` after `ms` (up to the slack later) unless the returned cancel is called first. */
function armDeadline(ms: number, onTimeout: () => void): () => void {
  const at = Math.ceil((Date.now() + ms) / DEADLINE_SLACK_MS)
  let slice = slices.get(at)
  if (slice === undefined) {
    const due = new Set<() => void>()
    const timer = setTimeout(
      () => {
        slices.delete(at)
        for (const fire of due) fire()
      },
      at * DEADLINE_SLACK_MS - Date.now(),
    )
    slice = { timer, due }
    slices.set(at, slice)
  }
  const { timer, due } = slice
  due.add(onTimeout)
  return () => {
    due.delete(onTimeout)
    // The last one out stops the timer: nothing pending keeps the process alive.
    if (due.size === 0 && slices.get(at)?.due === due) {
      clearTimeout(timer)
      slices.delete(at)
    }
  }
}
