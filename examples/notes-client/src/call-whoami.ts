import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { MCP_URL } from './settings.js'

/** Connects to the notes server through `fetch`, calls whoami, prints the answer. */
export async function callWhoami(fetch: typeof globalThis.fetch): Promise<void> {
  const client = new Client({ name: 'notes-client-example', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(MCP_URL), { fetch }))
  const result = await client.callTool({ name: 'whoami', arguments: {} })
  console.log(JSON.stringify(result.structuredContent))
  await client.close()
}
