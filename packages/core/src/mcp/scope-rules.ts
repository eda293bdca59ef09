import { z } from 'zod'
import { isValidatedRequirement } from '../gate/gate-support.js'
import {
  requirementParts,
  type ScopeImplications,
  type ScopePolicy,
  type ScopeRequirement,
  scopePolicy,
  scopeRequirementSchema,
} from '../oauth/scopes.js'
import { parseOptions } from '../support/options.js'
import { targetsOf } from './methods.js'
import { isUriTemplate, type UriTemplateMatcher, uriTemplateMatcher } from './uri-template.js'

/** What an MCP request operates on, as far as authorization is concerned. */
export type McpTarget =
  | { kind: 'tool'; name: string }
  | { kind: 'prompt'; name: string }
  | { kind: 'resource'; uri: string }

/** One JSON-RPC message of a body, read without trusting its shape. */
export interface McpMessage {
  /**
   * `request`: a method and an `id` (the SDK may dispatch it to a handler); `notification`: a
   * method without `id`; `response`: a client's answer to a server request; `invalid`: none of these.
   */
  type: 'request' | 'notification' | 'response' | 'invalid'
  method?: string
  /** The tool, prompt or resource a request operates on (`tools/call`, `prompts/get`, `resources/read`, ...). */
  target?: McpTarget
  /** When a request names several (`subscriptions/listen`): all of them, and no `target`. */
  targets?: readonly McpTarget[]
  /** Set when the request names no valid target: the SDK answers it with a JSON-RPC error and runs nothing. */
  malformed?: string
}

/** A POST body of the Streamable HTTP transport, inspected. */
export type McpBody =
  | { kind: 'messages'; batch: boolean; messages: readonly McpMessage[] }
  /** Not JSON-RPC at all (the SDK answers it with a JSON-RPC error). */
  | { kind: 'malformed'; reason: string }
  /** A batch with more messages than the inspection limit: answer it without the SDK (413). */
  | { kind: 'too_large'; count: number; limit: number }

export interface InspectOptions {
  /** Most messages in a JSON-RPC batch. Default 128 (MCP 2025-06-18 dropped batching altogether). */
  maxBatch?: number
}

export const DEFAULT_MAX_BATCH = 128

/**
 * Reads what a parsed MCP JSON-RPC body (one message or a batch) asks for, without trusting it:
 * for each message its type and method, and what it names (the table `MCP_CLIENT_METHODS`):
 * for `tools/call` the tool name, `prompts/get` the prompt name, `resources/read`,
 * `resources/subscribe` and `resources/unsubscribe` the URI, `completion/complete` the prompt or
 * resource it completes for, `subscriptions/listen` every resource URI it subscribes to. Never throws: anything unexpected is a `malformed` result (the SDK
 * then answers the JSON-RPC error). Only the top levels of each message are read, so nesting depth
 * costs nothing; the batch length is bounded.
 *
 * @example
 * inspectMcpBody({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add_note' } })
 * // { kind: 'messages', batch: false, messages: [{ type: 'request', method: 'tools/call', target: { kind: 'tool', name: 'add_note' } }] }
 */
export function inspectMcpBody(body: unknown, options: InspectOptions = {}): McpBody {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH
  try {
    if (Array.isArray(body)) {
      if (body.length === 0) return { kind: 'malformed', reason: 'An empty JSON-RPC batch' }
      if (body.length > maxBatch) return { kind: 'too_large', count: body.length, limit: maxBatch }
      return { kind: 'messages', batch: true, messages: body.map(inspectMessage) }
    }
    if (isObject(body)) return { kind: 'messages', batch: false, messages: [inspectMessage(body)] }
    return { kind: 'malformed', reason: 'The body is not a JSON-RPC message or batch' }
  } catch {
    // Only a non-JSON object (a getter that throws, a revoked proxy) gets here.
    return { kind: 'malformed', reason: 'The body could not be read' }
  }
}

function inspectMessage(value: unknown): McpMessage {
  if (!isObject(value)) return { type: 'invalid' }
  const method = own(value, 'method')
  if (typeof method !== 'string') {
    return Object.hasOwn(value, 'result') || Object.hasOwn(value, 'error')
      ? { type: 'response' }
      : { type: 'invalid' }
  }
  // JSON-RPC 2.0 §4.1: a notification has no "id" member. Any id counts as a request here, even
  // one the SDK would refuse: when in doubt, the message is checked.
  if (!Object.hasOwn(value, 'id')) return { type: 'notification', method }
  const named = targetsOf(method, own(value, 'params'))
  if ('malformed' in named) return { type: 'request', method, malformed: named.malformed }
  const { targets } = named
  if (targets.length === 0) return { type: 'request', method }
  if (targets.length === 1) return { type: 'request', method, target: targets[0] }
  return { type: 'request', method, targets }
}

