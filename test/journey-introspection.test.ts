// The journey against a notes server that verifies opaque tokens by RFC 7662 introspection, with
// both MCP SDK client lines: the token works, and once revoked (RFC 7009) it is refused.
import { auth as authV2, UnauthorizedError as UnauthorizedErrorV2 } from '@modelcontextprotocol/client'
import {
  auth as authV1,
  UnauthorizedError as UnauthorizedErrorV1,
} from '@modelcontextprotocol/sdk/client/auth.js'
import t from 'tap'
import {
  exchangeRecorder,
  HeadlessOAuthProvider,
  withoutEventStreams,
} from './fixtures/headless-oauth-client.js'
import { assertSignInJourney, bearerParams } from './fixtures/journey-assertions.js'
import { notesEndpoint, startJourneyIdp } from './fixtures/journey-stack.js'
import { asV1, asV2, signInV1, signInV2, toolResult } from './fixtures/sdk-clients.js'

const looksLikeJwt = (token: string) => token.split('.').length === 3

t.test('opaque tokens through introspection, then revoked', async (t) => {
  const idp = await startJourneyIdp(t)

  for (const line of ['2.x', '1.x'] as const) {
    t.test(`${line} client`, async (t) => {
      const notes = await notesEndpoint(t, idp, { format: 'opaque' })
      const provider = new HeadlessOAuthProvider({ user: 'bob', clientName: `journey ${line} introspection` })
      const recorder = exchangeRecorder()
      const v2 = line === '2.x' ? await signInV2(notes.url, provider, recorder.fetch, 'modern') : undefined
      const v1 = line === '1.x' ? await signInV1(notes.url, provider, recorder.fetch) : undefined
      const client = (v2?.client ?? v1?.client)!
      t.teardown(() => client.close())
      assertSignInJourney(t, {
        log: recorder.log,
        provider,
        notes,
        idp,
        firstRpc: line === '2.x' ? 'server/discover' : 'initialize',
      })
      t.notOk(looksLikeJwt(provider.tokens().access_token), 'the access token is opaque')
      t.same(
        toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
        { sub: 'bob', client: provider.registeredClient?.client_id, scopes: ['notes:read'] },
        'subject, client and scopes come from the introspection answer',
      )
      t.same(toolResult(await client.callTool({ name: 'list_notes', arguments: {} })), { notes: [] })

      // A fresh access token the server has not seen (and so not cached): refresh through the SDK.
      const result =
        line === '2.x'
          ? await authV2(asV2(provider), { serverUrl: notes.url, fetchFn: recorder.fetch })
          : await authV1(asV1(provider), { serverUrl: notes.url, fetchFn: recorder.fetch })
      t.equal(result, 'AUTHORIZED', 'refreshed without a browser')
      const fresh = provider.tokens()
      t.match(withoutEventStreams(recorder.log).at(-1), {
        url: idp.endpoints.token,
        status: 200,
        form: { grant_type: 'refresh_token' },
      })

      // RFC 7009 §2.1: the client revokes its access token (a public client names itself).
      const revoked = await fetch(idp.endpoints.revocation, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token: fresh.access_token,
          token_type_hint: 'access_token',
          client_id: provider.registeredClient?.client_id,
        }),
      })
      t.equal(revoked.status, 200, 'revocation accepted')

      const direct = await fetch(notes.url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${fresh.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      })
      t.equal(direct.status, 401, 'the revoked token is refused')
      const challenge = bearerParams({
        method: 'POST',
        url: notes.resource,
        status: direct.status,
        form: undefined,
        rpc: undefined,
        wwwAuthenticate: direct.headers.get('www-authenticate'),
        error: undefined,
      })
      t.match(challenge, { error: 'invalid_token', resource_metadata: notes.metadataUrl })
      t.same(await direct.json(), { error: 'invalid_token', error_description: challenge.error_description })

      // oidc-provider revokes every token of the grant with the access token (refresh tokens too),
      // so the SDK client holding it is signed out: 401 invalid_token, its refresh fails with
      // invalid_grant, and it starts a new authorization, which waits for the browser.
      recorder.clear()
      const signedOut = await client.callTool({ name: 'whoami', arguments: {} }).then(
        () => undefined,
        (error: unknown) => error,
      )
      t.ok(
        signedOut instanceof (line === '2.x' ? UnauthorizedErrorV2 : UnauthorizedErrorV1),
        'UnauthorizedError: the call waits for a new sign-in',
      )
      const [refused, refresh, ...rest] = withoutEventStreams(recorder.log)
      t.match(refused, { url: notes.resource, status: 401 })
      t.match(bearerParams(refused), { error: 'invalid_token', resource_metadata: notes.metadataUrl })
      t.match(refresh, {
        url: idp.endpoints.token,
        status: 400,
        error: 'invalid_grant',
        form: { grant_type: 'refresh_token' },
      })
      t.same(rest, [], 'no other request before the browser step')
      t.equal(provider.authorizationRequests.length, 2, 'a new authorization request')

      const callback = provider.takeCallback()
      if (v2 !== undefined) await v2.transport.finishAuth(callback.params)
      if (v1 !== undefined) await v1.transport.finishAuth(callback.code)
      t.match(
        toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
        { sub: 'bob' },
        'signed in again, the call succeeds',
      )
      t.not(provider.tokens().access_token, fresh.access_token, 'with a new access token')
    })
  }
})
