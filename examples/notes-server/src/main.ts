import { pathToFileURL } from 'node:url'
import { portcullisLogRedaction, portcullisRequestSerializer } from '@portcullis/core'
import { withLegacyEnv } from './legacy-env.js'
import { createNotesServer, type NotesServerConfig } from './notes-server.js'

/** Where the server listens, plus the notes server's configuration. */
export interface ListenConfig extends NotesServerConfig {
  port: number
  host: string
}

/**
 * Reads the configuration from the environment (see the README): PORT (3000), HOST (127.0.0.1),
 * PORTCULLIS_RESOURCE (http://127.0.0.1:$PORT/mcp), PORTCULLIS_ISSUER (required),
 * PORTCULLIS_JWKS_URI, PORTCULLIS_INTROSPECTION_ENDPOINT, PORTCULLIS_CLIENT_ID,
 * PORTCULLIS_CLIENT_SECRET and PORTCULLIS_SDK (v1 | v2, default v2). The former GATEHOUSE_* names
 * still work for one release, with a deprecation warning.
 */
export function configFromEnv(given: NodeJS.ProcessEnv = process.env): ListenConfig {
  const env = withLegacyEnv(given)
  const port = Number(env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number (got ${env.PORT})`)
  const host = env.HOST ?? '127.0.0.1'
  const issuer = env.PORTCULLIS_ISSUER
  if (issuer === undefined || issuer === '') {
    throw new Error('PORTCULLIS_ISSUER is required: the issuer identifier of your authorization server')
  }
  const sdk = env.PORTCULLIS_SDK ?? 'v2'
  if (sdk !== 'v1' && sdk !== 'v2') throw new Error(`PORTCULLIS_SDK must be v1 or v2 (got ${sdk})`)
  const clientId = env.PORTCULLIS_CLIENT_ID
  const clientSecret = env.PORTCULLIS_CLIENT_SECRET
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    throw new Error(
      'Set both PORTCULLIS_CLIENT_ID and PORTCULLIS_CLIENT_SECRET to accept opaque tokens, or neither',
    )
  }
  const dpop = env.PORTCULLIS_DPOP
  if (dpop !== undefined && dpop !== 'off' && dpop !== 'allowed' && dpop !== 'required') {
    throw new Error(`PORTCULLIS_DPOP must be off, allowed or required (got ${dpop})`)
  }
  const endpoint = env.PORTCULLIS_INTROSPECTION_ENDPOINT
  if (endpoint !== undefined && clientId === undefined) {
    throw new Error(
      'PORTCULLIS_INTROSPECTION_ENDPOINT needs PORTCULLIS_CLIENT_ID and PORTCULLIS_CLIENT_SECRET',
    )
  }
  return {
    port,
    host,
    resource: env.PORTCULLIS_RESOURCE ?? `http://127.0.0.1:${port}/mcp`,
    issuer,
    ...(env.PORTCULLIS_JWKS_URI === undefined ? {} : { jwksUri: env.PORTCULLIS_JWKS_URI }),
    ...(clientId === undefined || clientSecret === undefined
      ? {}
      : { introspection: { clientId, clientSecret, ...(endpoint === undefined ? {} : { endpoint }) } }),
    sdk,
    ...(dpop === undefined ? {} : { dpop }),
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
        redact: portcullisLogRedaction,
        serializers: { req: (request) => ({ ...portcullisRequestSerializer(request) }) },
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
