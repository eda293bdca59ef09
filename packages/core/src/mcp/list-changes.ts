/** The parts of an SDK server (`Server` of either line, inside `McpServer.server`) used to announce list changes. */
interface AnnouncingServer {
  getCapabilities(): {
    tools?: { listChanged?: boolean }
    prompts?: { listChanged?: boolean }
    resources?: { listChanged?: boolean }
  }
  sendToolListChanged(): Promise<void> | void
  sendPromptListChanged(): Promise<void> | void
  sendResourceListChanged(): Promise<void> | void
}

/**
 * A key for a token's scopes that does not depend on their order or repetition: two tokens of a
 * principal with the same key see the same lists.
 */
export function scopeSetKey(scopes: readonly string[]): string {
  return [...new Set(scopes)].sort().join(' ')
}

/**
 * Sends the `notifications/{tools,prompts,resources}/list_changed` a server advertises
 * (`listChanged: true` in its capabilities), for a session whose caller now presents a token with
 * other scopes (after a step-up): its lists, shaped per caller, have changed (MCP 2025-06-18
 * §Tools "List Changed Notification"). Sent outside any request, they travel on the session's
 * standalone event stream (the client's GET); a client without one re-lists on its next call
 * anyway. Never throws: a server that cannot announce is left alone, `onError` hears why.
 *
 * @example
 * if (scopeSetKey(auth.scopes) !== session.scopes) await announceListChanges(session.server, log)
 */
export async function announceListChanges(
  server: object,
  onError: (error: unknown) => void = () => {},
): Promise<void> {
  const inner = announcerOf(server)
  if (inner === undefined) return
  let capabilities: ReturnType<AnnouncingServer['getCapabilities']>
  try {
    capabilities = inner.getCapabilities() ?? {}
  } catch (error) {
    onError(error)
    return
  }
  const sends: Array<() => Promise<void> | void> = []
  if (capabilities.tools?.listChanged === true) sends.push(() => inner.sendToolListChanged())
  if (capabilities.prompts?.listChanged === true) sends.push(() => inner.sendPromptListChanged())
  if (capabilities.resources?.listChanged === true) sends.push(() => inner.sendResourceListChanged())
  for (const send of sends) {
    try {
      await send()
    } catch (error) {
      onError(error)
    }
  }
}

/** `McpServer.server` of either SDK line, or a low-level `Server` itself. */
function announcerOf(server: object): AnnouncingServer | undefined {
  for (const candidate of [(server as { server?: unknown }).server, server]) {
    if (typeof candidate !== 'object' || candidate === null) continue
    const c = candidate as Partial<AnnouncingServer>
    if (
      typeof c.getCapabilities === 'function' &&
      typeof c.sendToolListChanged === 'function' &&
      typeof c.sendPromptListChanged === 'function' &&
      typeof c.sendResourceListChanged === 'function'
    ) {
      return candidate as AnnouncingServer
    }
  }
  return undefined
}
