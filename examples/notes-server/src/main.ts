import { pathToFileURL } from 'node:url'
import { gatehouseLogRedaction, gatehouseRequestSerializer } from '@gatehouse/fastify'
import { createNotesServer, type NotesServerConfig } from './notes-server.js'

/** Where the server listens, plus the notes server's configuration. */
export interface ListenConfig extends NotesServerConfig {
  port: number
  host: string
}

/**
 * Reads the configuration from the environment (see the README): PORT (3000), HOST (127.0.0.1),
 * GATEHOUSE_RESOURCE (http://127.0.0.1:$PORT/mcp), GATEHOUSE_ISSUER (required),
 * GATEHOUSE_JWKS_URI, GATEHOUSE_INTROSPECTION_ENDPOINT, GATEHOUSE_CLIENT_ID,
 * GATEHOUSE_CLIENT_SECRET and GATEHOUSE_SDK (v1 | v2, default v2).
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ListenConfig {
  const port = Number(env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number (got ${env.PORT})`)
  const host = env.HOST ?? '127.0.0.1'
  const issuer = env.GATEHOUSE_ISSUER
  if (issuer === undefined || issuer === '') {
    throw new Error('GATEHOUSE_ISSUER is required: the issuer identifier of your authorization server')
  }
  const sdk = env.GATEHOUSE_SDK ?? 'v2'
  if (sdk !== 'v1' && sdk !== 'v2') throw new Error(`GATEHOUSE_SDK must be v1 or v2 (got ${sdk})`)
  const clientId = env.GATEHOUSE_CLIENT_ID
  const clientSecret = env.GATEHOUSE_CLIENT_SECRET
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    throw new Error(
      'Set both GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET to accept opaque tokens, or neither',
    )
  }
  const endpoint = env.GATEHOUSE_INTROSPECTION_ENDPOINT
  if (endpoint !== undefined && clientId === undefined) {
    throw new Error('GATEHOUSE_INTROSPECTION_ENDPOINT needs GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET')
  }
  return {
    port,
    host,
    resource: env.GATEHOUSE_RESOURCE ?? `http://127.0.0.1:${port}/mcp`,
    issuer,
    ...(env.GATEHOUSE_JWKS_URI === undefined ? {} : { jwksUri: env.GATEHOUSE_JWKS_URI }),
    ...(clientId === undefined || clientSecret === undefined
      ? {}
      : { introspection: { clientId, clientSecret, ...(endpoint === undefined ? {} : { endpoint }) } }),
    sdk,
  }
}

/** Reads the environment, builds the notes server and listens. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = configFromEnv(env)
  const app = await createNotesServer({
    ...config,
    fastify: {
      logger: {
        level: 'info',
        redact: gatehouseLogRedaction,
        serializers: { req: (request) => ({ ...gatehouseRequestSerializer(request) }) },
      },
    },
  })
  await app.listen({ port: config.port, host: config.host })
  app.log.info(`notes MCP server (${config.sdk} SDK) at ${config.resource}, trusting ${config.issuer}`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.close().finally(() => process.exit(0))
    })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: Error) => {
    console.error(error.message)
    process.exit(1)
  })
}
