// The whole MCP authorization journey with the 2.x client (@modelcontextprotocol/client) against
// the notes server and a real authorization server (@portcullis/dev-idp on oidc-provider): first
// contact, step-up on 403, expiry and refresh, client credentials, a token for another resource.
import {
  Client,
  ClientCredentialsProvider,
  OAuthError,
  refreshAuthorization,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from '@modelcontextprotocol/client'
import t from 'tap'
import { installedVersion, rowWhenPassing } from './clients/client-stack.js'
import {
  exchangeRecorder,
  HeadlessOAuthProvider,
  withoutEventStreams,
} from './fixtures/headless-oauth-client.js'
import {
  assertRefreshOnExpiry,
  assertSignInJourney,
  bearerParams,
  missingScopesByName,
  NOTES_MISSING,
} from './fixtures/journey-assertions.js'
import { ADAPTERS, notesEndpoint, startJourneyIdp } from './fixtures/journey-stack.js'
import { type Era, signInV2, toolResult } from './fixtures/sdk-clients.js'

// The README's client matrix row, written only when the step-up and refresh journeys passed.
const passed = rowWhenPassing(t, 'sdk-v2', ['stepUp', 'refresh'], () => ({
  client: 'MCP TypeScript SDK 2.x client',
  version: installedVersion('@modelcontextprotocol/client'),
  firstContact: 'passes on 2025-11-25 and 2026-07-28: DCR, sign-in, PKCE, token for the resource',
  stepUp: 'passes: re-authorizes with the union of granted and challenged scopes, then retries',
  refresh: 'passes: refreshes an expired token; a reused refresh token is refused',
  on403: 're-authorizes with the union (or throws InsufficientScopeError with onInsufficientScope: throw)',
}))

const scopeSet = (scope: string | null | undefined) => new Set((scope ?? '').split(' ').filter(Boolean))

t.test('2.x client: first contact, then step-up on 403 insufficient_scope', async (t) => {
  const idp = await startJourneyIdp(t)
  const cases: Array<{ sdk: 'v1' | 'v2'; era: Era }> = [
    { sdk: 'v2', era: 'modern' },
    { sdk: 'v2', era: 'legacy' },
    { sdk: 'v1', era: 'legacy' },
  ]
  for (const [adapter, { sdk, era }] of ADAPTERS.flatMap((a) => cases.map((c) => [a, c] as const))) {
    t.test(
      `${adapter} notes server on the ${sdk} SDK, ${era === 'modern' ? '2026-07-28' : '2025'} protocol`,
      async (t) => {
        const notes = await notesEndpoint(t, idp, { sdk, adapter })
        const provider = new HeadlessOAuthProvider({
          user: 'alice',
          clientName: `journey 2.x ${adapter} ${sdk} ${era}`,
        })
        const recorder = exchangeRecorder()

        // Step 1: 401 → metadata → AS metadata → registration → authorization → token → MCP.
        const { client, transport } = await signInV2(notes.url, provider, recorder.fetch, era)
        t.teardown(() => client.close())
        assertSignInJourney(t, {
          log: recorder.log,
          provider,
          notes,
          idp,
          firstRpc: era === 'modern' ? 'server/discover' : 'initialize',
        })
        const clientId = provider.registeredClient?.client_id
        const listed = await client.listTools()
        t.same(
          missingScopesByName(listed.tools),
          NOTES_MISSING.read,
          'tools/list: every tool, each naming what notes:read lacks for it (step-up stays reachable)',
        )
        t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })), {
          sub: 'alice',
          client: clientId,
          scopes: ['notes:read'],
        })
        t.same(toolResult(await client.callTool({ name: 'list_notes', arguments: {} })), { notes: [] })

        // Step 2: add_note needs notes:write. The 2.x transport answers the 403 itself: it asks for
        // the union of the scopes it had and the challenged one, bypassing refresh (which cannot
        // widen a grant, RFC 6749 §6), and stops at the browser step like any authorization.
        recorder.clear()
        const stepUp = await client.callTool({ name: 'add_note', arguments: { text: 'first' } }).then(
          () => undefined,
          (error: unknown) => error,
        )
        t.ok(
          stepUp instanceof UnauthorizedError,
          'the SDK started a new authorization and waits for its callback',
        )
        const [forbidden, ...others] = withoutEventStreams(recorder.log)
        t.same(others, [], 'no refresh was tried')
        t.match(forbidden, { method: 'POST', url: notes.resource, status: 403, rpc: 'tools/call' })
        t.match(bearerParams(forbidden), {
          error: 'insufficient_scope',
          scope: 'notes:write',
          resource_metadata: notes.metadataUrl,
          error_description: /add_note/,
        })
        t.equal(provider.authorizationRequests.length, 2, 'a second authorization request')
        const requested = scopeSet(provider.authorizationRequests[1]!.searchParams.get('scope'))
        t.ok(
          requested.has('notes:read') && requested.has('notes:write'),
          'it asks for the union of the scopes',
        )
        t.equal(provider.authorizationRequests[1]!.searchParams.get('resource'), notes.resource)

        await transport.finishAuth(provider.takeCallback().params)
        t.match(withoutEventStreams(recorder.log).at(-1), {
          url: idp.endpoints.token,
          status: 200,
          form: { grant_type: 'authorization_code', resource: notes.resource },
        })
        const added = toolResult(await client.callTool({ name: 'add_note', arguments: { text: 'first' } }))
        t.match(added, { note: { id: 1, text: 'first' } }, 'the retried call succeeds')
        const who = toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
        t.same(who.scopes.sort(), ['notes:read', 'notes:write'], 'the new token carries both scopes')
        t.equal(who.sub, 'alice')
        t.same(
          toolResult(await client.callTool({ name: 'list_notes', arguments: {} })).notes.map(
            (n: { text: string }) => n.text,
          ),
          ['first'],
        )
        const relisted = await client.listTools()
        t.same(missingScopesByName(relisted.tools), NOTES_MISSING.write, 'add_note lacks nothing now')
      },
    )
  }
  passed('stepUp', t)
})

