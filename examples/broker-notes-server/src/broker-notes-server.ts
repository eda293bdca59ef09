import {
  type AuthorizationServer,
  type AuthorizationServerOptions,
  createAuthorizationServer,
} from '@portcullis/authorization-server'
import { authorizationServerPlugin } from '@portcullis/authorization-server/fastify'
import { createNotesServer } from '@portcullis/example-notes-server'
// The plugin's types: `app.gate`, which the notes server's portcullis plugin decorates.
import type {} from '@portcullis/fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'

/** The notes scopes, and which upstream roles grant them (the dev IdP's users have these roles). */
export const NOTES_SCOPE_LIST = ['notes:read', 'notes:write', 'notes:admin']
export const NOTES_ROLES: Record<string, string[]> = {
  'notes-reader': ['notes:read'],
  'notes-editor': ['notes:read', 'notes:write'],
  'notes-admin': ['notes:read', 'notes:write', 'notes:admin'],
}

export interface BrokerNotesServerConfig
  extends Omit<AuthorizationServerOptions, 'issuer' | 'resources' | 'roles'> {
  /** The server's public origin: the issuer, and `<origin>/mcp` the MCP endpoint. */
  origin: string
  /** Roles → scopes. Default `NOTES_ROLES`, read from the `roles` and `groups` claims. */
  roles?: AuthorizationServerOptions['roles']
  /** Which MCP SDK line serves the endpoint. Default `v2`. */
  sdk?: 'v1' | 'v2'
  fastify?: FastifyServerOptions
}

/**
 * The notes MCP server on Fastify with its authorization server in the same app: the broker is
 * the only authorization server in the resource metadata, MCP clients register with it (DCR or
 * CIMD), users sign in at the upstream IdP, and the notes endpoint verifies the broker's tokens
 * with its keys in hand. `GET /health` answers readiness (200, or 503 while a part is down).
 */
export async function createBrokerNotesServer(
  config: BrokerNotesServerConfig,
): Promise<{ app: FastifyInstance; broker: AuthorizationServer }> {
  const { origin, sdk, fastify, roles, ...brokerOptions } = config
  const resource = `${origin.replace(/\/$/, '')}/mcp`
  const broker = await createAuthorizationServer({
    ...brokerOptions,
    issuer: origin,
    resources: [{ resource, scopes: NOTES_SCOPE_LIST, defaultScopes: ['notes:read'] }],
    ...(roles === undefined && brokerOptions.upstream.preset !== undefined
      ? {}
      : { roles: roles ?? { scopes: NOTES_ROLES } }),
  })
  const app = await createNotesServer({
    resource,
    issuer: broker.issuer,
    verifier: broker.jwtVerifier(resource),
    ...(sdk === undefined ? {} : { sdk }),
    ...(fastify === undefined ? {} : { fastify }),
  })
  await app.register(authorizationServerPlugin, { server: broker })
  // Readiness for a load balancer: the gate's parts (as last seen) and the broker's (upstream IdP,
  // signing keys, state store); 503 while any part is down.
  app.get('/health', { config: { public: true } }, async (_request, reply) => {
    const gate = app.gate.health()
    const authorizationServer = await broker.health()
    const ready = gate.ready && authorizationServer.ready
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ ready, gate, authorizationServer })
  })
  return { app, broker }
}
