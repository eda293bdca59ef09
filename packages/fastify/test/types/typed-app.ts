// Type-checked by `pnpm lint` (tsconfig.app.json), never run: how the verified caller, route config
// and the guards type-check in an app, beside the MCP SDK 2.x Fastify helper (skipLibCheck off).
import { createMcpFastifyApp } from '@modelcontextprotocol/fastify'
import { jwtVerifier } from '@portcullis/core'
import { portcullis } from '@portcullis/fastify'

const resource = 'https://mcp.example.com/mcp'
const issuer = 'https://idp.example.com'
const app = createMcpFastifyApp()
await app.register(portcullis, {
  resource,
  authorizationServers: [issuer],
  verifier: jwtVerifier({ issuer, audience: resource }),
})

app.get('/reports', { config: { scopes: ['reports:read'] } }, async (req) => {
  // No `!`: behind the gate the caller is there, with the fields the gate guarantees.
  const sub: string | undefined = req.auth.extra.sub
  const fingerprint: string = req.auth.extra.fingerprint
  const resourceUrl: URL = req.auth.resource
  return { sub, fingerprint, resource: resourceUrl.href }
})

app.get('/any', { config: { scopes: { anyOf: ['a', 'b'] } } }, async () => 'ok')
app.get('/open', { config: { public: true } }, async () => 'ok')
app.delete('/notes/:id', { preHandler: app.requireScopes('notes:write') }, async () => 'ok')

// @ts-expect-error a requirement is names or { anyOf } / { allOf }
app.get('/bad', { config: { scopes: { oneOf: ['a'] } } }, async () => 'ok')

// @ts-expect-error scopes are strings, not numbers
const wrong: number[] = ({} as import('fastify').FastifyRequest).auth.scopes
void wrong
const gate: import('@portcullis/core').Gate = app.gate
void gate
