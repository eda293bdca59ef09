import { type ProbeLimits, probe } from './http.js'
import {
  initializedNotification,
  initializeRequest,
  jsonRpcMessage,
  mcpHeaders,
  toolsCallRequest,
  toolsListRequest,
} from './mcp-messages.js'

/** How a `tools/call` went: answered (a result, or a tool error), refused by the server, or failed. */
export type ToolCallVerdict =
  | { kind: 'answered'; toolError: boolean }
  | { kind: 'refused'; status: number; challenge?: string }
  | { kind: 'failed'; problem: string }

export type ToolsListVerdict =
  | { kind: 'tools'; names: string[]; call?: ToolCallVerdict }
  | { kind: 'refused'; step: string; status: number; challenge?: string }
  | { kind: 'failed'; step: string; problem: string }

/**
 * initialize, notifications/initialized, tools/list with the token, as a 2025-06-18 client does
 * over Streamable HTTP (session id carried when the server hands one out), then the session is
 * ended. Calls a tool only when asked (`callTool`, with no arguments): a call may change data.
 */
export async function callToolsList(
  url: string,
  token: string,
  limits: ProbeLimits,
  callTool?: string,
): Promise<ToolsListVerdict> {
  const auth = { authorization: `Bearer ${token}` }
  const init = await probe(
    url,
    { method: 'POST', headers: mcpHeaders(auth), body: initializeRequest },
    limits,
  )
  if (!init.ok) return { kind: 'failed', step: 'initialize', problem: init.problem }
  if (init.response.status === 401 || init.response.status === 403)
    return refused('initialize', init.response)
  if (init.response.status !== 200)
    return { kind: 'failed', step: 'initialize', problem: `HTTP ${init.response.status}` }
  const session = init.response.headers.get('mcp-session-id')
  const withSession = mcpHeaders({ ...auth, ...(session === null ? {} : { 'mcp-session-id': session }) })
  try {
    const notified = await probe(
      url,
      { method: 'POST', headers: withSession, body: initializedNotification },
      limits,
    )
    if (notified.ok && (notified.response.status === 401 || notified.response.status === 403))
      return refused('notifications/initialized', notified.response)
    const listed = await probe(url, { method: 'POST', headers: withSession, body: toolsListRequest }, limits)
    if (!listed.ok) return { kind: 'failed', step: 'tools/list', problem: listed.problem }
    if (listed.response.status === 401 || listed.response.status === 403)
      return refused('tools/list', listed.response)
    const message = jsonRpcMessage(listed.response)
    const result = message?.result as { tools?: { name?: unknown }[] } | undefined
    if (!Array.isArray(result?.tools)) {
      const error = message?.error as { message?: unknown } | undefined
      return {
        kind: 'failed',
        step: 'tools/list',
        problem: error
          ? `JSON-RPC error: ${String(error.message)}`
          : `HTTP ${listed.response.status}, no tool list`,
      }
    }
    const names = result.tools.map((tool) => String(tool.name))
    if (callTool === undefined) return { kind: 'tools', names }
    return { kind: 'tools', names, call: await callOne(url, withSession, callTool, limits) }
  } finally {
    if (session !== null) await probe(url, { method: 'DELETE', headers: withSession }, limits)
  }
}

function refused(step: string, response: { status: number; headers: Headers }): ToolsListVerdict {
  const challenge = response.headers.get('www-authenticate') ?? undefined
  return { kind: 'refused', step, status: response.status, ...(challenge === undefined ? {} : { challenge }) }
}

async function callOne(
  url: string,
  headers: Record<string, string>,
  name: string,
  limits: ProbeLimits,
): Promise<ToolCallVerdict> {
  const called = await probe(url, { method: 'POST', headers, body: toolsCallRequest(name) }, limits)
  if (!called.ok) return { kind: 'failed', problem: called.problem }
  const { status } = called.response
  if (status === 401 || status === 403) {
    const challenge = called.response.headers.get('www-authenticate') ?? undefined
    return { kind: 'refused', status, ...(challenge === undefined ? {} : { challenge }) }
  }
  const message = jsonRpcMessage(called.response)
  const result = message?.result as { isError?: unknown } | undefined
  if (result !== undefined && typeof result === 'object')
    return { kind: 'answered', toolError: result.isError === true }
  const error = message?.error as { message?: unknown } | undefined
  return {
    kind: 'failed',
    problem: error ? `JSON-RPC error: ${String(error.message)}` : `HTTP ${status}, no result`,
  }
}
