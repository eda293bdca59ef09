// The notes example end to end, served by each MCP SDK line, driven by the real SDK clients over
// real sockets, with tokens signed by a key set of the test's own: per-caller tool lists, the 403
// step-up challenge (exact header), step-up in a session, per-user notes, sessions bound to their
// principal, and batches mixing allowed and forbidden calls.
import { InsufficientScopeError } from '@modelcontextprotocol/client'
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  callTool,
  connectV1,
  connectV2,
  mcpMessages,
  mcpPost,
  recordingFetch,
  startJwksIssuer,
} from '@portcullis/test-kit'
import t from 'tap'
import { missingScopesByName, NOTES_MISSING } from './fixtures/journey-assertions.js'
import { startNotesServer } from './fixtures/notes-server.js'

const issuer = await startJwksIssuer()
t.teardown(issuer.close)

const SESSION_NOT_FOUND = { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }
const structured = (result: unknown) =>
  (result as { structuredContent: Record<string, unknown> }).structuredContent

// The same tests for each adapter: @portcullis/fastify and @portcullis/express share every rule.
const servers = (['fastify', 'express'] as const).flatMap((framework) =>
  (['v1', 'v2'] as const).map((sdk) => ({ framework, sdk })),
)

for (const { framework, sdk } of servers) {
  t.test(`notes server on ${framework}, ${sdk} SDK`, async (t) => {
    const notes = await startNotesServer(issuer, sdk, framework)
    t.teardown(notes.close)
    const token = (sub: string, scope: string, client_id = 'notes-client') =>
      issuer.mint({ sub, scope, aud: notes.url, client_id })
    const challenge = (description: string, scope: string) =>
      `Bearer error="insufficient_scope", error_description="${description}", scope="${scope}", resource_metadata="${notes.metadataUrl}"`

    t.test('without a token: 401 naming the metadata and the base scope', async (t) => {
      const response = await fetch(notes.url, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      })
      t.equal(response.status, 401)
      t.equal(
        response.headers.get('www-authenticate'),
        `Bearer scope="notes:read", resource_metadata="${notes.metadataUrl}"`,
      )
      const metadata = (await (await fetch(notes.metadataUrl)).json()) as Record<string, unknown>
      t.same(metadata.scopes_supported, ['notes:read'])
      t.equal(metadata.resource, notes.url)
    })

    t.test('a rebound host name is refused before any token check (DNS rebinding)', async (t) => {
      const { request } = await import('node:http')
      const target = new URL(notes.url)
      const answer = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
        (resolve, reject) => {
          const req = request(
            {
              host: target.hostname,
              port: target.port,
              path: target.pathname,
              method: 'POST',
              headers: {
                host: 'attacker.example',
                'content-type': 'application/json',
                authorization: 'Bearer x',
              },
            },
            (res) => {
              let body = ''
              res.on('data', (chunk) => (body += chunk))
              res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
            },
          )
          req.on('error', reject)
          req.end('{}')
        },
      )
      t.equal(answer.status, 403)
      t.notOk(answer.headers['www-authenticate'], 'not an authorization answer')
      t.match(JSON.parse(answer.body), { jsonrpc: '2.0', error: { code: -32000 }, id: null })
    })

    t.test(
      '1.x client: tools/list names what the token lacks per tool; whoami sees the caller',
      async (t) => {
        const expected: Array<[string, Record<string, string[]>]> = [
          ['notes:read', NOTES_MISSING.read],
          ['notes:write', NOTES_MISSING.write],
          ['notes:admin', { whoami: [], list_notes: [], add_note: [], clear_notes: [] }],
          [
            'profile',
            {
              whoami: [],
              list_notes: ['notes:read'],
              add_note: ['notes:write'],
              clear_notes: ['notes:admin'],
            },
          ],
        ]
        for (const [scope, tools] of expected) {
          const { client } = await connectV1(notes.url, await token('alice', scope))
          t.same(missingScopesByName((await client.listTools()).tools), tools, scope)
          t.same(structured(await client.callTool({ name: 'whoami', arguments: {} })), {
            sub: 'alice',
            client: 'notes-client',
            scopes: [scope],
          })
          await client.close()
        }
      },
    )

    t.test('1.x client: a call beyond the token is 403 with the exact step-up challenge', async (t) => {
      const recorder = recordingFetch()
      const { client } = await connectV1(notes.url, await token('carol', 'notes:read'), recorder.fetch)
      const error = await client
        .callTool({ name: 'add_note', arguments: { text: 'x' } })
        .catch((e: unknown) => e)
      t.type(error, StreamableHTTPError)
      t.equal((error as StreamableHTTPError).code, 403)
      t.equal(recorder.last().status, 403)
      t.equal(
        recorder.last().headers.get('www-authenticate'),
        challenge('Tool add_note requires the scope notes:write', 'notes:write'),
      )
      const admin = await client.callTool({ name: 'clear_notes', arguments: {} }).catch((e: unknown) => e)
      t.equal((admin as StreamableHTTPError).code, 403)
      t.equal(
        recorder.last().headers.get('www-authenticate'),
        challenge('Tool clear_notes requires the scope notes:admin', 'notes:admin'),
      )
      t.same(
        structured(await client.callTool({ name: 'list_notes', arguments: {} })),
        { notes: [] },
        'still usable',
      )
      await client.close()
    })

    t.test('2.x client: 403 becomes InsufficientScopeError; step-up keeps the session', async (t) => {
      const current = { current: await token('dave', 'notes:read') }
      const recorder = recordingFetch()
      const { client, transport } = await connectV2(notes.url, current, { fetch: recorder.fetch })
      const sessionId = transport.sessionId
      t.type(sessionId, 'string', '2025-era session')
      t.same(missingScopesByName((await client.listTools()).tools), NOTES_MISSING.read)

      const error = await client
        .callTool({ name: 'add_note', arguments: { text: 'first' } })
        .catch((e: unknown) => e)
      t.type(error, InsufficientScopeError)
      t.equal((error as InsufficientScopeError).requiredScope, 'notes:write')
      t.equal((error as InsufficientScopeError).resourceMetadataUrl?.href, notes.metadataUrl)
      t.equal(
        recorder.last().headers.get('www-authenticate'),
        challenge('Tool add_note requires the scope notes:write', 'notes:write'),
      )

      // The client obtains a token with the challenged scope: same user, same client, same session.
      current.current = await token('dave', 'notes:read notes:write')
      const added = structured(await client.callTool({ name: 'add_note', arguments: { text: 'first' } }))
      t.match(added, { note: { id: 1, text: 'first' } })
      t.equal(transport.sessionId, sessionId, 'the session survived the step-up')
      t.same(
        missingScopesByName((await client.listTools({}, { cache: 'refresh' } as never)).tools),
        NOTES_MISSING.write,
      )
      await client.close()
    })

    t.test('notes are kept per caller', async (t) => {
      const alice = await connectV1(notes.url, await token('erin', 'notes:admin'))
      const bob = await connectV1(notes.url, await token('frank', 'notes:write'))
      await alice.client.callTool({ name: 'add_note', arguments: { text: 'erin 1' } })
      await alice.client.callTool({ name: 'add_note', arguments: { text: 'erin 2' } })
      await bob.client.callTool({ name: 'add_note', arguments: { text: 'frank 1' } })
      const texts = async (client: typeof alice.client) =>
        (
          structured(await client.callTool({ name: 'list_notes', arguments: {} })).notes as Array<{
            text: string
          }>
        ).map((note) => note.text)
      t.same(await texts(alice.client), ['erin 1', 'erin 2'])
      t.same(await texts(bob.client), ['frank 1'])
      t.same(structured(await alice.client.callTool({ name: 'clear_notes', arguments: {} })), { cleared: 2 })
      t.same(await texts(alice.client), [])
      t.same(await texts(bob.client), ['frank 1'], "clearing one's notes leaves the others'")
      // The same user through another client still owns the notes: they belong to the subject.
      const other = await connectV1(notes.url, await token('frank', 'notes:read', 'other-client'))
      t.same(await texts(other.client), ['frank 1'])
      await Promise.all([alice.client.close(), bob.client.close(), other.client.close()])
    })

    t.test('a session answers only the principal that opened it', async (t) => {
      const { client, transport } = await connectV1(notes.url, await token('grace', 'notes:read'))
      const sessionId = transport.sessionId!
      const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': transport.protocolVersion! }
      const list = { jsonrpc: '2.0', id: 7, method: 'tools/list' }

      const intruders: Array<[string, string]> = [
        ['another user', await token('mallory', 'notes:admin')],
        ['the same user through another client', await token('grace', 'notes:read', 'other-client')],
      ]
      for (const [who, intruder] of intruders) {
        const response = await mcpPost(notes.url, intruder, list, headers)
        t.equal(response.status, 404, who)
        t.same(await response.json(), SESSION_NOT_FOUND, `${who}: answered as an unknown session`)
        const get = await fetch(notes.url, {
          headers: { authorization: `Bearer ${intruder}`, accept: 'text/event-stream', ...headers },
        })
        t.equal(get.status, 404, `${who}: GET`)
        await get.body?.cancel()
        const del = await fetch(notes.url, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${intruder}`, ...headers },
        })
        t.equal(del.status, 404, `${who}: DELETE`)
      }
      const unknown = await mcpPost(notes.url, await token('grace', 'notes:read'), list, {
        ...headers,
        'mcp-session-id': crypto.randomUUID(),
      })
      t.equal(unknown.status, 404)
      t.same(await unknown.json(), SESSION_NOT_FOUND, 'the same answer as for an unknown session')

      // The owner, with a fresh token (another jti, more scopes), is the same principal.
      const owner = await mcpPost(notes.url, await token('grace', 'notes:write'), list, headers)
      t.equal(owner.status, 200)
      const [answer] = (await mcpMessages(owner)) as Array<{
        result: { tools: Array<{ name: string; _meta?: Record<string, unknown> }> }
      }>
      t.same(missingScopesByName(answer!.result.tools), NOTES_MISSING.write)
      t.same(
        missingScopesByName((await client.listTools()).tools),
        NOTES_MISSING.read,
        'the client still has its session',
      )

      const ended = await fetch(notes.url, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${await token('grace', 'notes:read')}`, ...headers },
      })
      t.equal(ended.status, 200, 'the owner may end it')
      const after = await mcpPost(notes.url, await token('grace', 'notes:read'), list, headers)
      t.equal(after.status, 404, 'an ended session is gone')
      await client.close().catch(() => {})
    })

    t.test('a batch is checked as a whole: one challenge, the minimal scopes', async (t) => {
      const { client, transport } = await connectV1(notes.url, await token('heidi', 'notes:read'))
      const headers = {
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': transport.protocolVersion!,
      }
      const reader = await token('heidi', 'notes:read')

      const all = [
        callTool(1, 'list_notes'),
        callTool(2, 'add_note', { text: 'b' }),
        callTool(3, 'clear_notes'),
        callTool(4, 'whoami'),
      ]
      const denied = await mcpPost(notes.url, reader, all, headers)
      t.equal(denied.status, 403)
      t.equal(
        denied.headers.get('www-authenticate'),
        challenge('This request requires the scope notes:admin', 'notes:admin'),
        'notes:admin implies notes:write: one scope covers both forbidden calls',
      )
      t.same(await denied.json(), {
        error: 'insufficient_scope',
        error_description: 'This request requires the scope notes:admin',
      })

      const two = await mcpPost(
        notes.url,
        reader,
        [callTool(1, 'whoami'), callTool(2, 'add_note', { text: 'b' })],
        headers,
      )
      t.equal(two.status, 403)
      t.equal(
        two.headers.get('www-authenticate'),
        challenge('Tool add_note requires the scope notes:write', 'notes:write'),
      )
      await two.body?.cancel()

      // Nothing of a refused batch ran, the allowed calls included.
      t.same(structured(await client.callTool({ name: 'list_notes', arguments: {} })), { notes: [] })

      const writer = await token('heidi', 'notes:write')
      const allowed = await mcpPost(
        notes.url,
        writer,
        [callTool(5, 'add_note', { text: 'batched' }), callTool(6, 'list_notes')],
        headers,
      )
      t.not(allowed.status, 403, 'a token with the scopes passes the gate')
      if (allowed.status === 200) {
        const messages = (await mcpMessages(allowed)) as Array<{ id: number; result?: unknown }>
        t.same(messages.map((m) => m.id).sort(), [5, 6], 'the SDK answered both calls')
      } else {
        // The SDK's own answer to a batch under a revision without batching: not an authorization matter.
        t.equal(allowed.status, 400)
        await allowed.body?.cancel()
      }
      await client.close()
    })

    t.test('a batch too large to inspect is refused before the SDK', async (t) => {
      const batch = Array.from({ length: 129 }, (_, i) => callTool(i, 'whoami'))
      const response = await mcpPost(notes.url, await token('ivan', 'notes:admin'), batch)
      t.equal(response.status, 413)
      t.match(await response.json(), { jsonrpc: '2.0', error: { code: -32600 }, id: null })
    })

    if (sdk === 'v2') {
      t.test(
        '2.x client on the 2026-07-28 revision: per-caller list, calls, step-up challenge',
        async (t) => {
          const current = { current: await token('judy', 'notes:read') }
          const recorder = recordingFetch()
          const { client, transport } = await connectV2(notes.url, current, {
            modern: true,
            fetch: recorder.fetch,
          })
          t.equal(transport.sessionId, undefined, 'no protocol session in 2026-07-28')
          t.same(missingScopesByName((await client.listTools()).tools), NOTES_MISSING.read)
          t.same(structured(await client.callTool({ name: 'whoami', arguments: {} })), {
            sub: 'judy',
            client: 'notes-client',
            scopes: ['notes:read'],
          })
          const error = await client.callTool({ name: 'clear_notes', arguments: {} }).catch((e: unknown) => e)
          t.type(error, InsufficientScopeError)
          t.equal((error as InsufficientScopeError).requiredScope, 'notes:admin')
          t.equal(
            recorder.last().headers.get('www-authenticate'),
            challenge('Tool clear_notes requires the scope notes:admin', 'notes:admin'),
          )
          current.current = await token('judy', 'notes:admin')
          t.same(missingScopesByName((await client.listTools({}, { cache: 'refresh' } as never)).tools), {
            whoami: [],
            list_notes: [],
            add_note: [],
            clear_notes: [],
          })
          t.match(structured(await client.callTool({ name: 'add_note', arguments: { text: 'modern' } })), {
            note: { text: 'modern' },
          })
          await client.close()
        },
      )
    }
  })
}
