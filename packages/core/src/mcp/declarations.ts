import { parseScopeArgs, type ScopeArgs } from '../gate/gate-support.js'
import type { ScopeRequirement } from '../oauth/scopes.js'
import { type AuthInfo, isAuthInfo } from '../token/auth-info.js'
import { principalKey } from './principal.js'
import type { McpScopeRules, McpTarget } from './scope-rules.js'
import { supportsScopeChallenge } from './sdk-compat.js'

type RegisterMethod = 'registerTool' | 'registerPrompt' | 'registerResource'

/**
 * The registration methods of an MCP server (`McpServer` of `@modelcontextprotocol/sdk` 1.x or of
 * `@modelcontextprotocol/server` 2.x), with the SDK's own signatures and types.
 */
export type ScopedRegistrar<S> = Pick<S, Extract<keyof S, RegisterMethod>>

/** A scope declaration recorded on a server instance, read by the MCP route when it hosts the instance. */
export interface McpDeclaration {
  target: McpTarget
  /** For a resource: whether `target.uri` is a URI template. */
  template: boolean
  requirement: ScopeRequirement
}

/** What one registry keeps about one server instance: its declarations, and the route hosting it. */
interface ServerSlot {
  declarations: McpDeclaration[]
  hostedBy: McpScopeRules | undefined
}

/**
 * Where a registry keeps its slots: a symbol-keyed property on each server instance, not a
 * `WeakMap` entry. A stateless route builds (and declares, and hosts) a new server for every
 * request, and a `WeakMap` entry per short-lived key is an ephemeron the collector must trace and
 * clear on every scavenge. A server that cannot take a property (frozen) falls back to `frozen`.
 */
interface RegistryData {
  key: symbol
  frozen: WeakMap<object, ServerSlot>
}

/**
 * Where `withScopes` records declarations and the MCP route reads them. `withScopes` and every
 * route use the process-wide registry unless a route is given its own (`scopeRegistry`) and the
 * server's items are declared through that registry's `withScopes`.
 *
 * @example
 * const scopes = mcpScopeRegistry()
 * scopes.withScopes(server, 'notes:write').registerTool('add_note', config, addNote)
 * app.register(mcpRoute, { server: () => server, scopeRegistry: scopes })
 */
export interface McpScopeRegistry {
  /** `withScopes`, recording into this registry. */
  withScopes<S extends object>(server: S, ...scopes: ScopeArgs): ScopedRegistrar<S>
  /** The declarations recorded on a server instance. */
  declarationsOf(server: object): readonly McpDeclaration[]
  /** Marks a server instance as hosted by a route with these rules (what guarded handlers check against). */
  markHosted(server: object, rules: McpScopeRules): void
}

/** A registry of its own: declarations made through it are seen only by routes given it. */
export function mcpScopeRegistry(): McpScopeRegistry {
  return registryOver({ key: Symbol('@portcullis/core mcp scope registry'), frozen: new WeakMap() })
}

// The default registry is one per process, shared by every loaded copy of this module (two
// installed versions of @portcullis/core, one through each adapter; test loaders): a tool declared
// through one copy must be seen by a route hosted through another, or its scopes would be lost.
// The slot key is a registered symbol (every copy gets the same one); the fallback map for frozen
// servers lives on globalThis. Only data is shared (its shape is fixed), never one copy's functions.
const REGISTRY = Symbol.for('@portcullis/core mcp scope registry')
const globalSlots = globalThis as Record<symbol, unknown>
globalSlots[REGISTRY] ??= { key: REGISTRY, frozen: new WeakMap() } satisfies RegistryData

/**
 * The process-wide registry, used by `withScopes` and by every route not given a `scopeRegistry`.
 * Its data is kept on each server under `Symbol.for('@portcullis/core mcp scope registry')`.
 */
export const processScopeRegistry: McpScopeRegistry = registryOver(globalSlots[REGISTRY] as RegistryData)

const OWNER = 'withScopes'

