// The options every adapter shares (beside the gate's own), validated once: the adapter's own
// options by the adapter's schema, the gate's by `createGate`, each key by exactly one of them.
import { z } from 'zod'
import { parseOptions } from '../support/options.js'
import type { AuditEvent } from '../telemetry/audit.js'
import { type KeySetEvent, onKeySetEvent } from '../token/key-set-events.js'
import { createGate } from './gate.js'
import { gateSchema } from './gate-options.js'
import type { Gate, GateOptions, RejectionLog } from './gate-types.js'

/** Which requests an adapter authenticates by itself: every one (`'all'`) or only declared ones. */
export type RoutesMode = 'all' | 'declared'

/**
 * Options of both adapters that are not options of the gate, with the same name and meaning.
 * `R` is the framework's request, handed to listeners (never log its headers: they hold the token).
 */
export interface AdapterOptions<R> {
  /**
   * Which routes the adapter protects: `'all'` (default) every route except public ones;
   * `'declared'` only routes that ask for it (Fastify `config: { protect: true }` or
   * `config.scopes`; Express `protect()` / `requireScopes()`).
   */
  routes?: RoutesMode
  /**
   * Serve the metadata document at its well-known path(s). Default `true`, which needs the adapter
   * at the root; under a route prefix set `false` and serve it at the root (Fastify
   * `portcullisMetadata`, Express `auth.metadata`).
   */
  metadataRoutes?: boolean
  /**
   * Hears each rejected request: `{ severity, fields: { reason, status, fingerprint,
   * missingScopes, err } }`, never the token. Default: Fastify logs it with `request.log`
   * (`info`), Express prints unexpected verifier failures (`severity: 'error'`) only.
   */
  onRejection?: (event: RejectionLog, request: R) => void
  /**
   * Hears the audit event of every access decision (allowed, refused, step-up, revoked; see
   * `docs/audit-events.md`). Default none. An event never holds a token (only its fingerprint).
   */
  onAudit?: (event: AuditEvent, request: R) => void
  /**
   * Hears the key set events of the process (a remote key set that cannot be refreshed, its
   * recovery; `onKeySetEvent`): while held keys serve, no request shows an outage. Default:
   * logged (Fastify's logger, Express's console), once per server / process. `false`: not reported.
   */
  onKeySetEvent?: ((event: KeySetEvent) => void) | false
}

/** A listener option: a function, validated as one. */
export const listenerSchema = <F extends (...args: never[]) => unknown>(what = 'a function') =>
  z.custom<F>((value) => typeof value === 'function', { error: `must be ${what}` })

/** The shape of `AdapterOptions`; adapters add theirs. */
export const adapterOptionsShape = {
  routes: z.enum(['all', 'declared']).optional(),
  metadataRoutes: z.boolean().optional(),
  onRejection: listenerSchema<(event: RejectionLog, request: unknown) => void>().optional(),
  onAudit: listenerSchema<(event: AuditEvent, request: unknown) => void>().optional(),
  onKeySetEvent: z
    .union([z.literal(false), listenerSchema<(event: KeySetEvent) => void>('a function or false')])
    .optional(),
}

/**
 * The schema of a `public` option (Express's): paths, each starting with `/`, and regular
 * expressions (`publicPathMatcher`), or a function of the framework's request `F` takes.
 */
export const publicOptionSchema = <F extends (...args: never[]) => unknown>() =>
  z
    .union([
      z.array(z.union([z.string().startsWith('/', 'a public path starts with /'), z.instanceof(RegExp)])),
      listenerSchema<F>('a list of paths and regular expressions, or a function of the request'),
    ])
    .optional()

/** What `gateFromAdapterOptions` returns: the gate, and the adapter's own options, validated. */
export interface AdapterSetup<Own> {
  gate: Gate
  own: Own
}

/**
 * Splits an adapter's options into its own (validated by `shape`) and the gate's (given to
 * `createGate`, which validates them, or `{ gate }`, a gate made before), so that each option is
 * validated once and every error names `owner`. `renamed` maps an old option name to its new one,
 * so that the old name is refused with a pointer to the new. The caller's own objects go to `createGate`
 * untouched (no zod copy, which would lose a `"__proto__"` key of `scopes.implies`).
 *
 * @example
 * const { gate, own } = gateFromAdapterOptions(options, '@portcullis/express', { ...adapterOptionsShape })
 */
export function gateFromAdapterOptions<S extends z.ZodRawShape>(
  options: unknown,
  owner: string,
  shape: S,
  renamed: Readonly<Record<string, string>> = {},
): AdapterSetup<z.output<z.ZodObject<S>>> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${owner}: options must be an object (the gate's options, or { gate })`)
  }
  for (const [old, now] of Object.entries(renamed)) {
    if (Object.hasOwn(options, old)) throw new TypeError(`${owner}: option "${old}" is now "${now}"`)
  }
  const own: Record<string, unknown> = {}
  const rest: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(options)) {
    // defineProperty: an own "__proto__" key stays a key, never a prototype.
    Object.defineProperty(Object.hasOwn(shape, key) ? own : rest, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  const ownOptions = parseOptions(z.strictObject(shape), own, owner)
  const gate = Object.hasOwn(rest, 'gate')
    ? gateOption(rest, owner)
    : createGate(rest as unknown as GateOptions, owner)
  return { gate, own: ownOptions }
}

/** The gate of options that are exactly `{ gate }` (a gate made with `createGate`); errors name `owner`. */
export function gateOption(options: unknown, owner: string): Gate {
  return parseOptions(z.strictObject({ gate: gateSchema }), options, owner).gate
}

const keySetReporting = new WeakSet<object>()

/**
 * Subscribes `listener` (or `fallback`) to the key set events of the process once per `owner` (a
 * server, or the listener itself where there is no server); returns the unsubscribe function, or
 * `undefined` when reporting is off or `owner` already reports.
 */
export function reportKeySetEventsOnce(
  owner: object | undefined,
  listener: ((event: KeySetEvent) => void) | false | undefined,
  fallback: (event: KeySetEvent) => void,
): (() => void) | undefined {
  if (listener === false) return undefined
  const target = listener ?? fallback
  const key = owner ?? target
  if (keySetReporting.has(key)) return undefined
  keySetReporting.add(key)
  const stop = onKeySetEvent(target)
  return () => {
    stop()
    keySetReporting.delete(key)
  }
}
