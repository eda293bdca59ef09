// Compiled (never run) by types.test.ts: how the verified caller and the guards type-check in an app.
import { jwtVerifier } from '@portcullis/core'
import { portcullis, protect, requireScopes, verifiedAuth } from '@portcullis/express'
import express from 'express'

const resource = 'https://mcp.example.com/mcp'
const issuer = 'https://idp.example.com'
const app = express()
const auth = portcullis({
  resource,
  authorizationServers: [issuer],
  verifier: jwtVerifier({ issuer, audience: resource }),
})
app.use(auth)

app.get('/reports', requireScopes('reports:read'), (req, res) => {
  // No `!`: the verified caller, with the fields the gate guarantees.
  const caller = verifiedAuth(req)
  const sub: string | undefined = caller.extra.sub
  const fingerprint: string = caller.extra.fingerprint
  const resourceUrl: URL = caller.resource
  const scopes: string[] = caller.scopes
  res.json({ sub, fingerprint, resource: resourceUrl.href, scopes })
})

app.get('/sdk-shape', (req, res) => {
  // `req.auth` has the MCP SDK's shape and is optional, as the SDK declares it.
  // @ts-expect-error possibly undefined: a public path or an unguarded route has no caller
  const direct: string = req.auth.token
  const token: string | undefined = req.auth?.token
  res.json({ direct, token })
})

app.post('/mcp', protect(), auth.requireScopes({ anyOf: ['a', 'b'] }), (req, res) => {
  // @ts-expect-error scopes are strings, not numbers
  const wrong: number[] = verifiedAuth(req).scopes
  res.json(wrong)
})

// @ts-expect-error a requirement is names or { anyOf } / { allOf }
requireScopes({ oneOf: ['a'] })
