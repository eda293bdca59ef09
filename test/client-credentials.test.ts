// @portcullis/client's client credentials grant against the dev IdP (oidc-provider), calling the
// notes example through both MCP SDK client lines and as a plain HTTP client.
import type { webcrypto } from 'node:crypto'
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client'
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { authFetch, clientCredentials } from '@portcullis/client'
import t from 'tap'
import { reporterFor, startClientStack } from './fixtures/client-stack.js'
import { notesEndpoint } from './fixtures/journey-stack.js'
import { toolResult } from './fixtures/sdk-clients.js'

const CLIENT_INFO = { name: 'client-credentials-test', version: '1.0.0' }

t.test('client credentials → whoami over both SDK client lines', async (t) => {
  const stack = await startClientStack(t)
  for (const sdk of ['v2', 'v1'] as const) {
    t.test(`notes server on SDK ${sdk}`, async (t) => {
      const notes = await notesEndpoint(t, stack.idp, { sdk })
      const before = stack.tokenRequests.length
      const fetch = authFetch(reporterFor(stack, notes.resource, ['notes:read']))
      for (const line of ['2.x', '1.x'] as const) {
        const client = line === '2.x' ? new ClientV2(CLIENT_INFO) : new ClientV1(CLIENT_INFO)
        const transport =
          line === '2.x' ? new TransportV2(notes.url, { fetch }) : new TransportV1(notes.url, { fetch })
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

t.test('client authentication methods and ways to the token endpoint', async (t) => {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair
  const publicJwk = {
    ...(await crypto.subtle.exportKey('jwk', keys.publicKey)),
    kid: 'signer-1',
    alg: 'ES256',
    use: 'sig',
  }
  const stack = await startClientStack(t, {
    // Google- and Cognito-like: OpenID Connect discovery only, no RFC 8414 document.
    oauthMetadata: false,
    extraClients: [
      {
        client_id: 'signer',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [publicJwk] },
      },
    ],
  })
  const notes = await notesEndpoint(t, stack.idp)
  const whoami = async (fetch: typeof globalThis.fetch) => {
    const client = new ClientV2(CLIENT_INFO)
    await client.connect(new TransportV2(notes.url, { fetch }))
    t.teardown(() => client.close())
    return toolResult(await client.callTool({ name: 'whoami', arguments: {} }))
  }
  const common = { scopes: ['notes:read'], resource: notes.resource }

  t.same(
    await whoami(
      authFetch(
        clientCredentials({
          ...common,
          issuer: stack.idp.issuer,
          clientId: stack.poster.client_id,
          clientSecret: stack.poster.client_secret,
          tokenEndpointAuthMethod: 'client_secret_post',
        }),
      ),
    ),
    { sub: 'poster', client: 'poster', scopes: ['notes:read'] },
    'client_secret_post, token endpoint from OpenID Connect discovery (no RFC 8414 document served)',
  )
  t.same(
    await whoami(
      authFetch(
        clientCredentials({
          ...common,
          issuer: stack.idp.issuer,
          clientId: 'signer',
          privateKey: { key: keys.privateKey, kid: 'signer-1' },
        }),
      ),
    ),
    { sub: 'signer', client: 'signer', scopes: ['notes:read'] },
    'private_key_jwt (RFC 7523)',
  )
  t.same(
    await whoami(
      authFetch(
        clientCredentials({
          ...common,
          tokenEndpoint: stack.idp.endpoints.token,
          clientId: stack.reporter.client_id,
          clientSecret: stack.reporter.client_secret,
        }),
      ),
    ),
    { sub: 'reporter', client: 'reporter', scopes: ['notes:read'] },
    'client_secret_basic, token endpoint given (no discovery)',
  )
  t.same(
    stack.tokenRequests.map((r) => [r.clientId, r.resource, r.outcome]),
    [
      ['poster', notes.resource, 'success'],
      ['signer', notes.resource, 'success'],
      ['reporter', notes.resource, 'success'],
    ],
    'each client authenticated and named the resource (RFC 8707)',
  )

  const wrong = authFetch(
    clientCredentials({
      ...common,
      issuer: stack.idp.issuer,
      clientId: 'reporter',
      clientSecret: 'not-the-secret',
    }),
  )
  await t.rejects(wrong(notes.url), {
    name: 'TokenRequestError',
    kind: 'oauth_error',
    error: 'invalid_client',
  })
})

t.test('403 insufficient_scope → client-credentials step-up to the union of scopes', async (t) => {
  const stack = await startClientStack(t)
  for (const sdk of ['v2', 'v1'] as const) {
    t.test(`notes server on SDK ${sdk}`, async (t) => {
      const notes = await notesEndpoint(t, stack.idp, { sdk })
      const before = stack.tokenRequests.length
      const responses: Array<{ status: number; challenge: string | null }> = []
      const fetch = authFetch(reporterFor(stack, notes.resource, ['notes:read']), {
        fetch: async (input, init) => {
          const response = await globalThis.fetch(input, init)
          responses.push({ status: response.status, challenge: response.headers.get('www-authenticate') })
          return response
        },
      })
      const client = new ClientV2(CLIENT_INFO)
      await client.connect(new TransportV2(notes.url, { fetch }))
      t.teardown(() => client.close())
      t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).scopes, ['notes:read'])

      const added = toolResult(
        await client.callTool({ name: 'add_note', arguments: { text: 'from a machine' } }),
      )
      t.match(added, { note: { text: 'from a machine' } }, 'add_note (notes:write) ran after the step-up')
      const refused = responses.filter((r) => r.status === 403)
      t.equal(refused.length, 1, 'one 403, then the retried call went through')
      t.match(refused[0]?.challenge, /error="insufficient_scope"/)
      t.match(refused[0]?.challenge, /scope="[^"]*notes:write/)

      const requests = stack.tokenRequests.slice(before)
      t.equal(requests.length, 2, 'the first token, then the widened one')
      t.same(
        requests[1]?.scope?.split(' ').sort(),
        ['notes:read', 'notes:write'],
        'the step-up asked for the scopes held plus the challenged ones',
      )
      t.equal(requests[1]?.resource, notes.resource, 'and named the resource again')
      t.same(
        toolResult(await client.callTool({ name: 'whoami', arguments: {} })).scopes.sort(),
        ['notes:read', 'notes:write'],
        'later calls carry the widened token',
      )
      t.equal(stack.tokenRequests.length - before, 2, 'no further token request')
    })
  }
})

t.test('plain HTTP client: the token goes to the resource origin only', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const seen: Array<{ url: string; authorization: string | null }> = []
  const fetch = authFetch(reporterFor(stack, notes.resource), {
    fetch: (input, init) => {
      const request = new Request(input, init)
      seen.push({ url: request.url, authorization: request.headers.get('authorization') })
      return globalThis.fetch(request)
    },
  })
  const response = await fetch(notes.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: CLIENT_INFO },
    }),
  })
  t.equal(response.status, 200, 'an MCP POST with the injected token')
  await response.body?.cancel()
  t.match(seen[0]?.authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'Authorization: Bearer <jwt>')

  const token = await fetch.token()
  t.equal(seen[0]?.authorization, `Bearer ${token.token}`, 'fetch.token() is the token it sends')
  t.type(token.expiresAt, 'number')

  const elsewhere = await fetch(`${stack.idp.issuer}/.well-known/openid-configuration`)
  t.equal(elsewhere.status, 200)
  await elsewhere.body?.cancel()
  t.equal(seen.at(-1)?.authorization, null, 'no token sent to another origin')

  const request = new Request(notes.metadataUrl, { headers: { 'x-trace': 'kept' } })
  const viaRequest = await fetch(request)
  t.equal(viaRequest.status, 200, 'a Request object works too')
  await viaRequest.body?.cancel()
  t.match(seen.at(-1), { url: notes.metadataUrl, authorization: `Bearer ${token.token}` })
})
