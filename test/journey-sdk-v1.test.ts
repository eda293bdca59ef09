// The whole MCP authorization journey with the 1.x client (@modelcontextprotocol/sdk) against the
// notes server and a real authorization server (@portcullis/dev-idp on oidc-provider). Where 1.x
// behaves differently from 2.x (403 step-up), the test shows what it does and drives it as 1.x expects.
import { auth, refreshAuthorization, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { InvalidGrantError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
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
import { asV1, signInV1, toolResult } from './fixtures/sdk-clients.js'

// The README's client matrix row, written only when the step-up and refresh journeys passed.
const passed = rowWhenPassing(t, 'sdk-v1', ['stepUp', 'refresh'], () => ({
  client: 'MCP TypeScript SDK 1.x client',
  version: installedVersion('@modelcontextprotocol/sdk'),
  firstContact: 'passes: DCR, sign-in, PKCE, token for the resource',
  stepUp:
    'partly: without a refresh token it re-authorizes for the challenged scope alone; holding one it refreshes, gets 403 again and gives up; the application re-authorizes with the union',
  refresh: 'passes: refreshes an expired token; a reused refresh token is refused',
  on403:
    'runs auth() with the challenged scope (refresh first if it can), then throws StreamableHTTPError 403',
}))

const scopeSet = (scope: string | null | undefined) => new Set((scope ?? '').split(' ').filter(Boolean))
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  )

t.test('1.x client: first contact, then step-up on 403 insufficient_scope', async (t) => {
  const idp = await startJourneyIdp(t)
  for (const [adapter, sdk] of ADAPTERS.flatMap((a) => (['v2', 'v1'] as const).map((s) => [a, s] as const))) {
    t.test(`${adapter} notes server on the ${sdk} SDK`, async (t) => {
      const notes = await notesEndpoint(t, idp, { sdk, adapter })
      const provider = new HeadlessOAuthProvider({
        user: 'alice',
        clientName: `journey 1.x ${adapter} ${sdk}`,
      })
      const recorder = exchangeRecorder()

      // Step 1: 401 → metadata → AS metadata → registration → authorization → token → MCP.
      const { client, transport } = await signInV1(notes.url, provider, recorder.fetch)
      t.teardown(() => client.close())
      assertSignInJourney(t, { log: recorder.log, provider, notes, idp, firstRpc: 'initialize' })
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

      // Step 2: add_note needs notes:write. 1.x answers the 403 by running auth() with the
      // challenged scope; holding a refresh token, auth() refreshes, which cannot widen the grant
      // (RFC 6749 §6), and the retry gets the same 403, so 1.x gives up.
      recorder.clear()
      const stepUp = await failure(client.callTool({ name: 'add_note', arguments: { text: 'first' } }))
      t.ok(stepUp instanceof StreamableHTTPError, '1.x gives up with StreamableHTTPError')
      t.equal((stepUp as StreamableHTTPError).code, 403)
      t.match((stepUp as Error).message, /after trying upscoping/)
      const [forbidden, refreshed, forbiddenAgain, ...rest] = withoutEventStreams(recorder.log)
      t.match(forbidden, { method: 'POST', url: notes.resource, status: 403, rpc: 'tools/call' })
      const challenge = bearerParams(forbidden)
      t.match(challenge, {
        error: 'insufficient_scope',
        scope: 'notes:write',
        resource_metadata: notes.metadataUrl,
        error_description: /add_note/,
      })
      t.match(
        refreshed,
        { url: idp.endpoints.token, status: 200, form: { grant_type: 'refresh_token' } },
        'it refreshed',
      )
      t.match(
        forbiddenAgain,
        { url: notes.resource, status: 403 },
        'the refreshed token has the same scopes: 403 again',
      )
      t.same(rest, [])
      t.equal(provider.authorizationRequests.length, 1, 'no new authorization request')

      // What 1.x leaves to the application: drop the tokens so auth() cannot refresh, run auth()
      // with the union of the granted and the challenged scopes, finish with the code, retry.
      const union = [...new Set([...scopeSet(provider.tokens().scope), ...scopeSet(challenge.scope)])].join(
        ' ',
      )
      provider.invalidateCredentials('tokens')
      const result = await auth(asV1(provider), {
        serverUrl: notes.url,
        scope: union,
        resourceMetadataUrl: new URL(challenge.resource_metadata!),
        fetchFn: recorder.fetch,
      })
      t.equal(result, 'REDIRECT', 'auth() sends the user to the authorization endpoint')
      t.equal(provider.authorizationRequests.length, 2)
      t.same(
        scopeSet(provider.authorizationRequests[1]!.searchParams.get('scope')),
        new Set(['notes:read', 'notes:write']),
      )
      t.equal(provider.authorizationRequests[1]!.searchParams.get('resource'), notes.resource)
      await transport.finishAuth(provider.takeCallback().code)

      const added = toolResult(await client.callTool({ name: 'add_note', arguments: { text: 'first' } }))
      t.match(added, { note: { id: 1, text: 'first' } }, 'the retried call succeeds')
      const who = toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
      t.same(who.scopes.sort(), ['notes:read', 'notes:write'], 'the new token carries both scopes')
      t.same(
        toolResult(await client.callTool({ name: 'list_notes', arguments: {} })).notes.map(
          (n: { text: string }) => n.text,
        ),
        ['first'],
      )
      const relisted = await client.listTools()
      t.same(missingScopesByName(relisted.tools), NOTES_MISSING.write, 'add_note lacks nothing now')
    })
  }

  t.test(
    'without a refresh token 1.x steps up by itself, asking for the challenged scope alone',
    async (t) => {
      const notes = await notesEndpoint(t, idp)
      const provider = new HeadlessOAuthProvider({
        user: 'alice',
        clientName: 'journey 1.x no refresh',
        grantTypes: ['authorization_code'],
      })
      const recorder = exchangeRecorder()
      const { client, transport } = await signInV1(notes.url, provider, recorder.fetch)
      t.teardown(() => client.close())
      t.notOk(
        provider.tokens().refresh_token,
        'no refresh token for a client without the refresh_token grant',
      )

      recorder.clear()
      const stepUp = await failure(client.callTool({ name: 'add_note', arguments: { text: 'first' } }))
      t.ok(stepUp instanceof UnauthorizedError, 'auth() redirected: the call waits for the callback')
      t.match(bearerParams(withoutEventStreams(recorder.log)[0]), {
        error: 'insufficient_scope',
        scope: 'notes:write',
      })
      t.equal(
        provider.authorizationRequests[1]?.searchParams.get('scope'),
        'notes:write',
        'only the challenged scope',
      )
      await transport.finishAuth(provider.takeCallback().code)
      t.match(toolResult(await client.callTool({ name: 'add_note', arguments: { text: 'first' } })), {
        note: { text: 'first' },
      })
      t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).scopes, ['notes:write'])
      // notes:write implies notes:read on this server, so the narrower token still lists notes.
      t.same(toolResult(await client.callTool({ name: 'list_notes', arguments: {} })).notes.length, 1)
    },
  )
  passed('stepUp', t)
})

