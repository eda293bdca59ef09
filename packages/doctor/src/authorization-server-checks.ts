import {
  type AuthorizationServerMetadata,
  discoverAuthorizationServer,
  IssuerMismatchError,
  importJwks,
  LruCache,
  PortcullisError,
} from '@portcullis/core'
import { Checklist, show } from './check.js'
import { allowsOrigin } from './cors-checks.js'
import { jsonObject, type ProbeLimits, probe } from './http.js'

/**
 * One authorization server as an MCP client meets it: metadata found by the MCP probe order with
 * the exact issuer (core's discovery), PKCE S256, a way to register, RFC 9207 `iss`, and a key set
 * that yields keys.
 */
export async function checkAuthorizationServer(
  issuer: string,
  resourceScopes: string[] | undefined,
  origin: string,
  limits: ProbeLimits,
): Promise<{ list: Checklist; metadata?: AuthorizationServerMetadata }> {
  const list = new Checklist('authorization-server')
  const at = (id: string) => `as.${id}`
  let metadata: AuthorizationServerMetadata
  let metadataUrl: string
  try {
    // A private cache: the doctor wants what the server says now, not a remembered answer.
    const found = await discoverAuthorizationServer(issuer, {
      cache: new LruCache({ maxEntries: 1 }),
      fetchTimeoutMs: limits.timeoutMs,
      maxBytes: limits.maxBytes,
    })
    metadata = found.metadata
    metadataUrl = found.metadataUrl
  } catch (error) {
    const causes =
      error instanceof PortcullisError && error.cause instanceof AggregateError ? error.cause.errors : []
    const mismatch = causes.find((e): e is IssuerMismatchError => e instanceof IssuerMismatchError)
    if (mismatch !== undefined) {
      list.fail(
        at('issuer'),
        `${mismatch.url}: ${mismatch.message}`,
        `Make the authorization server's issuer and the metadata's authorization_servers entry identical, byte for byte (RFC 8414 §3.3).`,
      )
    } else {
      list.fail(
        at('metadata'),
        `${issuer}: ${(error as Error).message}`,
        'Serve RFC 8414 or OpenID Connect discovery metadata where MCP clients look (RFC 8414 path insertion first), with https endpoints.',
      )
    }
    return { list }
  }
  list.pass(at('metadata'), `${issuer}: metadata at ${metadataUrl}, issuer exact`)

  const methods = metadata.code_challenge_methods_supported
  if (methods?.includes('S256')) {
    list.pass(at('pkce'), 'PKCE S256 supported')
  } else {
    list.fail(
      at('pkce'),
      `code_challenge_methods_supported is ${show(methods)}, without S256`,
      'Enable PKCE with S256 and advertise it: MCP clients must refuse an authorization server that does not list S256.',
    )
  }

  const cimd = metadata.client_id_metadata_document_supported === true
  const dcr = typeof metadata.registration_endpoint === 'string'
  if (cimd || dcr) {
    list.pass(
      at('registration'),
      [cimd ? 'client ID metadata documents' : '', dcr ? 'dynamic registration' : '']
        .filter(Boolean)
        .join(' and ') + ' available',
    )
  } else {
    list.warn(
      at('registration'),
      'neither client ID metadata documents nor dynamic client registration is advertised',
      'Enable CIMD (client_id_metadata_document_supported) or DCR (registration_endpoint), or hand every MCP client a pre-registered client id.',
    )
  }

  if (metadata.authorization_response_iss_parameter_supported === true) {
    list.pass(at('iss_parameter'), 'authorization responses carry iss (RFC 9207)')
  } else {
    list.warn(
      at('iss_parameter'),
      'authorization_response_iss_parameter_supported is not true',
      'Return iss in authorization responses and advertise it (RFC 9207): it protects clients that talk to several servers from mix-up attacks.',
    )
  }

  if (resourceScopes !== undefined && metadata.scopes_supported !== undefined) {
    // RFC 8414 §2: a server may leave scopes out of scopes_supported (resource-indicator scopes
    // often are), so an unlisted scope is worth a note, not a warning.
    const unlisted = resourceScopes.filter((s) => !metadata.scopes_supported?.includes(s))
    list.pass(
      at('scopes'),
      unlisted.length === 0
        ? 'every scope of the resource is listed by the authorization server'
        : `scopes not in its scopes_supported (allowed, RFC 8414 §2): ${unlisted.join(' ')}`,
    )
  }

  await checkKeySet(metadata, list, limits)

  const seen = await probe(metadataUrl, { headers: { origin, accept: 'application/json' } }, limits)
  if (seen.ok && allowsOrigin(seen.response, origin)) {
    list.pass(at('cors'), `a page at ${origin} can read the metadata`)
  } else {
    list.warn(
      at('cors'),
      `a page at ${origin} cannot read ${metadataUrl}`,
      'Allow CORS on the authorization server metadata (and token and registration endpoints) for browser-based MCP clients.',
    )
  }
  return { list, metadata }
}

async function checkKeySet(metadata: AuthorizationServerMetadata, list: Checklist, limits: ProbeLimits) {
  const jwksUri = metadata.jwks_uri
  if (jwksUri === undefined) {
    list.warn(
      'as.jwks',
      'no jwks_uri: JWT access tokens cannot be verified locally',
      'Fine for opaque tokens checked by introspection; for JWT access tokens publish jwks_uri.',
    )
    return
  }
  const result = await probe(jwksUri, { headers: { accept: 'application/json' } }, limits)
  const document = result.ok && result.response.status === 200 ? jsonObject(result.response) : undefined
  if (document === undefined) {
    list.fail(
      'as.jwks',
      `the key set at ${jwksUri} gives no JSON document (${result.ok ? `HTTP ${result.response.status}` : result.problem})`,
      'Make jwks_uri reachable from the resource server.',
    )
    return
  }
  try {
    const { keys, ignored } = importJwks(document)
    if (keys.length === 0)
      throw new TypeError(`no usable key (${ignored.map((i) => i.reason).join('; ') || 'empty set'})`)
    const note =
      ignored.length > 0 ? `; ${ignored.length} ignored (${ignored.map((i) => i.reason).join('; ')})` : ''
    list.pass('as.jwks', `${keys.length} usable signing key(s) at ${jwksUri}${note}`)
  } catch (error) {
    list.fail(
      'as.jwks',
      `the key set at ${jwksUri} is not usable: ${(error as Error).message}`,
      'Publish public signing keys (RSA, EC or OKP, "use": "sig" or none) in a JWK Set (RFC 7517 §5).',
    )
  }
}
