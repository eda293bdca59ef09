// The doctor against an MCP server that does not use Portcullis: the MCP SDK 1.x on Express with
// the SDK's own requireBearerAuth and mcpAuthMetadataRouter, keys checked with jose, tokens from
// the dev IdP. What the doctor reports there is what such a deployment really lacks.
import { createServer } from 'node:http'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import {
  getOAuthProtectedResourceMetadataUrl,
  mcpAuthMetadataRouter,
} from '@modelcontextprotocol/sdk/server/auth/router.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { OAuthMetadata } from '@modelcontextprotocol/sdk/shared/auth.js'
import { startDevIdp } from '@portcullis/dev-idp'
import express from 'express'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { doctor } from '../src/doctor.js'

const idp = await startDevIdp({ quiet: true })
t.teardown(idp.close)
const server = createServer()
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
t.teardown(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/mcp`
idp.addResource({ resource: url, scopes: ['notes:read', 'notes:write'] })

const oauthMetadata = (await (await fetch(idp.discoveryUrl)).json()) as OAuthMetadata
const keys = createRemoteJWKSet(new URL(idp.endpoints.jwks))
const app = express()
app.use(
  mcpAuthMetadataRouter({
    oauthMetadata,
    resourceServerUrl: new URL(url),
    scopesSupported: ['notes:read', 'notes:write'],
  }),
)
app.post(
  '/mcp',
  express.json(),
  requireBearerAuth({
    requiredScopes: ['notes:read'],
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(url)),
    verifier: {
      async verifyAccessToken(token) {
        const { payload } = await jwtVerify(token, keys, { issuer: idp.issuer, audience: url })
        return {
          token,
          clientId: String(payload.client_id),
          scopes: String(payload.scope ?? '')
            .split(' ')
            .filter(Boolean),
          expiresAt: payload.exp,
        }
      },
    },
  }),
  async (req, res) => {
    const mcp = new McpServer({ name: 'plain-sdk', version: '1.0.0' })
    mcp.registerTool('ping', { description: 'answers pong' }, async () => ({
      content: [{ type: 'text', text: 'pong' }],
    }))
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    })
    res.on('close', () => {
      transport.close()
      mcp.close()
    })
    await mcp.connect(transport)
    await transport.handleRequest(req, res, req.body)
  },
)
server.on('request', app)

const statuses = (report: Awaited<ReturnType<typeof doctor>>) =>
  report.checks.filter((c) => c.status === 'warn' || c.status === 'fail').map((c) => `${c.status} ${c.id}`)

t.test('a plain SDK server: what it does right passes, what it lacks is named', async (t) => {
  const report = await doctor(url)
  t.comment(report.checks.map((c) => `${c.status} ${c.id}: ${c.message}`).join('\n'))
  t.same(statuses(report), [
    // requireBearerAuth answers a missing header with error="invalid_token" (RFC 6750 §3.1 says no error).
    'warn challenge.no_error',
    // No CORS on the MCP route: browser clients cannot preflight or read the 401.
    'fail cors.preflight',
    'fail cors.challenge',
  ])
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]))
  t.equal(byId['challenge.resource_metadata']?.status, 'pass')
  t.equal(byId['metadata.resource']?.status, 'pass')
  t.equal(byId['cors.metadata']?.status, 'pass', 'the SDK serves its metadata with CORS')
  t.equal(byId['as.pkce']?.status, 'pass')
})

t.test('a plain SDK server with a token: tools/list, and the 403 names the scope', async (t) => {
  const { access_token: good } = await idp.userToken({ resource: url, scope: 'notes:read' })
  const report = await doctor(url, { token: good })
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]))
  t.match(byId['token.tools_list']?.message, /1 tool\(s\): ping$/)
  t.equal(byId['token.audience']?.status, 'pass')

  const { access_token: writer } = await idp.userToken({ resource: url, scope: 'notes:write' })
  const refused = await doctor(url, { token: writer })
  const check = refused.checks.find((c) => c.id === 'token.tools_list')
  t.equal(check?.status, 'fail')
  t.match(check?.message, /403; the challenge asks for scope "notes:read" \(insufficient_scope\)/)
})
