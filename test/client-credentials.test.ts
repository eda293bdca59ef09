// @portcullis/client's client credentials grant against the dev IdP (oidc-provider), calling the
// notes example through both MCP SDK client lines and as a plain HTTP client.
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client'
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { authFetch, clientCredentials } from '@portcullis/client'
import t from 'tap'
import { startClientStack } from './fixtures/client-stack.js'
import { notesEndpoint } from './fixtures/journey-stack.js'
import { toolResult } from './fixtures/sdk-clients.js'

const CLIENT_INFO = { name: 'client-credentials-test', version: '1.0.0' }

t.test('client credentials → whoami over both SDK client lines', async (t) => {
  const stack = await startClientStack(t)
  for (const sdk of ['v2', 'v1'] as const) {
    t.test(`notes server on SDK ${sdk}`, async (t) => {
      const notes = await notesEndpoint(t, stack.idp, { sdk })
      const before = stack.tokenRequests.length
      const fetch = authFetch(
        clientCredentials({
          issuer: stack.idp.issuer,
          clientId: stack.reporter.client_id,
          clientSecret: stack.reporter.client_secret,
          scopes: ['notes:read'],
          resource: notes.resource,
        }),
      )
      for (const line of ['2.x', '1.x'] as const) {
        const client = line === '2.x' ? new ClientV2(CLIENT_INFO) : new ClientV1(CLIENT_INFO)
        const transport = line === '2.x' ? new TransportV2(notes.url, { fetch }) : new TransportV1(notes.url, { fetch })
        await client.connect(transport as never)
        t.teardown(() => client.close())
        t.same(
          toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
          { sub: 'reporter', client: 'reporter', scopes: ['notes:read'] },
          `${line} client: whoami names the machine client and the granted scope`,
        )
        t.same(toolResult(await client.callTool({ name: 'list_notes', arguments: {} })), { notes: [] })
      }
      const requests = stack.tokenRequests.slice(before)
      t.equal(requests.length, 1, 'one token request served both clients and every call')
      t.match(requests[0], {
        grantType: 'client_credentials',
        clientId: 'reporter',
        resource: notes.resource,
        scope: 'notes:read',
        outcome: 'success',
      })
    })
  }
})
