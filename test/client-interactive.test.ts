// The MCP SDK's interactive flow (both client lines) with @portcullis/client's durable store:
// sign in once, and the next run (a new provider on the same file) connects without a browser.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  auth as authV2,
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client'
import { auth as authV1 } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { fileTokenStore, type StoredOAuthClientProvider, storedOAuthClientProvider } from '@portcullis/client'
import { completeAuthorization } from '@portcullis/dev-idp'
import t from 'tap'
import { startClientStack } from './fixtures/client-stack.js'
import { notesEndpoint } from './fixtures/journey-stack.js'
import { toolResult } from './fixtures/sdk-clients.js'

const REDIRECT = 'http://127.0.0.1:8976/callback'
const CLIENT_INFO = { name: 'interactive-test', version: '1.0.0' }

/** A provider on the file whose "browser" signs `user` in headlessly and keeps the callback. */
function cliProvider(storePath: string, serverUrl: string, user: string) {
  const callbacks: URLSearchParams[] = []
  const redirects: URL[] = []
  const provider: StoredOAuthClientProvider = storedOAuthClientProvider({
    store: fileTokenStore(storePath),
    serverUrl,
    redirectUrl: REDIRECT,
    clientMetadata: {
      client_name: 'notes-cli',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    async redirectToAuthorization(url) {
      redirects.push(url)
      const request = new URL(url)
      request.searchParams.set('login_hint', user)
      const answer = await completeAuthorization(request, { redirectUri: REDIRECT })
      // RFC 6749 §10.12: the answer is to our own request.
      if (answer.state !== provider.lastState) throw new Error('state does not match')
      callbacks.push(answer.url.searchParams)
    },
  })
  return { provider, callbacks, redirects }
}

for (const line of ['2.x', '1.x'] as const) {
  t.test(`${line} client: sign in once, the next run needs no browser`, async (t) => {
    const stack = await startClientStack(t)
    const notes = await notesEndpoint(t, stack.idp)
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-interactive-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const storePath = join(dir, 'tokens.json')

    const connect = async (provider: StoredOAuthClientProvider) => {
      const client = line === '2.x' ? new ClientV2(CLIENT_INFO) : new ClientV1(CLIENT_INFO)
      const transport =
        line === '2.x'
          ? new TransportV2(notes.url, { authProvider: provider as never })
          : new TransportV1(notes.url, { authProvider: provider as never })
      await client.connect(transport as never)
      return { client, transport }
    }

    // First run: 401 → the SDK discovers, registers, redirects; the app finishes with the callback.
    const first = cliProvider(storePath, notes.resource, 'alice')
    // 2.x rejects with its UnauthorizedError; 1.x's connect rethrows it as a plain Error.
    await t.rejects(
      connect(first.provider),
      { message: /Unauthorized/ },
      'the first connection needs a sign-in',
    )
    t.equal(first.redirects.length, 1, 'one authorization request')
    t.equal(first.redirects[0]?.searchParams.get('resource'), notes.resource, 'with the RFC 8707 resource')
    const callback = first.callbacks[0]!
    const finishing =
      line === '2.x'
        ? new TransportV2(notes.url, { authProvider: first.provider as never })
        : new TransportV1(notes.url, { authProvider: first.provider as never })
    await (line === '2.x'
      ? (finishing as TransportV2).finishAuth(callback)
      : (finishing as TransportV1).finishAuth(callback.get('code')!))
    const signedIn = await connect(first.provider)
    t.same(toolResult(await signedIn.client.callTool({ name: 'whoami', arguments: {} })).sub, 'alice')
    await signedIn.client.close()

    t.equal((await stat(storePath)).mode & 0o777, 0o600, 'the grant is on disk, owner-only')
    const onDisk = JSON.parse(await readFile(storePath, 'utf8'))
    const entry = onDisk.entries[first.provider.storeKey]
    t.type(entry?.sdk?.clientInformation?.client_id, 'string', 'the registration is stored')
    t.type(entry?.sdk?.tokens?.refresh_token, 'string', 'and the tokens')

    // Next run: a new provider on the same file connects at once.
    const second = cliProvider(storePath, notes.resource, 'alice')
    const again = await connect(second.provider)
    t.equal(second.redirects.length, 0, 'no browser the second time')
    t.same(toolResult(await again.client.callTool({ name: 'whoami', arguments: {} })).sub, 'alice')
    await again.client.close()

    // A refresh through the SDK: the rotated refresh token is on disk when auth() returns.
    const before = entry.sdk.tokens.refresh_token
    const result =
      line === '2.x'
        ? await authV2(second.provider as never, { serverUrl: notes.url })
        : await authV1(second.provider as never, { serverUrl: notes.url })
    t.equal(result, 'AUTHORIZED', 'refreshed without a browser')
    const after = JSON.parse(await readFile(storePath, 'utf8')).entries[first.provider.storeKey].sdk.tokens
    t.not(after.refresh_token, before, 'the rotated refresh token was saved')
    const refresh = stack.tokenRequests.at(-1)
    t.match(refresh, { grantType: 'refresh_token', resource: notes.resource, outcome: 'success' })
  })
}
