// First contact (401 → discovery → registration → authorization → token → MCP) against dev IdPs
// shaped like Keycloak (issuer with a realm path, RFC 8414 path-inserted metadata) and Auth0
// (issuer with a trailing slash, `typ: JWT` tokens without `client_id`), with both SDK lines.
import type { DevIdpOptions } from '@portcullis/dev-idp'
import t from 'tap'
import { exchangeRecorder, HeadlessOAuthProvider } from './fixtures/headless-oauth-client.js'
import { assertSignInJourney, missingScopesByName, NOTES_MISSING } from './fixtures/journey-assertions.js'
import { notesEndpoint, startJourneyIdp } from './fixtures/journey-stack.js'
import { signInV1, signInV2, toolResult } from './fixtures/sdk-clients.js'

const shapes: Array<{ name: string; options: DevIdpOptions; issuer: RegExp }> = [
  {
    name: 'Keycloak',
    options: { shape: 'keycloak', realm: 'notes' },
    issuer: /^http:\/\/127\.0\.0\.1:\d+\/realms\/notes$/,
  },
  { name: 'Auth0', options: { shape: 'auth0' }, issuer: /^http:\/\/127\.0\.0\.1:\d+\/$/ },
]

for (const shape of shapes) {
  t.test(`${shape.name}-shaped authorization server`, async (t) => {
    const idp = await startJourneyIdp(t, shape.options)
    t.match(idp.issuer, shape.issuer)
    const notes = await notesEndpoint(t, idp)

    const metadata = (await (await fetch(notes.metadataUrl)).json()) as { authorization_servers?: string[] }
    t.same(metadata.authorization_servers, [idp.issuer], 'the notes server names the issuer exactly')

    for (const line of ['2.x', '1.x'] as const) {
      t.test(`${line} client`, async (t) => {
        const provider = new HeadlessOAuthProvider({
          user: 'alice',
          clientName: `journey ${line} ${shape.name}`,
        })
        const recorder = exchangeRecorder()
        const { client } =
          line === '2.x'
            ? await signInV2(notes.url, provider, recorder.fetch, 'modern')
            : await signInV1(notes.url, provider, recorder.fetch)
        t.teardown(() => client.close())
        assertSignInJourney(t, {
          log: recorder.log,
          provider,
          notes,
          idp,
          firstRpc: line === '2.x' ? 'server/discover' : 'initialize',
        })
        t.equal(
          provider.authorizationServerMetadata?.issuer,
          idp.issuer,
          'the SDK found the metadata of this issuer',
        )
        const listed = await client.listTools()
        t.same(missingScopesByName(listed.tools), NOTES_MISSING.read)
        t.match(
          toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
          { sub: 'alice', client: provider.registeredClient?.client_id, scopes: ['notes:read'] },
          'whoami from the shaped token',
        )
        t.same(toolResult(await client.callTool({ name: 'list_notes', arguments: {} })), { notes: [] })
      })
    }
  })
}
