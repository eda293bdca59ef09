// The Vercel AI SDK's MCP client (@ai-sdk/mcp) against the notes server and the dev IdP, with the
// journey tests' headless OAuth provider as its browser. It handles 401 (sign-in); what it does
// with a 403 insufficient_scope is asserted as observed.
import { auth, createMCPClient } from '@ai-sdk/mcp'
import t from 'tap'
import { HeadlessOAuthProvider } from '../fixtures/headless-oauth-client.js'
import { notesEndpoint, startJourneyIdp } from '../fixtures/journey-stack.js'
import { installedVersion, recordRow } from './client-stack.js'

const structured = (result: unknown) =>
  (result as { structuredContent?: Record<string, unknown> }).structuredContent

t.test('@ai-sdk/mcp: first contact, tool calls, and what a 403 does', async (t) => {
  const version = installedVersion('@ai-sdk/mcp')
  const idp = await startJourneyIdp(t)
  const notes = await notesEndpoint(t, idp)
  const provider = new HeadlessOAuthProvider({ user: 'alice', clientName: 'ai-sdk' })
  // The AI SDK never hands its discovery state to the provider (saveDiscoveryState), so the
  // stand-in browser is told which issuer the RFC 9207 `iss` of the answer must name.
  provider.authorizationServerMetadata = { issuer: idp.issuer }
  const connect = () =>
    createMCPClient({ transport: { type: 'http', url: notes.resource, authProvider: provider as never } })

  // First contact: 401 → discovery → registration → the provider's browser signs in; the
  // application then finishes the flow with the code and connects again (the SDK's documented flow).
  const first = await connect().then(
    () => undefined,
    (error: unknown) => error,
  )
  t.match(first, { name: 'UnauthorizedError' }, 'the first connect ends at the redirect')
  t.equal(provider.authorizationRequests.length, 1)
  t.equal(provider.authorizationRequests[0]!.searchParams.get('resource'), notes.resource)
  const result = await auth(provider as never, {
    serverUrl: notes.resource,
    authorizationCode: provider.takeCallback().code,
  })
  t.equal(result, 'AUTHORIZED')
  const client = await connect()
  t.teardown(() => client.close())
  const tools = (await client.listTools()).tools.map((tool) => tool.name).sort()
  t.same(tools, ['add_note', 'clear_notes', 'list_notes', 'whoami'], 'every tool listed to notes:read')
  t.match(structured(await client.callTool({ name: 'whoami', arguments: {} })), {
    sub: 'alice',
    scopes: ['notes:read'],
  })

  const denied = await client.callTool({ name: 'add_note', arguments: { text: 'from the AI SDK' } }).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  )
  t.ok('error' in denied, 'the call fails')
  const error = (denied as { error: { name?: string; statusCode?: number; message?: string } }).error
  t.match(error, { name: 'MCPClientError' }, 'an MCPClientError')
  t.match(String(error?.message), /403/, 'carrying the HTTP status 403')
  t.equal(provider.authorizationRequests.length, 1, 'no new authorization request: it does not step up')

  recordRow('ai-sdk', {
    client: 'Vercel AI SDK MCP client (@ai-sdk/mcp)',
    version,
    firstContact: 'passes: DCR, sign-in, PKCE; the application finishes with auth() and reconnects',
    stepUp: 'not supported: the call fails',
    refresh: 'not exercised (no token expiry in this test)',
    on403: `throws ${error?.name ?? 'an error'} (HTTP 403), no re-authorization`,
  })
})
