// The tool declarations are shared by the Fastify and Express servers, so they come from core.
import { type AuthInfo, authInfoFrom, withScopes } from '@portcullis/core'
import { z } from 'zod'
import type { NotesStore } from './notes-store.js'

/** notes:admin implies notes:write, which implies notes:read; notes:read is what a client asks for first. */
export const NOTES_SCOPES = {
  implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] },
  base: ['notes:read'],
}

/** The one method of `McpServer` (either SDK line) the notes tools need. */
export interface ToolHost {
  registerTool(name: string, config: any, callback: (...args: any[]) => unknown): unknown
}

const result = (value: Record<string, unknown>) => ({
  content: [{ type: 'text' as const, text: JSON.stringify(value) }],
  structuredContent: value,
})

/** The verified caller, as the SDK hands it to the tool (1.x `extra.authInfo`, 2.x `ctx.http.authInfo`). */
function callerOf(context: unknown): AuthInfo {
  const auth = authInfoFrom(context)
  if (auth === undefined) throw new Error('No authenticated caller')
  return auth
}

/** Notes belong to the token's subject at its issuer. */
function ownerOf(auth: AuthInfo): string {
  const sub = auth.extra?.sub
  if (typeof sub !== 'string' || sub === '') throw new Error('The access token names no subject (sub)')
  return JSON.stringify([auth.extra?.iss ?? null, sub])
}

/**
 * Registers the four notes tools on an `McpServer` of either SDK line, each with its scopes next to
 * it: `whoami` (any valid token), `list_notes` (notes:read), `add_note` (notes:write) and
 * `clear_notes` (notes:admin).
 */
export function registerNotesTools(server: ToolHost, store: NotesStore): void {
  withScopes(server).registerTool(
    'whoami',
    { title: 'Who am I', description: 'The subject, client and scopes of the access token in use' },
    (context: unknown) => {
      const auth = callerOf(context)
      // A DPoP caller's proven key (RFC 9449), so a handler can see the token is sender-constrained.
      const dpopJkt = auth.extra?.dpopJkt
      return result({
        sub: auth.extra?.sub ?? null,
        client: auth.clientId,
        scopes: auth.scopes,
        ...(typeof dpopJkt === 'string' ? { dpopJkt } : {}),
      })
    },
  )

  withScopes(server, 'notes:read').registerTool(
    'list_notes',
    { title: 'List notes', description: 'Your notes, oldest first' },
    (context: unknown) => result({ notes: store.list(ownerOf(callerOf(context))) }),
  )

  withScopes(server, 'notes:write').registerTool(
    'add_note',
    {
      title: 'Add a note',
      description: 'Adds a note to your notes',
      inputSchema: z.object({ text: z.string().min(1).max(2000).describe('The text of the note') }),
    },
    (args: { text: string }, context: unknown) =>
      result({ note: store.add(ownerOf(callerOf(context)), args.text) }),
  )

  withScopes(server, 'notes:admin').registerTool(
    'clear_notes',
    { title: 'Clear notes', description: 'Deletes all your notes' },
    (context: unknown) => result({ cleared: store.clear(ownerOf(callerOf(context))) }),
  )
}