/** Every tool, prompt and resource a message names (`target` or `targets`). */
export function messageTargets(message: McpMessage): readonly McpTarget[] {
  if (message.targets !== undefined) return message.targets
  return message.target === undefined ? [] : [message.target]
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const own = (object: Record<string, unknown>, key: string): unknown =>
  Object.hasOwn(object, key) ? object[key] : undefined

export interface McpScopeRulesOptions {
  /** The scope policy (with implication) of the protected resource, e.g. `gate.policy`. */
  policy?: ScopePolicy
  /** Scope implications, when no `policy` is given. */
  implies?: ScopeImplications
  /** Scopes per tool name. */
  tools?: Record<string, ScopeRequirement>
  /** Scopes per prompt name. */
  prompts?: Record<string, ScopeRequirement>
  /** Scopes per resource URI or URI template (`notes://{id}`). */
  resources?: Record<string, ScopeRequirement>
  /** Scopes for a tool, prompt or resource that nothing declares. Default: none (any valid token). */
  undeclared?: ScopeRequirement
  /** Most messages in a batch; larger batches are `too_large`. Default 128. */
  maxBatch?: number
  /** Longest resource URI matched against templates; a longer one needs every resource scope. Default 8192. */
  maxUriLength?: number
}

/** The outcome of checking a whole body against the rules. */
export interface McpScopeCheck {
  body: McpBody
  /** The smallest set of scopes that would let the token do everything the body asks; `[]` when it may. */
  missing: string[]
}

/**
 * The per-tool, per-prompt and per-resource scope rules of one MCP endpoint.
 */
export interface McpScopeRules {
  readonly policy: ScopePolicy
  /** Declares the scopes of a tool. Declaring the same requirement again is a no-op; a different one throws. */
  declareTool(name: string, requirement: ScopeRequirement): void
  declarePrompt(name: string, requirement: ScopeRequirement): void
  /** Declares the scopes of a resource URI, or of a URI template (`template: true`, or detected from `{...}`). */
  declareResource(
    uriOrTemplate: string,
    requirement: ScopeRequirement,
    options?: { template?: boolean },
  ): void
  /** Every requirement the target must meet (all of them); `[]` when it needs none. */
  requirementsFor(target: McpTarget): readonly ScopeRequirement[]
  /** Whether the granted scopes (with implication) may use the target. */
  allows(target: McpTarget, granted: readonly string[]): boolean
  inspect(body: unknown): McpBody
  /**
   * The minimal set of scopes the granted ones lack for everything the body asks (a batch is taken
   * as a whole: the union of what its requests need, then made minimal under implication). This
   * is the `scope` of one `insufficient_scope` challenge (MCP 2026-07-28 §Server Scope Management:
   * all scopes in a single challenge). A body too large to inspect needs every declared scope.
   */
  requiredFor(body: unknown, granted: readonly string[]): string[]
  /** `requiredFor`, with the inspected body. */
  check(body: unknown, granted: readonly string[]): McpScopeCheck
  /** Every scope some declaration names, in order of first declaration: for deriving `scopes_supported`. */
  declaredScopes(): string[]
}

const rulesOptionsSchema = z.strictObject({
  policy: z
    .custom<ScopePolicy>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        typeof (value as ScopePolicy).missing === 'function' &&
        typeof (value as ScopePolicy).satisfies === 'function',
      { error: 'must be a ScopePolicy (from scopePolicy() or gate.policy)' },
    )
    .optional(),
  implies: z.unknown().optional(),
  tools: z.record(z.string(), scopeRequirementSchema).optional(),
  prompts: z.record(z.string(), scopeRequirementSchema).optional(),
  resources: z.record(z.string(), scopeRequirementSchema).optional(),
  undeclared: scopeRequirementSchema.optional(),
  maxBatch: z.number().int().min(1).max(100_000).optional(),
  maxUriLength: z.number().int().min(16).max(1_000_000).optional(),
})

interface TemplateRule {
  matcher: UriTemplateMatcher
  requirement: ScopeRequirement
}

/**
 * Builds the scope rules of an MCP endpoint from declarations: per tool, prompt and resource (URI
 * or URI template) a `ScopeRequirement`, plus an optional requirement for anything undeclared.
 * Implication is honoured (MCP 2026-07-28 §Step-Up Authorization Flow: servers MUST account for
 * scope hierarchies). Declarations can be added later (`declareTool` ...), e.g. by a registration
 * helper as tools are registered.
 *
 * @example
 * const rules = mcpScopeRules({
 *   implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] },
 *   tools: { list_notes: ['notes:read'], add_note: ['notes:write'], clear_notes: ['notes:admin'] },
 * })
 * rules.requiredFor(
 *   [{ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add_note' } },
 *    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'clear_notes' } }],
 *   ['notes:read'],
 * ) // ['notes:admin']
 */
