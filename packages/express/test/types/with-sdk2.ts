// Compiled (never run) by types.test.ts with skipLibCheck off: @portcullis/express beside the MCP
// SDK 2.x Express helpers, which declare `req.auth` on express-serve-static-core's Request.
import { createMcpExpressApp } from '@modelcontextprotocol/express'
import { jwtVerifier } from '@portcullis/core'
import { portcullis, requireScopes, verifiedAuth } from '@portcullis/express'

const resource = 'https://mcp.example.com/mcp'
const issuer = 'https://idp.example.com'
const app = createMcpExpressApp()
app.use(
  portcullis({
    resource,
    authorizationServers: [issuer],
    verifier: jwtVerifier({ issuer, audience: resource }),
  }),
)

app.get('/reports', requireScopes('reports:read'), (req, res) => {
  const sub: string | undefined = verifiedAuth(req).extra.sub
  const clientId: string | undefined = req.auth?.clientId
  res.json({ sub, clientId })
})
