import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { type GateOptions, issuerRouter, jwtVerifier, withScopes } from '@portcullis/core'
import { type DevIdp, startDevIdp } from '@portcullis/dev-idp'
import { type ForgeContext, type KeyName, makeSigningKeys } from './token-forge.js'

// Everything the corpus runs against, on loopback sockets: the test's own authorization server
// (two issuers, one key set), an attacker's server that counts every request it gets, the dev IdP
// for real tokens, and the gate options and MCP server both adapters are built from.

export const RESOURCE = 'https://mcp.example.test/mcp'
export const OTHER_RESOURCE = 'https://other.example.test/mcp'
export const METADATA_URL = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp'
export const BASE_SCOPE = 'notes:read'
/** Largest request body the apps accept (Fastify's default; Express is set to match). */
export const BODY_LIMIT = 1024 * 1024

export interface CountingServer {
  url: string
  server: Server
  /** Requests received, by path. */
  hits: Map<string, number>
  total(): number
  close(): Promise<void>
}

/** A loopback HTTP server that counts requests and answers with `handler`. */
export async function countingServer(
  handler: (req: IncomingMessage) => { status: number; body: unknown; headers?: Record<string, string> },
): Promise<CountingServer> {
  const hits = new Map<string, number>()
  const server = createServer((req, res) => {
    const path = req.url ?? '/'
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const answer = handler(req)
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    hits,
    total: () => [...hits.values()].reduce((sum, n) => sum + n, 0),
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** How often each tool of the corpus MCP server ran, by tool name. */
export type ToolRuns = Map<string, number>

export interface HardeningStack {
  forge: ForgeContext
  keyServer: CountingServer
  attacker: CountingServer
  idp: DevIdp
  /** Fresh gate options (fresh verifiers and caches) for one app. */
  gateOptions(): GateOptions
  /** The corpus MCP server factory, counting tool runs in `runs`. */
  mcpServer(runs: ToolRuns): () => McpServer
  close(): Promise<void>
}

export async function startHardeningStack(): Promise<HardeningStack> {
  const keys = await makeSigningKeys()
  const trusted: KeyName[] = ['es256', 'rs256']
  const attackerKeys: KeyName[] = ['attacker-es256', 'attacker-rs256']
  const keyServer = await countingServer((req) =>
    req.url === '/jwks'
      ? { status: 200, body: { keys: trusted.map((name) => keys[name].publicJwk) } }
      : { status: 404, body: {} },
  )
  // Serves whatever a token's jku/x5u/iss might point to: its key set, metadata, a certificate URL.
  const attacker = await countingServer((req) => {
    if (req.url?.includes('.well-known')) {
      return { status: 200, body: { issuer: attackerUrl, jwks_uri: `${attackerUrl}/jwks` } }
    }
    return { status: 200, body: { keys: attackerKeys.map((name) => keys[name].publicJwk) } }
  })
  const attackerUrl = attacker.url
  const idp = await startDevIdp()
  idp.addResource({
    resource: RESOURCE,
    scopes: ['notes:read', 'notes:write', 'notes:admin', 'reports:read'],
  })
  idp.addResource({ resource: OTHER_RESOURCE, scopes: ['notes:read', 'notes:write'] })

  const issuers = {
    // An issuer with a path (Keycloak-like) and one with a trailing slash (Auth0-like).
    acme: `${keyServer.url}/realms/acme`,
    partner: `${keyServer.url}/partner/`,
  }
  const jwksUri = `${keyServer.url}/jwks`

  const gateOptions = (): GateOptions => ({
    resource: RESOURCE,
    authorizationServers: [issuers.acme, issuers.partner, idp.issuer],
    verifier: issuerRouter({
      issuers: {
        [issuers.acme]: jwtVerifier({ issuer: issuers.acme, audience: RESOURCE, jwksUri }),
        [issuers.partner]: jwtVerifier({ issuer: issuers.partner, audience: RESOURCE, jwksUri }),
        // Keys found by discovery, as in production.
        [idp.issuer]: jwtVerifier({ issuer: idp.issuer, audience: RESOURCE }),
      },
    }),
    scopes: {
      base: [BASE_SCOPE],
      implies: { 'notes:admin': ['notes:write'], 'notes:write': ['notes:read'] },
    },
  })

  const mcpServer = (runs: ToolRuns) => () => {
    const server = new McpServer({ name: 'hardening', version: '1.0.0' })
    const ran = (name: string) => {
      runs.set(name, (runs.get(name) ?? 0) + 1)
      return { content: [{ type: 'text' as const, text: name }] }
    }
    withScopes(server).registerTool('ping', {}, async () => ran('ping'))
    withScopes(server, 'notes:read').registerTool('read_notes', {}, async () => ran('read_notes'))
    withScopes(server, 'notes:write').registerTool('write_note', {}, async () => ran('write_note'))
    withScopes(server, 'reports:read').registerTool('export_reports', {}, async () => ran('export_reports'))
    withScopes(server, 'notes:admin').registerTool('purge_notes', {}, async () => ran('purge_notes'))
    return server
  }

  return {
    forge: {
      resource: RESOURCE,
      otherResource: OTHER_RESOURCE,
      issuers,
      attackerUrl,
      keys,
      idp,
    },
    keyServer,
    attacker,
    idp,
    gateOptions,
    mcpServer,
    close: async () => {
      await Promise.all([keyServer.close(), attacker.close(), idp.close()])
    },
  }
}
