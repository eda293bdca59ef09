import type { Gate } from '@portcullis/core'
import type { FastifyInstance } from 'fastify'

/**
 * Serves the RFC 9728 metadata document of `gate` at each of its well-known paths: GET and HEAD
 * answer 200, OPTIONS a CORS preflight, every other method 405 with `Allow` (the reply rules live
 * in `gate.metadataReply`). The routes are public (`public: true`): clients read them before they
 * have a token (RFC 9728 §3.1).
 */
export function registerMetadataRoutes(fastify: FastifyInstance, gate: Gate): void {
  for (const url of gate.metadataPaths) {
    fastify.route({
      method: fastify.supportedMethods,
      url,
      config: { public: true },
      handler: async (request, reply) => {
        const answer = gate.metadataReply(request.method)
        // A credentialed CORS answer cannot use `*`; the document needs no credentials anyway.
        reply.removeHeader('access-control-allow-credentials')
        reply.code(answer.status).headers(answer.headers)
        if (answer.body === undefined) return reply.send()
        return reply.send(answer.body)
      },
    })
  }
}