/**
 * Declares the scopes of the tool, prompt or resource registered next: `withScopes(server, ...)`
 * returns the server's own `registerTool` / `registerPrompt` / `registerResource` (typed by the
 * SDK), which record the requirement and then register as usual. Works with `McpServer` of both
 * SDK lines. With no scopes, the item is declared open to any valid token. Declarations go to the
 * process-wide registry (`processScopeRegistry`); `mcpScopeRegistry()` makes a separate one.
 *
 * The MCP route (`mcpRoute`) reads these declarations: a `tools/call` (or `prompts/get`,
 * `resources/read`) the token lacks scopes for gets HTTP 403 with an `insufficient_scope`
 * challenge before the SDK runs anything, and `tools/list` names each tool's scopes (`McpListing`).
 * On `@modelcontextprotocol/server` 2.1 and later the item also gets the SDK's own
 * `scopeChallenge` hook with the same rule, so the SDK's transports challenge it too.
 * The handler is also guarded where it runs: called without a caller that has the scopes (or on a
 * server the route does not host), it fails instead of running.
 *
 * @example
 * const server = new McpServer({ name: 'notes', version: '1.0.0' })
 * withScopes(server, 'notes:write').registerTool('add_note', { inputSchema: { text: z.string() } }, addNote)
 * withScopes(server, { anyOf: ['notes:read', 'notes:admin'] }).registerPrompt('summary', {}, summary)
 * withScopes(server).registerTool('whoami', {}, whoami) // any valid token
 */
export function withScopes<S extends object>(server: S, ...scopes: ScopeArgs): ScopedRegistrar<S> {
  return processScopeRegistry.withScopes(server, ...scopes)
}

function registryOver(data: RegistryData): McpScopeRegistry {
  const { key, frozen } = data
  type Slotted = { [slot: symbol]: ServerSlot | undefined }
  const slotOf = (server: object): ServerSlot | undefined =>
    Object.hasOwn(server, key) ? (server as Slotted)[key] : frozen.get(server)
  const slotFor = (server: object): ServerSlot => {
    const known = slotOf(server)
    if (known !== undefined) return known
    const slot: ServerSlot = { declarations: [], hostedBy: undefined }
    if (Object.isExtensible(server)) (server as Slotted)[key] = slot
    else frozen.set(server, slot)
    return slot
  }

  return Object.freeze({
    withScopes<S extends object>(server: S, ...scopes: ScopeArgs): ScopedRegistrar<S> {
      if (typeof server !== 'object' || server === null)
        throw new TypeError(`${OWNER}: expected an McpServer`)
      const requirement = parseScopeArgs(scopes, OWNER)
      const target = server as Record<RegisterMethod, ((...args: unknown[]) => unknown) | undefined>
      const rulesOf = () => slotOf(server)?.hostedBy

      const register = (method: RegisterMethod, declaration: McpDeclaration, args: unknown[]) => {
        const original = target[method]
        if (typeof original !== 'function')
          throw new TypeError(`${OWNER}: the server has no ${method} method`)
        const callback = args.at(-1)
        if (typeof callback !== 'function')
          throw new TypeError(`${OWNER}: ${method} needs a callback as its last argument`)
        slotFor(server).declarations.push(declaration)
        args[args.length - 1] = guarded(rulesOf, declaration, callback as (...a: unknown[]) => unknown)
        // The config is the argument before the callback in every register method of both lines.
        if (supportsScopeChallenge(server) && args.length >= 3) {
          args[args.length - 2] = withScopeChallenge(args[args.length - 2], rulesOf)
        }
        return original.apply(server, args)
      }

      const registrar: Partial<Record<RegisterMethod, (...args: unknown[]) => unknown>> = {
        registerTool: (...args) => register('registerTool', declare('tool', args[0], requirement), args),
        registerPrompt: (...args) =>
          register('registerPrompt', declare('prompt', args[0], requirement), args),
        registerResource: (...args) =>
          register('registerResource', declareResource(args[1], requirement), args),
      }
      return registrar as ScopedRegistrar<S>
    },
    declarationsOf: (server: object): readonly McpDeclaration[] => slotOf(server)?.declarations ?? [],
    markHosted(server: object, rules: McpScopeRules): void {
      slotFor(server).hostedBy = rules
    },
  })
}

/** What the 2.x SDK hands a `scopeChallenge` handler. */
interface ScopeChallengeContext {
  request: unknown
  authInfo?: AuthInfo
}
type ScopeChallengeHandler = (context: ScopeChallengeContext) => unknown

/**
 * The item's config with the SDK's `scopeChallenge` hook (`@modelcontextprotocol/server` ≥ 2.1)
 * answering from the hosting route's rules: the same scopes as the route's 403. A challenge the
 * config already had runs when these rules find nothing missing. Unhosted, or without a caller,
 * it asks for nothing: the guarded handler refuses such calls itself.
 */
