import type { BoundedResponse } from '@portcullis/core'

/** The protocol revision the doctor speaks: one every current server still serves. */
export const PROBE_PROTOCOL_VERSION = '2025-06-18'

/** The headers an MCP client sends on every Streamable HTTP POST. */
export function mcpHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROBE_PROTOCOL_VERSION,
    ...extra,
  }
}

export const initializeRequest = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: PROBE_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'portcullis-doctor', version: '0.1.0' },
  },
})

export const initializedNotification = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })

export const toolsListRequest = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })

/** A tools/call with no arguments: enough to learn whether the caller may call the tool at all. */
export const toolsCallRequest = (name: string) =>
  JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name, arguments: {} } })

/** The JSON-RPC message of a Streamable HTTP answer: a JSON body, or the first `data:` of an SSE stream. */
export function jsonRpcMessage(response: BoundedResponse): Record<string, unknown> | undefined {
  const type = response.headers.get('content-type') ?? ''
  const candidates = type.includes('text/event-stream')
    ? response.text
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
    : [response.text]
  for (const text of candidates) {
    try {
      const value: unknown = JSON.parse(text)
      if (value !== null && typeof value === 'object' && !Array.isArray(value))
        return value as Record<string, unknown>
    } catch {
      // not this one
    }
  }
  return undefined
}
