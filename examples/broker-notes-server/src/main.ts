import { pathToFileURL } from 'node:url'
import { portcullisLogRedaction, portcullisRequestSerializer } from '@portcullis/core'
import { oidc } from '@portcullis/idp'
import { redisAdapter, redisConnection } from '@portcullis/redis'
import { type BrokerNotesServerConfig, createBrokerNotesServer, NOTES_ROLES } from './broker-notes-server.js'

export interface BrokerListenConfig extends BrokerNotesServerConfig {
  port: number
  host: string
}

/**
 * Reads the configuration from the environment: PORT (3000), HOST (127.0.0.1),
 * PORTCULLIS_UPSTREAM_ISSUER, PORTCULLIS_UPSTREAM_CLIENT_ID, PORTCULLIS_UPSTREAM_CLIENT_SECRET
 * (required), PORTCULLIS_UPSTREAM_SCOPES (default `openid profile email`), PORTCULLIS_UPSTREAM_RESOURCE
 * (optional: ask the upstream for an access token for this resource and read its roles),
 * PORTCULLIS_KEYS_FILE (optional), PORTCULLIS_REDIS_URL (optional: state shared by several
 * instances, which then need the same keys file), PORTCULLIS_SDK (v1 | v2).
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): BrokerListenConfig {
  const port = Number(env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number (got ${env.PORT})`)
  const host = env.HOST ?? '127.0.0.1'
  const required = (name: string) => {
    const value = env[name]
    if (value === undefined || value === '') throw new Error(`${name} is required`)
    return value
  }
  const issuer = required('PORTCULLIS_UPSTREAM_ISSUER')
  const sdk = env.PORTCULLIS_SDK ?? 'v2'
  if (sdk !== 'v1' && sdk !== 'v2') throw new Error(`PORTCULLIS_SDK must be v1 or v2 (got ${sdk})`)
  const resource = env.PORTCULLIS_UPSTREAM_RESOURCE
  if (env.PORTCULLIS_REDIS_URL && !env.PORTCULLIS_KEYS_FILE) {
    throw new Error(
      'PORTCULLIS_REDIS_URL needs PORTCULLIS_KEYS_FILE: instances sharing state must share their keys (one file, or a copy of it)',
    )
  }
  const originHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return {
    port,
    host,
    origin: env.PORTCULLIS_ORIGIN ?? `http://${originHost}:${port}`,
    sdk,
    upstream: {
      issuer,
      clientId: required('PORTCULLIS_UPSTREAM_CLIENT_ID'),
      clientSecret: required('PORTCULLIS_UPSTREAM_CLIENT_SECRET'),
      scopes: (env.PORTCULLIS_UPSTREAM_SCOPES ?? 'openid profile email').split(' ').filter(Boolean),
      ...(resource === undefined
        ? {}
        : {
            authorizationParams: { resource },
            preset: oidc({ issuer, audience: resource, roles: NOTES_ROLES }),
          }),
    },
    ...(env.PORTCULLIS_KEYS_FILE === undefined ? {} : { keysFile: env.PORTCULLIS_KEYS_FILE }),
    ...(env.PORTCULLIS_REDIS_URL === undefined || env.PORTCULLIS_REDIS_URL === ''
      ? {}
      : { adapter: redisAdapter(redisConnection({ url: env.PORTCULLIS_REDIS_URL })) }),
  }
}

/** Reads the environment, builds the server and listens. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { port, host, ...config } = configFromEnv(env)
  const { app, broker } = await createBrokerNotesServer({
    ...config,
    fastify: {
      logger: {
        level: 'info',
        redact: portcullisLogRedaction,
        serializers: { req: (request) => ({ ...portcullisRequestSerializer(request) }) },
      },
    },
  })
  await app.listen({ port, host })
  app.log.info(
    `notes MCP server at ${broker.issuer}/mcp; its authorization server ${broker.issuer} signs users in at ${config.upstream.issuer} (redirect URI ${broker.upstreamRedirectUri})`,
  )
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.close().finally(() => process.exit(0))
    })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: Error) => {
    process.stderr.write(`broker-notes-server: ${error.message}\n`)
    process.exit(1)
  })
}
