import { McpServer as McpServerV1, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'

/**
 * `withScopes` of `@portcullis/core` (re-exported by both adapters), passed in: the kit depends on
 * no Portcullis package. Declares the scopes of what is registered through the registrar it returns.
 */
export type WithScopes = <S extends object>(
  server: S,
  ...scopes: string[]
) => Pick<S, Extract<keyof S, 'registerTool' | 'registerPrompt' | 'registerResource'>>

/** A tool result of one text item. */
export const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] })

/**
 * A 1.x server with a tool, a prompt, a static resource and a resource template, each with its
 * scopes, and two tools registered without `withScopes` (tools "you don't own", given scopes through
 * the route's map).
 */
export function libraryServer(withScopes: WithScopes): McpServerV1 {
  const server = new McpServerV1({ name: 'library', version: '1.0.0' })
  withScopes(server).registerTool('ping', {}, async () => text('pong'))
  withScopes(server, 'notes:write').registerTool('write', { inputSchema: { v: z.string() } }, async ({ v }) =>
    text(v),
  )
  withScopes(server, 'notes:read').registerPrompt('summary', { description: 'sum' }, async () => ({
    messages: [{ role: 'user' as const, content: { type: 'text' as const, text: 'summarise' } }],
  }))
  withScopes(server, 'notes:read').registerResource('all', 'notes://all', {}, async (uri) => ({
    contents: [{ uri: uri.href, text: 'all notes' }],
  }))
  withScopes(server, 'notes:admin').registerResource(
    'history',
    new ResourceTemplate('notes://{id}/history', { list: undefined }),
    {},
    async (uri) => ({ contents: [{ uri: uri.href, text: 'history' }] }),
  )
  server.registerTool('vendor_export', {}, async () => text('exported'))
  server.registerTool('vendor_other', {}, async () => text('other'))
  return server
}
