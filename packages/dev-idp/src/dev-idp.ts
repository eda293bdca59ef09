import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { parseOptions } from '@portcullis/core/adapter'
import { dropRegisteredScope } from '@portcullis/provider-support'
import type Provider from 'oidc-provider'
import { applyAuthorizationDefaults } from './authorization-defaults.js'
import {
  type ClientAuthentication,
  completeAuthorization,
  createPkce,
  OAuthResponseError,
  requestToken,
  type TokenResponse,
} from './authorization-flow.js'
import { registrationCors } from './cors.js'
import { describeRefusals } from './error-descriptions.js'
import { closeServer, listen, notFound, sendJson } from './http-server.js'
import { idpShapeProfile } from './idp-shapes.js'
import { handleInteraction } from './interaction.js'
import { loadKeyFile } from './key-file.js'
import {
  type DevIdpOptions,
  type DevIdpResourceOptions,
  type DevIdpShape,
  type ResolvedResource,
  resolveOptions,
  resolveResource,
  resourceSchema,
} from './options.js'
import { providerConfiguration, SECRET_NAMES, staticClients } from './provider-configuration.js'
import { withoutExpectedNotices } from './quiet-notices.js'
import { ResourceRegistry } from './resource-registry.js'
import { roleScopes } from './role-scopes.js'
import type { StaticClients } from './static-clients.js'

/** Endpoint URLs of a running dev IdP, as its metadata advertises them. */
export interface DevIdpEndpoints {
  authorization: string
  token: string
  jwks: string
  userinfo: string
  /** Undefined with `registration: false`. */
  registration: string | undefined
  revocation: string
  /** Absent for the auth0 shape (Auth0 has no RFC 7662 endpoint). */
  introspection: string | undefined
}

/** What `userToken` asks for. */
export interface UserTokenRequest {
  /** User name, sent as `login_hint`. Default: the dev IdP's default user. */
  user?: string
  /** Resource indicator. Default: the first JWT resource. */
  resource?: string
  /** Space-separated scopes. Default: every scope of the resource. */
  scope?: string
}

/** What `machineToken` asks for. */
export interface MachineTokenRequest {
  /** Resource indicator. Default: the first JWT resource. Pass `null` for a token without audience. */
  resource?: string | null
  /** Space-separated scopes. Default: every scope of the resource. */
  scope?: string
}

/** A running dev IdP. */
/** What `DevIdp.provider` is typed as: a part of oidc-provider's `Provider`. */
export interface OidcProviderInstance {
  readonly issuer: string
  urlFor(name: string, options?: Record<string, unknown>): string
  /** Adds Koa middleware (`ctx` is Koa's context with oidc-provider's `ctx.oidc`), also after start. */
  use(middleware: (ctx: any, next: () => Promise<unknown>) => unknown): unknown
  /** oidc-provider's events (the provider is an EventEmitter), e.g. `grant.success`, `grant.error`. */
  on(event: string, listener: (...args: any[]) => void): unknown
}

