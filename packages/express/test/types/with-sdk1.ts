// Compiled (never run) by types.test.ts with skipLibCheck off: @portcullis/express beside the MCP
// SDK 1.x bearer middleware, which declares `req.auth` on the global Express.Request too.

import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { jwtVerifier } from '@portcullis/core'
import { portcullis, requireScopes, verifiedAuth } from '@portcullis/express'
import express from 'express'

const resource = 'https://mcp.example.com/mcp'
const issuer = 'https://idp.example.com'
const app = express()
app.use(
  portcullis({
    resource,
    authorizationServers: [issuer],
    verifier: jwtVerifier({ issuer, audience: resource }),
  }),
)
void requireBearerAuth

app.get('/reports', requireScopes('reports:read'), (req, res) => {
  const sub: string | undefined = verifiedAuth(req).extra.sub
  const clientId: string | undefined = req.auth?.clientId
  res.json({ sub, clientId })
})
