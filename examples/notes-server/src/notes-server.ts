import { hostHeaderValidation, originValidation } from '@modelcontextprotocol/fastify'
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node'
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpHandler, McpServer as McpServerV2 } from '@modelcontextprotocol/server'
import {
  type DpopSetting,
  introspectionVerifier,
  issuerRouter,
  jwtVerifier,
  type TokenVerifier,
} from '@portcullis/core'
import { isLoopbackHost } from '@portcullis/core/adapter'
import { mcpRoute, portcullis } from '@portcullis/fastify'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { NotesStore } from './notes-store.js'
import { NOTES_SCOPES, registerNotesTools } from './notes-tools.js'

export interface NotesServerConfig {
  /** The MCP endpoint's URL: the resource tokens must be issued for (`aud`), e.g. `http://127.0.0.1:3000/mcp`. */
  resource: string
  /** The authorization server's issuer identifier, exactly as in its metadata. */
  issuer: string
  /** JWKS URL for JWT access tokens; default: discovered from the issuer's metadata. */
  jwksUri?: string
  /** RFC 7662 introspection for opaque tokens (the endpoint is discovered when not given). */
  introspection?: { endpoint?: string; clientId: string; clientSecret: string }
  /** A verifier to use instead of one built from `issuer` (e.g. an authorization server's own, in the same process). */
  verifier?: TokenVerifier
  /** Which MCP SDK line serves the endpoint. Default `v2`. */
  sdk?: 'v1' | 'v2'
  /**
   * DPoP (RFC 9449) on the MCP endpoint: `'allowed'` accepts DPoP-bound tokens with a proof beside
   * Bearer tokens, `'required'` only those. Default `'off'`.
   */
  dpop?: DpopSetting
  /** Options for the Fastify instance (logger, serverFactory, ...). Default: no logger. */
  fastify?: FastifyServerOptions
}

export const SERVER_INFO = { name: 'portcullis-notes', version: '0.1.0' }

/**
 * The notes MCP server on Fastify, not yet listening: `whoami`, `list_notes`, `add_note` and
 * `clear_notes` behind OAuth 2.1 scopes, notes kept per caller.
 *
 * - `sdk: 'v1'`: `@modelcontextprotocol/sdk` 1.x, 2025-era sessions bound to the caller.
 * - `sdk: 'v2'`: `@modelcontextprotocol/server` 2.x, 2026-07-28 requests through `createMcpHandler`,
 *   2025-era clients in sessions bound to the caller.
 *
 * @example
 * const app = await createNotesServer({ resource: 'http://127.0.0.1:3000/mcp', issuer: 'http://127.0.0.1:4000' })
 * await app.listen({ port: 3000, host: '127.0.0.1' })
 */
export async function createNotesServer(config: NotesServerConfig): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ...config.fastify })
  const resourceUrl = new URL(config.resource)

  // DNS rebinding protection for a server on a loopback address: a browser page on another origin
  // must not reach it through a rebound host name. Runs before the gate, so such requests never
  // get near a token check.
  if (isLoopbackHost(resourceUrl.hostname)) {
    const hosts = ['localhost', '127.0.0.1', '[::1]', resourceUrl.hostname]
    app.addHook('onRequest', hostHeaderValidation(hosts))
    app.addHook('onRequest', originValidation(hosts))
  }

  await app.register(portcullis, {
    resource: config.resource,
    authorizationServers: [config.issuer],
    verifier: config.verifier ?? notesVerifier(config),
    scopes: NOTES_SCOPES,
    resourceName: 'Portcullis notes',
    ...(config.dpop === undefined ? {} : { dpop: config.dpop }),
  })

  const store = new NotesStore()
  if ((config.sdk ?? 'v2') === 'v1') {
    await app.register(mcpRoute, {
      server: () => {
        const server = new McpServerV1(SERVER_INFO)
        registerNotesTools(server, store)
        return server
      },
      transport: StreamableHTTPServerTransport,
    })
  } else {
    await app.register(mcpRoute, {
      server: () => {
        const server = new McpServerV2(SERVER_INFO)
        registerNotesTools(server, store)
        return server
      },
      // 2025-era clients (initialize, Mcp-Session-Id) get sessions; 2026-07-28 requests go to the SDK entry.
      transport: NodeStreamableHTTPServerTransport,
      handler: (factory) => toNodeHandler(createMcpHandler(factory)),
    })
  }
  return app
}

/** JWTs against the issuer's keys; with introspection credentials, opaque tokens too (routed by shape). */
export function notesVerifier(config: NotesServerConfig): TokenVerifier {
  const jwt = jwtVerifier({
    issuer: config.issuer,
    audience: config.resource,
    ...(config.jwksUri === undefined ? {} : { jwksUri: config.jwksUri }),
  })
  if (config.introspection === undefined) return jwt
  const opaque = introspectionVerifier({
    issuer: config.issuer,
    audience: config.resource,
    clientId: config.introspection.clientId,
    clientSecret: config.introspection.clientSecret,
    ...(config.introspection.endpoint === undefined ? {} : { endpoint: config.introspection.endpoint }),
  })
  return issuerRouter({ issuers: { [config.issuer]: jwt }, opaque })
}
