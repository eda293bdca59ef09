import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  AttemptWindows,
  type AuthInfo,
  clientAddressKey,
  type JwtVerifier,
  jwtVerifier,
  type StaticKey,
} from '@portcullis/core'
import { dropRegisteredScope } from '@portcullis/provider-support'
import type { JWK } from 'jose'
import { allowedScopes } from './allowed-scopes.js'
import { type AuthorizationServerHealth, healthCheck } from './health.js'
import { handleInteraction, type InteractionContext } from './interactions.js'
import { loadBrokerSecrets } from './key-store.js'
import { memoryAdapter } from './memory-adapter.js'
import { type AuthorizationServerOptions, resolveOptions } from './options.js'
import { MODELS, providerConfiguration, ROUTES } from './provider-configuration.js'
import type { ProviderInstance } from './provider-types.js'
import { prepareAuthorizationRequest } from './request-preparation.js'
import { TokenVault } from './token-vault.js'
import { handleUpstreamCallback } from './upstream-callback.js'
import { UpstreamClient } from './upstream-client.js'
import { type UpstreamTokens, upstreamTokens } from './upstream-tokens.js'

/** A running broker: an oidc-provider towards MCP clients, one confidential client upstream. */
export interface AuthorizationServer {
  /** The issuer identifier (the origin), as in its metadata and tokens. */
  readonly issuer: string
  /** RFC 8414 metadata URL. */
  readonly metadataUrl: string
  /** The upstream redirect URI to register at the IdP. */
  readonly upstreamRedirectUri: string
  /** The underlying oidc-provider, for what this API does not cover. */
  readonly provider: ProviderInstance
  /** The paths it serves, Fastify-style (`/interaction/*`), for mounting. */
  readonly routes: readonly string[]
  /** True when `path` (without query) is served by the broker. */
  handles(path: string): boolean
  /** Serves one request (Node's http types); answers 404 for paths it does not handle. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>
  /**
   * A verifier of this broker's access tokens for `resource`, with its public keys in hand: no
   * network call, for an MCP server in the same process.
   */
  jwtVerifier(resource: string): JwtVerifier
  /** The caller's upstream tokens, refreshed on demand; never sent to MCP clients. */
  upstream(caller: AuthInfo | string): UpstreamTokens
  /**
   * Readiness: the upstream IdP answering, signing keys loaded, the state store answering. Makes
   * one upstream request and one store round trip at most every 5 s, however often it is called.
   */
  health(): Promise<AuthorizationServerHealth>
}

/**
 * Creates the MCP-facing authorization server: it reads the upstream IdP's discovery document,
 * loads (or creates) its keys and builds the oidc-provider. Throws a TypeError naming the option
 * when options are wrong.
 *
 * @example
 * const broker = await createAuthorizationServer({
 *   issuer: 'https://mcp.example.com',
 *   resources: [{ resource: 'https://mcp.example.com/mcp', scopes: ['notes:read', 'notes:write'] }],
 *   upstream: { issuer: 'https://id.example.com', clientId: 'mcp-broker', clientSecret: process.env.SECRET! },
 *   roles: { scopes: { reader: ['notes:read'], editor: ['notes:read', 'notes:write'] } },
 * })
 */