function withScopeChallenge(config: unknown, rulesOf: () => McpScopeRules | undefined): unknown {
  if (typeof config !== 'object' || config === null) return config
  const own = (config as { scopeChallenge?: unknown }).scopeChallenge
  const theirs = typeof own === 'function' ? (own as ScopeChallengeHandler) : undefined
  const scopeChallenge: ScopeChallengeHandler = (context) => {
    const rules = rulesOf()
    const auth = context?.authInfo
    if (rules !== undefined && auth !== undefined) {
      const missing = rules.requiredFor(context.request, auth.scopes)
      if (missing.length > 0) return { scopes: missing }
    }
    return theirs?.(context)
  }
  // Object.assign, not a spread that adds a member: cheaper to build and for the SDK to read
  // (createMcpEndpoint's newTransport says by how much).
  return Object.assign({}, config, { scopeChallenge })
}

function declare(kind: 'tool' | 'prompt', name: unknown, requirement: ScopeRequirement): McpDeclaration {
  if (typeof name !== 'string' || name === '') throw new TypeError(`${OWNER}: a ${kind} needs a name`)
  return { target: { kind, name }, template: false, requirement }
}

function declareResource(uriOrTemplate: unknown, requirement: ScopeRequirement): McpDeclaration {
  if (typeof uriOrTemplate === 'string')
    return { target: { kind: 'resource', uri: uriOrTemplate }, template: false, requirement }
  // A ResourceTemplate of either SDK line: its `uriTemplate` prints as the template text.
  const template = (uriOrTemplate as { uriTemplate?: unknown } | null)?.uriTemplate
  if (template === undefined || template === null) {
    throw new TypeError(`${OWNER}: registerResource needs a URI or a ResourceTemplate`)
  }
  return { target: { kind: 'resource', uri: String(template) }, template: true, requirement }
}

/** The handler as registered: it runs only for a caller whose scopes meet the requirement. */
function guarded(
  rulesOf: () => McpScopeRules | undefined,
  declaration: McpDeclaration,
  callback: (...args: unknown[]) => unknown,
) {
  // Named only in a refusal: a stateless route registers every tool again for each request.
  const what = () => describeTarget(declaration.target)
  return function scopeGuardedHandler(this: unknown, ...args: unknown[]) {
    // The SDKs pass the request context (1.x `extra`, 2.x `ctx`) last, whatever comes before it.
    const auth = authInfoFrom(args.at(-1))
    const rules = rulesOf()
    if (rules === undefined) throw new Error(`${what()} is not served behind the Portcullis MCP route`)
    if (auth === undefined) throw new Error(`${what()} needs an authenticated caller`)
    if (!rules.policy.satisfies(declaration.requirement, auth.scopes)) {
      const missing = rules.policy.missing(declaration.requirement, auth.scopes)
      throw new Error(`Insufficient scope: ${what()} requires ${missing.join(' ')}`)
    }
    return callback.apply(this, args)
  }
}

const describeTarget = (target: McpTarget) =>
  target.kind === 'resource' ? `resource ${target.uri}` : `${target.kind} ${target.name}`

/**
 * The caller's `AuthInfo` from the context an MCP SDK hands a tool, prompt or resource handler:
 * `extra.authInfo` in `@modelcontextprotocol/sdk` 1.x, `ctx.http.authInfo` in 2.x. Behind the
 * Portcullis route it is the verified caller (with `extra.sub`, `extra.iss`, `extra.fingerprint`).
 *
 * @example
 * server.registerTool('whoami', {}, async (ctx) => {
 *   const caller = authInfoFrom(ctx)
 *   return { content: [{ type: 'text', text: caller?.extra?.sub ?? 'anonymous' }] }
 * })
 */
export function authInfoFrom(context: unknown): AuthInfo | undefined {
  if (typeof context !== 'object' || context === null) return undefined
  const direct = (context as { authInfo?: unknown }).authInfo
  if (isAuthInfo(direct)) return direct
  const http = (context as { http?: { authInfo?: unknown } }).http
  const nested = typeof http === 'object' && http !== null ? http.authInfo : undefined
  return isAuthInfo(nested) ? nested : undefined
}

/**
 * A `bind` for the 2.x SDK's `createRequestStateCodec`: ties a 2026-07-28 `requestState` to the
 * principal (issuer, subject, client) that received it, so another caller echoing it is refused
 * (MCP security best practices, "State Handle Hijacking"). Throws without a caller: no state is
 * minted for, or accepted from, an unauthenticated request.
 *
 * @example
 * const codec = createRequestStateCodec({ key: process.env.STATE_KEY, bind: principalBinding })
 * const server = new McpServer(info, { requestState: { verify: codec.verify } })
 */
export function principalBinding(ctx: unknown): string {
  const auth = authInfoFrom(ctx)
  if (auth === undefined) throw new Error('requestState needs an authenticated caller')
  return principalKey(auth)
}