export interface DevIdp {
  /** The issuer identifier, exactly as tokens and metadata carry it (the PRM `authorization_servers` entry). */
  readonly issuer: string
  /** Origin the IdP listens on, e.g. `http://127.0.0.1:40123`. */
  readonly url: string
  readonly port: number
  readonly shape: DevIdpShape
  /** OIDC discovery document (issuer + `/.well-known/openid-configuration`). */
  readonly discoveryUrl: string
  /** RFC 8414 metadata URL (path-inserted when the issuer has a path); undefined when not served. */
  readonly metadataUrl: string | undefined
  readonly endpoints: DevIdpEndpoints
  readonly clients: StaticClients
  /** Resources tokens can be issued for (a snapshot, including ones added later). */
  readonly resources: ResolvedResource[]
  /** User signed in when a request has no `login_hint`. */
  readonly defaultUser: string
  /** Names of the configured users (any other name can sign in too, without roles). */
  readonly users: string[]
  /** Role → the scopes it lets a user obtain. */
  readonly roles: Readonly<Record<string, readonly string[]>>
  /** Of a resource's scopes (default: the default resource), those `user` may be granted. */
  allowedScopes(user: string, resource?: string): string[]
  /** The roles of a configured user (none for any other name). */
  userRoles(user: string): string[]
  /** Whether dynamic registration and Client ID Metadata Documents are offered. */
  readonly registration: boolean
  /** Whether Client ID Metadata Documents (an https URL as `client_id`) are accepted. */
  readonly clientIdMetadataDocuments: boolean
  /**
   * The underlying oidc-provider instance, for what this API does not cover: cast it to
   * oidc-provider's `Provider` (types from `@types/oidc-provider`). The declarations name only what
   * they need, so that they import nothing from oidc-provider: its types pull in `@types/koa`, which
   * does not compile against `content-disposition` 2 with `skipLibCheck: false`.
   * Middleware added with `provider.use()` runs for every request the provider answers, also when
   * added after start; the dev IdP's own pages (sign-in and consent, under `/interaction/`) are
   * answered before it.
   */
  readonly provider: OidcProviderInstance
  /** Adds a resource while running (e.g. an MCP server started after the IdP on a free port). */
  addResource(resource: DevIdpResourceOptions): ResolvedResource
  /** Runs the authorization-code flow with PKCE as the public client and returns the token response. */
  userToken(request?: UserTokenRequest): Promise<TokenResponse>
  /** Runs the client-credentials grant as the machine client and returns the token response. */
  machineToken(request?: MachineTokenRequest): Promise<TokenResponse>
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

/**
 * Starts an OAuth 2.1 authorization server for development and tests on a loopback port: RFC 8414
 * and OIDC discovery, PKCE S256, RFC 8707 resource indicators with JWT (RFC 9068) or opaque
 * tokens, RFC 9207 `iss`, open dynamic registration, refresh tokens, client credentials,
 * introspection and revocation. By default sign-in needs no page: the user is the request's
 * `login_hint`, or the default user.
 *
 * @example
 * const idp = await startDevIdp({ resources: [{ resource: 'http://127.0.0.1:3000/mcp' }] })
 * const { access_token } = await idp.userToken({ user: 'bob', scope: 'notes:read' })
 * await idp.close()
 */
export async function startDevIdp(input: DevIdpOptions = {}): Promise<DevIdp> {
  const options = resolveOptions(input)
  const profile = idpShapeProfile(options)
  const secrets = await loadKeyFile(options.keysFile, SECRET_NAMES)
  const clients = staticClients(options, secrets)
  const resources = new ResourceRegistry(options.resources)
  const roles = roleScopes(options.users, options.roles)
  const mountPath = profile.issuerPath.replace(/\/$/, '')

  let dispatch: (req: IncomingMessage, res: ServerResponse) => Promise<void> = async (_req, res) => {
    sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'the dev IdP is starting' })
  }
  const server = createServer((req, res) => {
    dispatch(req, res).catch((error: unknown) => {
      console.error(`dev-idp: ${(error as Error).message}`)
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'internal error' })
      else res.destroy()
    })
  })
  const port = await listen(server, options.port, options.host)
  const origin = `http://${options.host === '::1' ? '[::1]' : options.host}:${port}`
  const issuer = `${origin}${profile.issuerPath}`

  const build = async () => {
    const { default: ProviderClass, errors } = await import('oidc-provider')
    const configuration = providerConfiguration({
      options,
      profile,
      issuer,
      mountPath,
      keys: secrets.keys,
      clients,
      resources,
      errors,
    })
    const provider = new ProviderClass(issuer, options.configureProvider?.(configuration) ?? configuration)
    provider.use(describeRefusals)
    provider.use(async (ctx, next) => {
      await next()
      // RFC 8414 §2: the resources' scopes too, not only the OIDC ones the provider knows.
      if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
        const body = ctx.body as { scopes_supported?: string[] }
        const all = [...(body.scopes_supported ?? []), ...resources.list().flatMap((r) => r.scopes)]
        body.scopes_supported = [...new Set(all)]
      }
    })
    return provider
  }
  let provider: Provider
  try {
    provider = options.quiet ? await withoutExpectedNotices(build) : await build()
  } catch (error) {
    await closeServer(server)
    throw error
  }
  // Koa composes middleware when callback() is called: compose again after a provider.use().
  let composed = -1
  let handler = provider.callback()
  const callback = (req: IncomingMessage, res: ServerResponse) => {
    if (provider.middleware.length !== composed) {
      composed = provider.middleware.length
      handler = provider.callback()
    }
    return handler(req, res)
  }
  const routes = profile.routes
  const interactionSettings = {
    provider,
    mountPath,
    login: options.login,
    defaultUser: options.defaultUser,
    knownUsers: Object.keys(options.users),
    roleScopes: roles,
    resourceScopes: (indicator: string) => resources.find(indicator)?.scopes ?? [],
  }
  const oauthMetadataPath = '/.well-known/oauth-authorization-server'
  const pathInserted = options.pathInsertedMetadata ?? true

  dispatch = async (req, res) => {
    const rawUrl = req.url ?? '/'
    if (!rawUrl.startsWith('/'))
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'bad URL' })
    const queryAt = rawUrl.indexOf('?')
    const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt)
    const query = queryAt === -1 ? '' : rawUrl.slice(queryAt)
    const request = req as IncomingMessage & { originalUrl?: string }

    if (
      path.startsWith(oauthMetadataPath) &&
      mountPath !== '' &&
      path === `${oauthMetadataPath}${mountPath}`
    ) {
      // RFC 8414 §3.1: metadata of an issuer with a path lives at the path-inserted URL.
      if (!options.oauthMetadata || !pathInserted) return notFound(res)
      request.originalUrl = `${mountPath}${oauthMetadataPath}${query}`
      request.url = `${oauthMetadataPath}${query}`
      return callback(req, res)
    }
    if (mountPath !== '') {
      if (path !== mountPath && !path.startsWith(`${mountPath}/`)) return notFound(res)
      request.originalUrl = rawUrl
      request.url = rawUrl.slice(mountPath.length) || '/'
    }
    const inner = path.slice(mountPath.length) || '/'
    if (!options.oauthMetadata && inner === oauthMetadataPath) return notFound(res)
    if (inner === routes.registration || inner.startsWith(`${routes.registration}/`)) {
      if (!options.registration) return notFound(res)
      if (registrationCors(req, res, options.corsOrigins)) return
      if (inner === routes.registration && !(await dropRegisteredScope(req))) {
        return sendJson(res, 400, {
          error: 'invalid_request',
          error_description: 'registration request too large',
        })
      }
    }
    if (
      (inner === routes.authorization || inner === routes.pushed_authorization_request) &&
      (await applyAuthorizationDefaults(req, resources)) === 'too-large'
    ) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'request too large' })
    }
    if (await handleInteraction(interactionSettings, req, res, inner)) return
    await callback(req, res)
  }

  const endpoints: DevIdpEndpoints = {
    authorization: provider.urlFor('authorization'),
    token: provider.urlFor('token'),
    jwks: provider.urlFor('jwks'),
    userinfo: provider.urlFor('userinfo'),
    registration: options.registration ? provider.urlFor('registration') : undefined,
    revocation: provider.urlFor('revocation'),
    introspection: profile.introspection ? provider.urlFor('introspection') : undefined,
  }
  const issuerBase = issuer.replace(/\/$/, '')
  const metadataUrl = !options.oauthMetadata
    ? undefined
    : mountPath !== '' && !pathInserted
      ? `${issuerBase}${oauthMetadataPath}`
      : `${origin}${oauthMetadataPath}${mountPath}`

  /** The resource and scopes a token helper asks for: as given, else the first JWT resource and all its scopes. */
  const target = (resource: string | undefined, scope: string | undefined) => {
    if (resource !== undefined)
      return { resource, scope: scope ?? resources.find(resource)?.scopes.join(' ') }
    const entry = resources.defaultResource()
    if (!entry) throw new Error('dev-idp: no resource is configured')
    return { resource: entry.resource, scope: scope ?? entry.scopes.join(' ') }
  }

  return {
    issuer,
    url: origin,
    port,
    shape: options.shape,
    discoveryUrl: `${issuerBase}/.well-known/openid-configuration`,
    metadataUrl,
    endpoints,
    clients,
    get resources() {
      return resources.list()
    },
    defaultUser: options.defaultUser,
    users: Object.keys(options.users),
    roles: options.roles,
    allowedScopes(user, resource) {
      const entry = resource === undefined ? resources.defaultResource() : resources.find(resource)
      return roles.allowed(user, entry?.scopes ?? [])
    },
    userRoles: (user) => [...((Object.hasOwn(options.users, user) && options.users[user]?.roles) || [])],
    registration: options.registration,
    clientIdMetadataDocuments: options.cimd !== undefined,
    provider,
    addResource(entry) {
      const parsed = parseOptions(resourceSchema, entry, 'addResource')
      const resolved = resolveResource(parsed, options.accessTokenTtl)
      resources.add(resolved)
      return resolved
    },
    async userToken(request = {}) {
      if (options.login !== 'auto') throw new Error("dev-idp: userToken needs the option login: 'auto'")
      const { resource, scope } = target(request.resource, request.scope)
      const pkce = createPkce()
      const state = randomBytes(16).toString('base64url')
      const redirectUri = clients.public.redirect_uris[0]!
      const url = new URL(endpoints.authorization)
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: clients.public.client_id,
        redirect_uri: redirectUri,
        ...(scope === undefined ? {} : { scope }),
        resource,
        state,
        code_challenge: pkce.challenge,
        code_challenge_method: pkce.method,
        login_hint: request.user ?? options.defaultUser,
      }).toString()
      const response = await completeAuthorization(url, { redirectUri })
      // RFC 6749 §4.1.2.1: the error comes back on the redirect; reject like the token helpers do.
      if (response.error !== undefined || response.code === undefined) {
        throw new OAuthResponseError(
          undefined,
          response.error ?? 'invalid_response',
          response.errorDescription ??
            (response.error === undefined ? 'no code in the authorization response' : undefined),
          'authorization',
        )
      }
      if (response.state !== state) throw new Error('dev-idp: authorization response state mismatch')
      const publicClient: ClientAuthentication = { client_id: clients.public.client_id }
      return requestToken(
        endpoints.token,
        {
          grant_type: 'authorization_code',
          code: response.code,
          redirect_uri: redirectUri,
          code_verifier: pkce.verifier,
          resource,
        },
        publicClient,
      )
    },
    async machineToken(request = {}) {
      const { resource, scope } =
        request.resource === null
          ? { resource: undefined, scope: request.scope }
          : target(request.resource, request.scope)
      return requestToken(
        endpoints.token,
        { grant_type: 'client_credentials', resource, scope },
        clients.machine,
      )
    },
    close: () => closeServer(server),
  }
}
