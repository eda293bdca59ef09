// A user signs in once in the browser through the MCP SDK's own flow (discovery, registration,
// PKCE, resource indicators); the registration and the tokens are kept in the token file, so the
// next run connects at once and the SDK refreshes with the stored refresh token.
import { createServer } from 'node:http'
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client'
import { fileTokenStore, storedOAuthClientProvider } from '@portcullis/client'
import { MCP_URL, TOKEN_FILE } from './settings.js'

const PORT = Number(process.env.CALLBACK_PORT ?? 8976)
const redirectUrl = `http://127.0.0.1:${PORT}/callback`

const authProvider = storedOAuthClientProvider({
  store: fileTokenStore(TOKEN_FILE),
  serverUrl: MCP_URL,
  redirectUrl,
  clientMetadata: {
    client_name: 'notes-cli',
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  },
  redirectToAuthorization(url) {
    console.log(`Open this URL to sign in:\n\n  ${url.href}\n`)
  },
})

/** Waits for the browser to come back to the redirect URI; returns the callback's query. */
function callback(): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      const params = new URL(req.url ?? '/', redirectUrl).searchParams
      res.end('Signed in. You can close this tab.')
      server.close()
      if (params.get('state') !== authProvider.lastState)
        reject(new Error('state does not match the request'))
      else resolve(params)
    })
    server.listen(PORT, '127.0.0.1')
  })
}

const connect = async () => {
  const client = new Client({ name: 'notes-cli', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider })
  await client.connect(transport)
  return client
}

let client: Client
try {
  client = await connect()
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error
  const params = await callback()
  await new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider }).finishAuth(params)
  client = await connect()
}
const result = await client.callTool({ name: 'whoami', arguments: {} })
console.log(JSON.stringify(result.structuredContent))
await client.close()
