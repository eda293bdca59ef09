import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { TokenVerifier } from '@portcullis/core'
import { portcullis, requireScopes } from '@portcullis/express'
import { ISSUER, METADATA_URL, RESOURCE, tokenKit } from '@portcullis/test-kit'
import express, { type RequestHandler } from 'express'
import { createLocalJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { listen } from './fixtures/app.js'

// docs/migrate-from-sdk-bearer-auth.md: the "before" and "after" servers, with the application's
// own token verifier kept, driven by the real 1.x SDK client.

const kit = await tokenKit()
const keys = createLocalJWKSet({ keys: [kit.publicJwk] })

/** An application's own verifier, as SDK examples write them: signature and expiry, nothing else. */
const tokenVerifier: TokenVerifier = {
  async verifyAccessToken(token) {
    const { payload } = await jwtVerify(token, keys)
    return {
      token,
      clientId: String(payload.client_id),
      scopes: String(payload.scope ?? '').split(' '),
      ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
      resource: new URL(String(payload.aud)),
      extra: { sub: payload.sub },
    }
  },
}

function buildServer() {
  const server = new McpServer({ name: 'notes', version: '1.0.0' })
  server.registerTool('whoami', {}, async (extra) => ({
    content: [{ type: 'text' as const, text: String(extra.authInfo?.extra?.sub) }],
  }))
  return server
}

const mcpHandler: RequestHandler = async (req, res) => {
  const server = buildServer()
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
  res.on('close', () => {
    transport.close()
    server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res, req.body)
}

async function before() {
  const app = express()
  app.use(express.json())
  const auth = requireBearerAuth({
    verifier: tokenVerifier,
    requiredScopes: ['notes:read'],
    resourceMetadataUrl: METADATA_URL,
  })
  app.post('/mcp', auth, mcpHandler)
  return listen(app)
}

async function after() {
  const app = express()
  app.use(express.json())
  app.use(
    portcullis({
      resource: RESOURCE,
      authorizationServers: [ISSUER],
      verifier: tokenVerifier,
      scopes: { base: ['notes:read'] },
    }),
  )
  app.post('/mcp', requireScopes('notes:read'), mcpHandler)
  return listen(app)
}

const whoami = async (url: string, token: string) => {
  const client = new Client({ name: 'migration', version: '1.0.0' })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  )
  const result = await client.callTool({ name: 'whoami', arguments: {} })
  await client.close()
  return (result.content as Array<{ text: string }>)[0]?.text
}

t.test('the same MCP server and client work before and after', async (t) => {
  const token = await kit.mint({ sub: 'alice', scope: 'notes:read' })
  for (const start of [before, after]) {
    const server = await start()
    t.teardown(server.close)
    t.equal(await whoami(server.url, token), 'alice', `${start.name}: the tool sees the caller`)
  }
})

t.test('after: the metadata document is served and the 401 follows RFC 6750 §3.1', async (t) => {
  const old = await before()
  const next = await after()
  t.teardown(old.close)
  t.teardown(next.close)
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  t.match(
    (await old.request('POST', '/mcp', headers, body)).headers['www-authenticate'],
    /error="invalid_token"/,
  )
  t.equal(
    (await next.request('POST', '/mcp', headers, body)).headers['www-authenticate'],
    `Bearer scope="notes:read", resource_metadata="${METADATA_URL}"`,
  )
  const metadata = await next.request('GET', '/.well-known/oauth-protected-resource/mcp')
  t.same(metadata.json(), {
    resource: RESOURCE,
    authorization_servers: [ISSUER],
    scopes_supported: ['notes:read'],
    bearer_methods_supported: ['header'],
  })
})

t.test(
  'after: a token issued for another resource is refused, even by a verifier that does not look',
  async (t) => {
    const elsewhere = await kit.mint({ scope: 'notes:read', aud: 'https://other.example.com/mcp' })
    const old = await before()
    const next = await after()
    t.teardown(old.close)
    t.teardown(next.close)
    t.equal(await whoami(old.url, elsewhere), 'alice', 'before: accepted')
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
    const refused = await next.request(
      'POST',
      '/mcp',
      { 'content-type': 'application/json', authorization: `Bearer ${elsewhere}` },
      body,
    )
    t.equal(refused.status, 401)
    t.match(
      refused.headers['www-authenticate'],
      /error="invalid_token", error_description="The access token was issued for another resource"/,
    )
  },
)
