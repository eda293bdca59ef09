import { type ProbeLimits, probe } from './http.js'
import {
  initializedNotification,
  initializeRequest,
  jsonRpcMessage,
  mcpHeaders,
  toolsListRequest,
} from './mcp-messages.js'

export type ToolsListVerdict =
  | { kind: 'tools'; names: string[] }
  | { kind: 'refused'; step: string; status: number; challenge?: string }
  | { kind: 'failed'; step: string; problem: string }

/**
 * initialize, notifications/initialized, tools/list with the token, as a 2025-06-18 client does
 * over Streamable HTTP (session id carried when the server hands one out), then the session is
 * ended. Lists tools only: the doctor never calls a tool, which could change data.
 */
export async function callToolsList(
  url: string,
  token: string,
  limits: ProbeLimits,
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
    return { kind: 'tools', names: result.tools.map((tool) => String(tool.name)) }
  } finally {
    if (session !== null) await probe(url, { method: 'DELETE', headers: withSession }, limits)
  }
}

function refused(step: string, response: { status: number; headers: Headers }): ToolsListVerdict {
  const challenge = response.headers.get('www-authenticate') ?? undefined
  return { kind: 'refused', step, status: response.status, ...(challenge === undefined ? {} : { challenge }) }
}