export function mcpScopeRules(options: McpScopeRulesOptions = {}): McpScopeRules {
  const parsed = parseOptions(rulesOptionsSchema, options, 'mcpScopeRules')
  const policy = parsed.policy ?? scopePolicy((options.implies ?? {}) as ScopeImplications)
  const maxBatch = parsed.maxBatch ?? DEFAULT_MAX_BATCH
  const maxUriLength = parsed.maxUriLength ?? 8192
  const undeclared = parsed.undeclared as ScopeRequirement | undefined

  // Maps, not objects: a tool named "__proto__" or "constructor" is just a name.
  const tools = new Map<string, ScopeRequirement>()
  const prompts = new Map<string, ScopeRequirement>()
  const resources = new Map<string, ScopeRequirement>()
  const templates = new Map<string, TemplateRule>()

  /** The validated requirement, or a TypeError when `key` already needs something else. */
  const validate = (
    what: string,
    key: string,
    requirement: ScopeRequirement,
    known: ScopeRequirement | undefined,
  ) => {
    if (typeof key !== 'string' || key === '')
      throw new TypeError(`mcpScopeRules: a ${what} needs a non-empty name`)
    // Validated once: a stateless route declares its tools again for every request's server.
    const valid = isValidatedRequirement(requirement)
      ? requirement
      : parseOptions(scopeRequirementSchema, requirement, `mcpScopeRules: ${what} ${JSON.stringify(key)}`)
    if (known === valid) return known
    if (known !== undefined && !sameRequirement(known, valid)) {
      throw new TypeError(
        `mcpScopeRules: ${what} ${JSON.stringify(key)} is declared with ${describe(known)}; it cannot also need ${describe(valid)}`,
      )
    }
    return known ?? (valid as ScopeRequirement)
  }

  const declareTool = (name: string, requirement: ScopeRequirement) => {
    tools.set(name, validate('tool', name, requirement, tools.get(name)))
  }
  const declarePrompt = (name: string, requirement: ScopeRequirement) => {
    prompts.set(name, validate('prompt', name, requirement, prompts.get(name)))
  }
  const declareResource = (
    uriOrTemplate: string,
    requirement: ScopeRequirement,
    opts: { template?: boolean } = {},
  ) => {
    if (typeof uriOrTemplate !== 'string')
      throw new TypeError('mcpScopeRules: a resource needs a URI or URI template')
    if (opts.template ?? isUriTemplate(uriOrTemplate)) {
      const known = templates.get(uriOrTemplate)
      const valid = validate('resource template', uriOrTemplate, requirement, known?.requirement)
      if (known === undefined)
        templates.set(uriOrTemplate, { matcher: uriTemplateMatcher(uriOrTemplate), requirement: valid })
      return
    }
    // The SDKs look a static resource up by the normalised URL (`new URL(uri).toString()`).
    const key = normaliseUri(uriOrTemplate) ?? uriOrTemplate
    resources.set(key, validate('resource', uriOrTemplate, requirement, resources.get(key)))
  }

  for (const [name, requirement] of Object.entries(options.tools ?? {})) declareTool(name, requirement)
  for (const [name, requirement] of Object.entries(options.prompts ?? {})) declarePrompt(name, requirement)
  for (const [uri, requirement] of Object.entries(options.resources ?? {})) declareResource(uri, requirement)

  const orUndeclared = (requirement: ScopeRequirement | undefined): readonly ScopeRequirement[] => {
    if (requirement !== undefined) return [requirement]
    return undeclared === undefined ? [] : [undeclared]
  }

  /** Fail closed: what a resource nobody can match safely needs (every resource rule at once). */
  const everyResourceRule = (): ScopeRequirement[] => {
    const all: ScopeRequirement[] = [
      ...resources.values(),
      ...[...templates.values()].map((t) => t.requirement),
    ]
    if (undeclared !== undefined) all.push(undeclared)
    return all
  }

  const resourceRequirements = (uri: string): readonly ScopeRequirement[] => {
    if (uri.length > maxUriLength) return everyResourceRule()
    const normalised = normaliseUri(uri)
    if (normalised !== undefined) {
      const exact = resources.get(normalised)
      if (exact !== undefined) return [exact]
    }
    // The SDK serves the first template that matches; every matching one is checked here, so the
    // declaration order of templates cannot open a gap. A completion names the template itself.
    const matched: ScopeRequirement[] = []
    for (const [template, rule] of templates) {
      if (template === uri || (normalised !== undefined && rule.matcher.matches(normalised))) {
        matched.push(rule.requirement)
      }
    }
    if (matched.length > 0) return matched
    // An unparseable URI is refused by the SDK (`new URL(uri)` throws) before any handler runs.
    return normalised === undefined ? [] : orUndeclared(undefined)
  }

  const requirementsFor = (target: McpTarget): readonly ScopeRequirement[] => {
    switch (target.kind) {
      case 'tool':
        return orUndeclared(tools.get(target.name))
      case 'prompt':
        return orUndeclared(prompts.get(target.name))
      case 'resource':
        return resourceRequirements(target.uri)
    }
  }

  const inspect = (body: unknown) => inspectMcpBody(body, { maxBatch })

  const missingFor = (requirements: readonly ScopeRequirement[], granted: readonly string[]): string[] => {
    // The usual answer, without building anything: the token meets every requirement.
    if (requirements.every((requirement) => policy.satisfies(requirement, granted))) return []
    // All-of requirements add up; an any-of one counts only when what is already asked for does
    // not meet it. The union is then made minimal under implication by the policy.
    const asked: string[] = []
    const anyOf: ScopeRequirement[] = []
    for (const requirement of requirements) {
      if (requirementParts(requirement).kind === 'any') anyOf.push(requirement)
      else asked.push(...policy.missing(requirement, granted))
    }
    for (const requirement of anyOf) {
      if (!policy.satisfies(requirement, [...granted, ...asked]))
        asked.push(...policy.missing(requirement, granted))
    }
    return asked.length === 0 ? [] : policy.missing([...new Set(asked)], granted)
  }

  const check = (body: unknown, granted: readonly string[]): McpScopeCheck => {
    const inspected = inspect(body)
    const grantedList = !Array.isArray(granted)
      ? []
      : granted.every((s) => typeof s === 'string')
        ? granted
        : granted.filter((s): s is string => typeof s === 'string')
    if (inspected.kind === 'malformed') return { body: inspected, missing: [] }
    if (inspected.kind === 'too_large') {
      const everything = [...tools.values(), ...prompts.values(), ...everyResourceRule()]
      return { body: inspected, missing: missingFor(everything, grantedList) }
    }
    const requirements: ScopeRequirement[] = []
    // Most bodies name one target: the set of those already counted is built from the second on.
    let first: McpTarget | undefined
    let seen: Set<string> | undefined
    for (const message of inspected.messages) {
      if (message.type !== 'request') continue
      for (const t of messageTargets(message)) {
        if (first === undefined) first = t
        else {
          seen ??= new Set([targetKey(first)])
          const key = targetKey(t)
          if (seen.has(key)) continue
          seen.add(key)
        }
        requirements.push(...requirementsFor(t))
      }
    }
    return { body: inspected, missing: missingFor(requirements, grantedList) }
  }

  const declaredScopes = (): string[] => {
    const out = new Set<string>()
    const add = (requirement: ScopeRequirement | undefined) => {
      if (requirement === undefined) return
      for (const scope of requirementParts(requirement).scopes) out.add(scope)
    }
    for (const r of tools.values()) add(r)
    for (const r of prompts.values()) add(r)
    for (const r of resources.values()) add(r)
    for (const t of templates.values()) add(t.requirement)
    add(undeclared)
    return [...out]
  }

  return Object.freeze({
    policy,
    declareTool,
    declarePrompt,
    declareResource,
    requirementsFor,
    allows: (target: McpTarget, granted: readonly string[]) =>
      requirementsFor(target).every((requirement) => policy.satisfies(requirement, granted)),
    inspect,
    requiredFor: (body: unknown, granted: readonly string[]) => check(body, granted).missing,
    check,
    declaredScopes,
  })
}

const targetKey = (t: McpTarget) => (t.kind === 'resource' ? `r${t.uri}` : `${t.kind[0]}${t.name}`)

function normaliseUri(uri: string): string | undefined {
  if (!URL.canParse(uri)) return undefined
  return new URL(uri).href
}

function sameRequirement(a: ScopeRequirement, b: ScopeRequirement): boolean {
  const x = requirementParts(a)
  const y = requirementParts(b)
  if (x.scopes.length === 0 && y.scopes.length === 0) return true
  if (x.kind !== y.kind) return false
  const set = new Set(x.scopes)
  return set.size === new Set(y.scopes).size && y.scopes.every((s) => set.has(s))
}

function describe(requirement: ScopeRequirement): string {
  const { kind, scopes } = requirementParts(requirement)
  if (scopes.length === 0) return 'no scopes'
  return kind === 'any' ? `any of [${scopes.join(' ')}]` : `[${scopes.join(' ')}]`
}