export async function createAuthorizationServer(
  input: AuthorizationServerOptions,
): Promise<AuthorizationServer> {
  const options = resolveOptions(input)
  const secrets = await loadBrokerSecrets(options.keysFile, options.keyRotation)
  const adapter = options.adapter ?? memoryAdapter()
  const issuer = options.issuer
  const redirectUri = `${issuer}${options.upstreamCallbackPath}`
  const upstream = await UpstreamClient.discover(options.upstream, redirectUri)
  const { default: ProviderClass, errors } = await import('oidc-provider')
  const provider = new ProviderClass(issuer, providerConfiguration({ options, secrets, adapter, errors }))
  // Behind a TLS-terminating proxy the public origin is https while the socket is not.
  provider.proxy = true
  const vault = new TokenVault(adapter(MODELS.upstreamTokens), secrets.vaultKey)
  const callback = provider.callback()
  const log = (message: string) => console.warn(`authorization-server: ${message}`)
  const registrations = new AttemptWindows({ maxAttempts: options.registration.perMinute, window: 60 })

  const interactionContext: InteractionContext = {
    provider,
    upstream,
    adapter,
    csrfKey: secrets.cookieKeys[0]!,
    callbackPath: options.upstreamCallbackPath,
    secureCookies: issuer.startsWith('https:'),
    consentTtl: options.refreshTokenTtl,
  }
  const callbackContext = {
    ...interactionContext,
    allowedScopes: allowedScopes(options),
    vault,
    accountTtl: options.refreshTokenTtl,
    log,
  }
  const tokens = upstreamTokens({ vault, upstream, ttl: options.refreshTokenTtl })
  const health = healthCheck({
    upstream,
    upstreamIssuer: options.upstream.issuer,
    adapter,
    adapterName: options.adapter === undefined ? 'memory' : 'configured adapter',
    secrets,
    keysFile: options.keysFile,
    rotateAfterDays: options.keyRotation.rotateAfterDays,
  })

  // Revoking a grant here revokes the user's upstream tokens too, where the IdP can (RFC 7009).
  provider.on('grant.revoked', (ctx) => {
    const entities = ctx.oidc?.entities
    const accountId = entities?.RefreshToken?.accountId ?? entities?.AccessToken?.accountId
    if (accountId !== undefined)
      tokens.revoke(accountId).catch((error: Error) => log(`upstream revocation failed: ${error.message}`))
  })

  const paths = new Set<string>([
    ...Object.values(ROUTES),
    '/.well-known/oauth-authorization-server',
    '/.well-known/openid-configuration',
    options.upstreamCallbackPath,
  ])
  const handles = (path: string) =>
    paths.has(path) ||
    path.startsWith('/interaction/') ||
    path.startsWith(`${ROUTES.authorization}/`) ||
    path.startsWith(`${ROUTES.registration}/`)
  const interactionPath = /^\/interaction\//

  const dispatch = async (req: IncomingMessage, res: ServerResponse) => {
    const rawUrl = req.url ?? '/'
    const queryAt = rawUrl.indexOf('?')
    const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt)
    const query = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1)
    if (!handles(path))
      return sendJson(res, 404, { error: 'not_found', error_description: 'no such endpoint' })
    if (path === options.upstreamCallbackPath) return handleUpstreamCallback(callbackContext, req, res, query)
    if (interactionPath.test(path)) {
      if (await handleInteraction(interactionContext, req, res, path)) return
      return sendJson(res, 404, { error: 'not_found', error_description: 'no such endpoint' })
    }
    if (path === ROUTES.registration || path.startsWith(`${ROUTES.registration}/`)) {
      // Browser clients (MCP Inspector) register from their page. No cookie is involved, so any
      // origin may read the answer: CORS protects ambient credentials, and there are none here.
      res.setHeader('Access-Control-Allow-Origin', '*')
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE',
          'Access-Control-Allow-Headers': 'authorization, content-type',
          'Access-Control-Max-Age': '3600',
        })
        return res.end()
      }
    }
    if (path === ROUTES.registration && req.method === 'POST') {
      const address = clientAddressKey(req.socket.remoteAddress ?? 'unknown')
      const wait = registrations.retryAfter(address)
      if (wait > 0) {
        res.setHeader('Retry-After', String(wait))
        return sendJson(res, 429, {
          error: 'temporarily_unavailable',
          error_description: 'too many client registrations from this address; try again later',
        })
      }
      registrations.recordFailure(address)
      if (!(await dropRegisteredScope(req))) {
        return sendJson(res, 413, {
          error: 'invalid_request',
          error_description: 'registration request too large',
        })
      }
    }
    if (path === ROUTES.authorization && req.method === 'GET') prepareAuthorizationRequest(req, options)
    await callback(req, res)
  }

  return {
    issuer,
    metadataUrl: `${issuer}/.well-known/oauth-authorization-server`,
    upstreamRedirectUri: redirectUri,
    provider,
    handles,
    routes: [...paths, '/interaction/*', `${ROUTES.authorization}/*`, `${ROUTES.registration}/*`],
    async handle(req, res) {
      try {
        await dispatch(req, res)
      } catch (error) {
        log(`request failed: ${(error as Error).message}`)
        if (!res.headersSent)
          sendJson(res, 500, { error: 'server_error', error_description: 'internal error' })
        else res.destroy()
      }
    },
    jwtVerifier(resource) {
      const keys = secrets.signingKeys.map(({ jwk }) => publicJwk(jwk))
      return jwtVerifier({ issuer, audience: resource, keys: keys as StaticKey[], typ: 'strict' })
    },
    upstream(caller) {
      const accountId = typeof caller === 'string' ? caller : caller.extra?.sub
      if (typeof accountId !== 'string' || accountId === '')
        throw new Error('the caller names no subject (sub)')
      return tokens.forAccount(accountId)
    },
    health,
  }
}

function publicJwk(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk
  return rest
}

function sendJson(res: ServerResponse, status: number, body: Record<string, string>): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}
