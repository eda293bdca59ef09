import type { McpTarget } from './scope-rules.js'

/**
 * How the scope rules treat a client-to-server MCP method:
 * - `names`: the request names tools, prompts, resources or resource templates; each is checked
 *   against the declarations before the SDK sees the request (403 `insufficient_scope`);
 * - `lists`: the answer lists them; the route filters it to what the caller may use;
 * - `none`: the method names nothing a declaration covers.
 */
export type McpMethodClass = 'names' | 'lists' | 'none'

/**
 * Every method a client sends to a server, in both protocol lines (2025-06-18 / 2025-11-25 and
 * 2026-07-28), and what it names. A method the SDK learns later and this table does not classify
 * fails a test (`test/hardening/mcp-methods.test.ts`), so a new way to name a tool cannot pass
 * unchecked. A method not listed here is answered by the SDK with "method not found".
 */
export const MCP_CLIENT_METHODS: Readonly<Record<string, McpMethodClass>> = Object.freeze({
  // Requests (lifecycle and utilities).
  initialize: 'none',
  ping: 'none',
  'server/discover': 'none', // 2026-07-28
  'logging/setLevel': 'none',
  // Requests that name what they operate on: see `targetsOf`.
  'tools/call': 'names', // params.name: a tool
  'prompts/get': 'names', // params.name: a prompt
  'resources/read': 'names', // params.uri: a resource (or one a template matches)
  'resources/subscribe': 'names', // params.uri
  'resources/unsubscribe': 'names', // params.uri
  'completion/complete': 'names', // params.ref: a prompt (ref/prompt) or a resource template (ref/resource)
  'subscriptions/listen': 'names', // 2026-07-28: params.notifications.resourceSubscriptions, URIs
  // Requests whose answer lists them (filtered by the route).
  'tools/list': 'lists',
  'prompts/list': 'lists',
  'resources/list': 'lists',
  'resources/templates/list': 'lists',
  // Tasks (2025-11-25, experimental) name a task id; the task was created by a request checked above.
  'tasks/get': 'none',
  'tasks/result': 'none',
  'tasks/list': 'none',
  'tasks/cancel': 'none',
  // Notifications.
  'notifications/initialized': 'none',
  'notifications/cancelled': 'none',
  'notifications/progress': 'none',
  'notifications/roots/list_changed': 'none',
  'notifications/tasks/status': 'none',
})

/** What a request names, or why it cannot be read (the SDK then refuses it and runs nothing). */
export type McpNamed = { targets: McpTarget[] } | { malformed: string }

/**
 * The tools, prompts and resources a request of a `names` method operates on (`[]` for any other
 * method), read from its params without trusting their shape. The one place that knows where each
 * method carries its names.
 */
export function targetsOf(method: string, params: unknown): McpNamed {
  const read = (key: string) => (isObject(params) ? own(params, key) : undefined)
  switch (method) {
    case 'tools/call':
      return named('tool', read('name'))
    case 'prompts/get':
      return named('prompt', read('name'))
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return addressed(read('uri'))
    case 'completion/complete': {
      // Completions reveal argument values of the prompt or resource template they complete for.
      const ref = read('ref')
      if (!isObject(ref)) return { malformed: 'params.ref must be an object' }
      const type = own(ref, 'type')
      if (type === 'ref/prompt') return named('prompt', own(ref, 'name'))
      if (type === 'ref/resource') return addressed(own(ref, 'uri'))
      return { malformed: 'params.ref.type must be ref/prompt or ref/resource' }
    }
    case 'subscriptions/listen': {
      // 2026-07-28: `notifications/resources/updated` for each URI is delivered on the stream, so
      // each is checked as `resources/read` and `resources/subscribe` check it.
      const filter = read('notifications')
      if (!isObject(filter)) return { malformed: 'params.notifications must be an object' }
      const uris = own(filter, 'resourceSubscriptions')
      if (uris === undefined) return { targets: [] }
      if (!Array.isArray(uris) || uris.some((uri) => typeof uri !== 'string')) {
        return { malformed: 'params.notifications.resourceSubscriptions must be a list of URIs' }
      }
      return { targets: [...new Set(uris as string[])].map((uri) => ({ kind: 'resource', uri })) }
    }
    default:
      return { targets: [] }
  }
}

function named(kind: 'tool' | 'prompt', name: unknown): McpNamed {
  if (typeof name !== 'string') return { malformed: `The ${kind} name must be a string` }
  return { targets: [{ kind, name }] }
}

function addressed(uri: unknown): McpNamed {
  if (typeof uri !== 'string') return { malformed: 'The resource URI must be a string' }
  return { targets: [{ kind: 'resource', uri }] }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const own = (object: Record<string, unknown>, key: string): unknown =>
  Object.hasOwn(object, key) ? object[key] : undefined
