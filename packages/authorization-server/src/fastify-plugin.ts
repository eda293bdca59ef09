import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { AuthorizationServer } from './authorization-server.js'

export interface AuthorizationServerPluginOptions {
  /** The broker from `createAuthorizationServer`. */
  server: AuthorizationServer
}

const METHODS = ['GET', 'POST', 'OPTIONS', 'DELETE', 'PUT'] as const

/**
 * Mounts the broker's endpoints into a Fastify app: each request to one of its paths is handed to
 * oidc-provider as Node's request and response (the body unread, `reply.hijack()`), so the MCP
 * server and its authorization server share one origin and one listener.
 *
 * @example
 * await app.register(authorizationServerPlugin, { server: broker })
 */
const plugin: FastifyPluginAsync<AuthorizationServerPluginOptions> = async (
  app: FastifyInstance,
  options,
) => {
  const { server } = options
  await app.register(async (scope) => {
    // oidc-provider reads bodies itself: leave the stream untouched.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
    scope.addHook('onRequest', async (request, reply) => {
      const path = request.url.split('?', 1)[0]!
      if (!server.handles(path)) return
      reply.hijack()
      await server.handle(request.raw, reply.raw)
    })
    // Routes exist so Fastify does not answer 404 first; the hook above always answers.
    for (const url of server.routes)
      scope.route({ method: [...METHODS], url, config: { public: true }, handler: async () => {} })
  })
}

export const authorizationServerPlugin = fp(plugin, {
  name: '@portcullis/authorization-server',
  fastify: '5.x',
})
