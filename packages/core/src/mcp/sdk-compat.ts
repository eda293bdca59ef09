/**
 * The one place Portcullis touches MCP SDK internals. Everything else in core uses the SDKs'
 * public API: `registerTool` / `registerPrompt` / `registerResource` (with the 2.x
 * `scopeChallenge` hook, `@modelcontextprotocol/server` ≥ 2.1), `connect`, the transports.
 *
 * What remains here has no public hook in either SDK line: shaping `tools/list` (and the other
 * lists) per caller. `McpServer` installs its list handlers in the protocol's private handler
 * table, so the route wraps them there, and watches `setRequestHandler` for list handlers the
 * server installs later (the first tool registered while serving).
 *
 * Supported shapes, each pinned by `packages/core/test/sdk-compat.test.ts` against the installed SDK:
 * - `@modelcontextprotocol/sdk` 1.x: `McpServer.server._requestHandlers` (a `Map`), `setRequestHandler`.
 * - `@modelcontextprotocol/server` 2.x: the same two, and `_wrapHandler` on the protocol, which
 *   1.x lacks (how the two lines are told apart); `McpServer.resolveScopeChallenge` from 2.1 on.
 *
 * If an SDK release moves any of these, this module throws `McpSdkInternalsError` naming the field
 * and the SDK line: never a list served unshaped, never a scope check skipped.
 */

/** A request handler as the SDKs keep it in their table. */
export type SdkRequestHandler = (request: unknown, context: unknown) => unknown

/** The SDK lines Portcullis supports, as named in errors. */
export type McpSdkLine = '@modelcontextprotocol/sdk 1.x' | '@modelcontextprotocol/server 2.x'

/** An MCP SDK no longer has an internal field Portcullis relies on (or the server is not an SDK server). */
export class McpSdkInternalsError extends Error {
  override readonly name = 'McpSdkInternalsError'
  constructor(
    readonly owner: string,
    /** The field that was expected, e.g. `McpServer.server._requestHandlers`. */
    readonly field: string,
    /** The SDK line the server looked like, when it could be told. */
    readonly line: McpSdkLine | undefined,
  ) {
    super(
      `${owner}: cannot shape MCP lists per caller: ${field} is missing on this server ` +
        `(${line ?? 'neither @modelcontextprotocol/sdk 1.x nor @modelcontextprotocol/server 2.x'}). ` +
        'The SDK internals Portcullis relies on changed; use a supported SDK version.',
    )
  }
}

interface ProtocolLike {
  _requestHandlers?: unknown
  setRequestHandler?: unknown
  _wrapHandler?: unknown
}

/** The protocol object holding the handler table: `McpServer.server`, or a low-level `Server` itself. */
function protocolOf(server: object): ProtocolLike {
  const inner = (server as { server?: unknown }).server
  if (typeof inner !== 'object' || inner === null) return server as ProtocolLike
  if ((server as ProtocolLike)._requestHandlers instanceof Map) return server as ProtocolLike
  return inner as ProtocolLike
}

const fieldPath = (server: object, field: string) =>
  protocolOf(server) === server ? `Server.${field}` : `McpServer.server.${field}`

/**
 * The SDK line a server belongs to, told apart by shape: 2.x's protocol has `_wrapHandler`, 1.x's
 * has not. `undefined` when it has no handler table at all (not an SDK server, or an unknown SDK).
 */
export function mcpSdkLineOf(server: object): McpSdkLine | undefined {
  const protocol = protocolOf(server)
  if (!(protocol._requestHandlers instanceof Map)) return undefined
  return typeof protocol._wrapHandler === 'function'
    ? '@modelcontextprotocol/server 2.x'
    : '@modelcontextprotocol/sdk 1.x'
}

/**
 * Whether `registerTool` & co. of this server honour the `scopeChallenge` option (the public
 * per-item scope-challenge hook of `@modelcontextprotocol/server` 2.1 and later): the server then
 * has the resolver its transports call.
 */
export function supportsScopeChallenge(server: object): boolean {
  return typeof (server as { resolveScopeChallenge?: unknown }).resolveScopeChallenge === 'function'
}

// Marks on the objects themselves, not WeakSet entries: a stateless route hosts a new server (and
// wraps its list handlers) for every request, and an ephemeron per object is collector work per request.
const WRAPPED = Symbol.for('@portcullis/core wrapped request handler')
const WATCHED = Symbol.for('@portcullis/core watched MCP server')
type Marked = { [WRAPPED]?: true; [WATCHED]?: true }
const isMarked = (value: object, mark: typeof WRAPPED | typeof WATCHED) => (value as Marked)[mark] === true

/**
 * The handler table and `setRequestHandler` of a server, or `McpSdkInternalsError` naming what is
 * missing. The route calls it at startup (on the server its probe builds), so an SDK whose
 * internals moved stops the route from starting instead of failing its first list request.
 */
export function checkSdkInternals(
  server: object,
  owner: string,
): { table: Map<string, SdkRequestHandler>; setRequestHandler: (...args: unknown[]) => unknown } {
  const protocol = protocolOf(server)
  const line = mcpSdkLineOf(server)
  const handlers = protocol._requestHandlers
  if (line === undefined || !(handlers instanceof Map)) {
    throw new McpSdkInternalsError(owner, `${fieldPath(server, '_requestHandlers')} (a Map)`, line)
  }
  const setRequestHandler = protocol.setRequestHandler
  if (typeof setRequestHandler !== 'function') {
    // Without it, a list handler installed later would be served unshaped.
    throw new McpSdkInternalsError(owner, `${fieldPath(server, 'setRequestHandler')} (a method)`, line)
  }
  return {
    table: handlers as Map<string, SdkRequestHandler>,
    setRequestHandler: setRequestHandler as (...args: unknown[]) => unknown,
  }
}

/**
 * Wraps the server's handlers for `methods` (those installed now and those installed later), once
 * per server and handler. Throws `McpSdkInternalsError` when the handler table or
 * `setRequestHandler` is not where the supported SDK lines keep them.
 */
export function wrapRequestHandlers(
  server: object,
  methods: readonly string[],
  wrap: (method: string, handler: SdkRequestHandler) => SdkRequestHandler,
  owner: string,
): void {
  if (isMarked(server, WATCHED)) return
  const { table, setRequestHandler } = checkSdkInternals(server, owner)
  const protocol = protocolOf(server)
  const wrapAll = () => {
    for (const method of methods) {
      const handler = table.get(method)
      if (handler === undefined || isMarked(handler, WRAPPED)) continue
      const wrapper = wrap(method, handler)
      ;(wrapper as Marked)[WRAPPED] = true
      table.set(method, wrapper)
    }
  }
  ;(server as Marked)[WATCHED] = true
  wrapAll()
  // McpServer installs a list handler when the first item of its kind is registered, which may
  // happen after this (tools added while serving): wrap those as they come.
  protocol.setRequestHandler = function watchedSetRequestHandler(this: unknown, ...args: unknown[]) {
    const result = setRequestHandler.apply(this, args)
    wrapAll()
    return result
  }
}