t.test('2.x client: an expired access token is refreshed; a refresh token used twice fails', async (t) => {
  const idp = await startJourneyIdp(t)
  // Opaque tokens are checked by introspection, where the AS itself says "expired" with no leeway;
  // a JWT would be accepted for the verifier's 60 s clock tolerance after `exp`.
  const notes = await notesEndpoint(t, idp, { format: 'opaque', accessTokenTtl: 2 })
  const provider = new HeadlessOAuthProvider({ user: 'alice', clientName: 'journey 2.x refresh' })
  const recorder = exchangeRecorder()
  const { client } = await signInV2(notes.url, provider, recorder.fetch, 'modern')
  t.teardown(() => client.close())
  const { first, second } = await assertRefreshOnExpiry(t, { client, provider, recorder, idp, notes })

  // OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2: a rotated refresh token presented again is refused.
  const reuse = await refreshAuthorization(idp.issuer, {
    metadata: provider.authorizationServerMetadata as never,
    clientInformation: provider.registeredClient as never,
    refreshToken: first.refresh_token,
    resource: notes.resource,
  }).then(
    () => undefined,
    (error: unknown) => error,
  )
  t.ok(reuse instanceof OAuthError, 'the reused refresh token is refused')
  t.equal((reuse as OAuthError).code, 'invalid_grant')
  // RFC 9700 §4.14.2: a replayed refresh token revokes the grant, so the current one dies with it.
  const after = await refreshAuthorization(idp.issuer, {
    metadata: provider.authorizationServerMetadata as never,
    clientInformation: provider.registeredClient as never,
    refreshToken: second.refresh_token,
    resource: notes.resource,
  }).then(
    () => undefined,
    (error: unknown) => error,
  )
  t.equal((after as OAuthError | undefined)?.code, 'invalid_grant', 'the latest refresh token is revoked too')
  passed('refresh', t)
})

for (const adapter of ADAPTERS) {
  t.test(`2.x client: client credentials token calls whoami as the client itself (${adapter})`, async (t) => {
    const idp = await startJourneyIdp(t)
    const notes = await notesEndpoint(t, idp, { adapter })
    const machine = new ClientCredentialsProvider({
      clientId: idp.clients.machine.client_id,
      clientSecret: idp.clients.machine.client_secret,
      expectedIssuer: idp.issuer,
    })
    const recorder = exchangeRecorder()
    const transport = new StreamableHTTPClientTransport(notes.url, {
      authProvider: machine,
      fetch: recorder.fetch,
    })
    const client = new Client(
      { name: 'journey-machine', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    )
    await client.connect(transport)
    t.teardown(() => client.close())
    const token = recorder.log.find((exchange) => exchange.url === idp.endpoints.token)
    // 2.x hands the challenged scope to the non-interactive provider.
    t.match(token, {
      status: 200,
      form: { grant_type: 'client_credentials', resource: notes.resource, scope: 'notes:read' },
    })
    t.notOk(
      recorder.log.some((exchange) => exchange.url === idp.endpoints.registration),
      'no registration',
    )
    t.same(
      toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
      {
        sub: idp.clients.machine.client_id,
        client: idp.clients.machine.client_id,
        scopes: ['notes:read'],
      },
      'no user: the subject is the client',
    )
  })
}

for (const adapter of ADAPTERS) {
  t.test(
    `2.x client: a token issued for another resource is refused with 401 invalid_token (${adapter})`,
    async (t) => {
      const idp = await startJourneyIdp(t)
      const notes = await notesEndpoint(t, idp, { adapter })
      const elsewhere = await notesEndpoint(t, idp, { adapter })
      const { access_token: foreign } = await idp.userToken({
        user: 'bob',
        resource: elsewhere.resource,
        scope: 'notes:read',
      })

      const recorder = exchangeRecorder()
      const transport = new StreamableHTTPClientTransport(notes.url, {
        authProvider: { token: async () => foreign },
        fetch: recorder.fetch,
      })
      const client = new Client(
        { name: 'journey-foreign', version: '1.0.0' },
        { versionNegotiation: { mode: 'auto' } },
      )
      const refused = await client.connect(transport).then(
        () => undefined,
        (error: unknown) => error,
      )
      t.ok(refused instanceof UnauthorizedError, 'a token-only AuthProvider gets UnauthorizedError')
      t.match(recorder.log[0], { url: notes.resource, status: 401 })
      t.match(bearerParams(recorder.log[0]), {
        error: 'invalid_token',
        resource_metadata: notes.metadataUrl,
        error_description: /audience|aud/i,
      })

      const accepted = new StreamableHTTPClientTransport(elsewhere.url, {
        authProvider: { token: async () => foreign },
      })
      const other = new Client(
        { name: 'journey-foreign', version: '1.0.0' },
        { versionNegotiation: { mode: 'auto' } },
      )
      await other.connect(accepted)
      t.teardown(() => other.close())
      t.match(
        toolResult(await other.callTool({ name: 'whoami', arguments: {} })),
        { sub: 'bob' },
        'where it was issued for, it works',
      )
    },
  )
}