t.test('1.x client: an expired access token is refreshed; a refresh token used twice fails', async (t) => {
  const idp = await startJourneyIdp(t)
  // Opaque tokens are checked by introspection, where the AS itself says "expired" with no leeway;
  // a JWT would be accepted for the verifier's 60 s clock tolerance after `exp`.
  const notes = await notesEndpoint(t, idp, { format: 'opaque', accessTokenTtl: 2 })
  const provider = new HeadlessOAuthProvider({ user: 'alice', clientName: 'journey 1.x refresh' })
  const recorder = exchangeRecorder()
  const { client } = await signInV1(notes.url, provider, recorder.fetch)
  t.teardown(() => client.close())
  const { first, second } = await assertRefreshOnExpiry(t, { client, provider, recorder, idp, notes })

  // OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2: a rotated refresh token presented again is refused, and
  // the replay revokes the grant, so the latest refresh token dies with it.
  const refreshWith = (refreshToken: string) =>
    failure(
      refreshAuthorization(idp.issuer, {
        metadata: provider.authorizationServerMetadata as never,
        clientInformation: provider.registeredClient as never,
        refreshToken,
        resource: notes.resource,
      }),
    )
  t.ok(
    (await refreshWith(first.refresh_token)) instanceof InvalidGrantError,
    'the reused refresh token: invalid_grant',
  )
  t.ok(
    (await refreshWith(second.refresh_token)) instanceof InvalidGrantError,
    'the latest refresh token is revoked too',
  )
  passed('refresh', t)
})

for (const adapter of ADAPTERS) {
  t.test(`1.x client: client credentials token calls whoami as the client itself (${adapter})`, async (t) => {
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
    const client = new Client({ name: 'journey-machine', version: '1.0.0' })
    await client.connect(transport)
    t.teardown(() => client.close())
    const token = recorder.log.find((exchange) => exchange.url === idp.endpoints.token)
    t.match(token, { status: 200, form: { grant_type: 'client_credentials', resource: notes.resource } })
    // Unlike 2.x, 1.x's auth() does not pass the challenged scope to a non-interactive provider: it
    // sends the scope configured on the provider, here none, so the token carries no scope.
    t.notOk(token?.form && 'scope' in token.form, 'no scope requested')
    t.notOk(
      recorder.log.some((exchange) => exchange.url === idp.endpoints.registration),
      'no registration',
    )
    t.same(
      toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
      { sub: idp.clients.machine.client_id, client: idp.clients.machine.client_id, scopes: [] },
      'no user: the subject is the client (whoami needs no scope)',
    )
  })
}

for (const adapter of ADAPTERS) {
  t.test(
    `1.x client: a token issued for another resource is refused with 401 invalid_token (${adapter})`,
    async (t) => {
      const idp = await startJourneyIdp(t)
      const notes = await notesEndpoint(t, idp, { sdk: 'v1', adapter })
      const elsewhere = await notesEndpoint(t, idp, { sdk: 'v1', adapter })
      const { access_token: foreign } = await idp.userToken({
        user: 'bob',
        resource: elsewhere.resource,
        scope: 'notes:read',
      })
      const headers = { authorization: `Bearer ${foreign}` }

      const recorder = exchangeRecorder()
      const transport = new StreamableHTTPClientTransport(notes.url, {
        requestInit: { headers },
        fetch: recorder.fetch,
      })
      const refused = await failure(
        new Client({ name: 'journey-foreign', version: '1.0.0' }).connect(transport),
      )
      t.ok(
        refused instanceof StreamableHTTPError,
        'a client without an auth provider gets StreamableHTTPError',
      )
      t.equal((refused as StreamableHTTPError).code, 401)
      t.match(recorder.log[0], { url: notes.resource, status: 401 })
      t.match(bearerParams(recorder.log[0]), {
        error: 'invalid_token',
        resource_metadata: notes.metadataUrl,
        error_description: /audience|aud/i,
      })

      const other = new Client({ name: 'journey-foreign', version: '1.0.0' })
      await other.connect(new StreamableHTTPClientTransport(elsewhere.url, { requestInit: { headers } }))
      t.teardown(() => other.close())
      t.match(
        toolResult(await other.callTool({ name: 'whoami', arguments: {} })),
        { sub: 'bob' },
        'where it was issued for, it works',
      )
    },
  )
}
