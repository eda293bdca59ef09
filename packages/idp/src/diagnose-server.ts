import {
  authorizationServerMetadataUrls,
  FetchFailure,
  fetchJson,
  IssuerMismatchError,
  importJwks,
} from '@portcullis/core'
import { show } from './advice.js'
import type { Add } from './diagnose.js'
import type { IdpDescription } from './preset.js'
import { oidcOnlyFix, pathAppendOnlyFix, registrationFix, registrationPolicyNote } from './setup-advice.js'

type Probe =
  | { url: string; ok: true; doc: Record<string, unknown> }
  | { url: string; ok: false; problem: string }

export async function checkAuthorizationServer(
  issuer: string,
  idp: IdpDescription,
  fetchOptions: { timeoutMs: number; maxBytes: number },
  add: Add,
): Promise<Record<string, unknown> | undefined> {
  if (!idp.issuers.includes(issuer) && !(idp.name === 'entra' && idp.version === 1)) {
    add(
      'error',
      'issuer_differs_from_authorization_server',
      `the metadata document lists ${issuer} as authorization server, but tokens are expected from ${idp.issuers.join(', ')}`,
      'List the issuer identifier itself in authorizationServers, exactly as tokens carry it in iss.',
    )
  }
  let urls: string[]
  try {
    urls = authorizationServerMetadataUrls(issuer)
  } catch (error) {
    add(
      'error',
      'authorization_server_invalid',
      (error as Error).message,
      'Give the issuer identifier as an https URL.',
    )
    return undefined
  }
  const probes = await Promise.all(urls.map((url) => probe(url, fetchOptions)))
  const mismatched: string[] = []
  const valid: Probe[] = []
  for (const p of probes) {
    if (!p.ok) continue
    const docIssuer = p.doc.issuer
    if (docIssuer === issuer) valid.push(p)
    else if (typeof docIssuer === 'string') {
      mismatched.push(
        `${p.url}: ${new IssuerMismatchError(p.url, issuer, docIssuer).message.replace(/^issuer mismatch: /, '')}`,
      )
    }
  }
  if (mismatched.length > 0) {
    // RFC 8414 §3.3; MCP 2026-07-28: clients MUST NOT use a document whose issuer differs.
    add(
      'error',
      'metadata_issuer_mismatch',
      `metadata names another issuer, so MCP clients will not use it: ${mismatched.join('; ')}`,
      issuerFix(idp, issuer),
    )
  }
  const first = valid[0]
  if (first === undefined || !first.ok) {
    if (mismatched.length === 0) {
      add(
        'error',
        'metadata_unreachable',
        `no authorization server metadata for ${issuer}; tried ${probes.map((p) => `${p.url} -> ${p.ok ? 'a document without an issuer' : p.problem}`).join('; ')}`,
        idp.name === 'keycloak'
          ? `Check url and realm: Keycloak serves ${issuer}/.well-known/openid-configuration.`
          : 'Check the issuer: its metadata must be served at one of these URLs (RFC 8414, OpenID Connect Discovery).',
      )
    }
    return undefined
  }
  const metadata = first.doc
  add('info', 'metadata_found', `metadata for ${issuer} found at ${first.url}`, 'Nothing to change.')
  const hasPath = urls.length === 3
  if (hasPath && first.url === urls[2]) {
    add(
      'warning',
      'metadata_path_append_only',
      `metadata for ${issuer} is served only at the OpenID Connect path-appending URL ${urls[2]}: MCP clients of 2025-11-25 and later find it, but 2025-06-18 clients look only at ${urls[0]} (RFC 8414) and fail`,
      pathAppendOnlyFix(idp, urls[0]!),
    )
  } else if (!hasPath && first.url === urls[1]) {
    add(
      'warning',
      'metadata_oidc_only',
      `metadata for ${issuer} is served only as OpenID Connect discovery: MCP clients of 2025-11-25 and later find it, but 2025-06-18 clients look only at ${urls[0]} (RFC 8414) and fail`,
      oidcOnlyFix(idp, urls[0]!),
    )
  }
  checkMetadataMembers(metadata, issuer, idp, add)
  return metadata
}

function checkMetadataMembers(
  metadata: Record<string, unknown>,
  issuer: string,
  idp: IdpDescription,
  add: Add,
) {
  const methods = metadata.code_challenge_methods_supported
  if (!Array.isArray(methods) || !methods.includes('S256')) {
    // MCP 2025-11-25 / 2026-07-28 (Authorization Code Protection): clients MUST refuse to proceed.
    add(
      'error',
      'pkce_s256_not_advertised',
      `the metadata of ${issuer} does not list S256 in code_challenge_methods_supported (${show(methods)}): MCP clients must refuse to start the authorization flow`,
      'Make the authorization server advertise code_challenge_methods_supported: ["S256"] (a server that supports PKCE but omits the member still stops MCP clients).',
    )
  }
  const registration = typeof metadata.registration_endpoint === 'string'
  const cimd = metadata.client_id_metadata_document_supported === true
  if (!registration && !cimd) {
    add(
      'warning',
      'client_registration_unavailable',
      `the metadata of ${issuer} offers neither registration_endpoint nor client_id_metadata_document_supported: MCP clients cannot register themselves and need a pre-registered client id`,
      registrationFix(idp),
    )
  } else if (registration) {
    const note = registrationPolicyNote(idp)
    if (note !== undefined) add('info', 'client_registration_policies', note.message, note.fix)
  }
  if (typeof metadata.jwks_uri !== 'string') {
    add(
      'error',
      'jwks_uri_missing',
      `the metadata of ${issuer} has no jwks_uri`,
      'JWT access tokens need published keys (RFC 9068 §4): give jwksUri or keys to the preset.',
    )
    // Entra: one key set per tenant is read, so one metadata document cannot be compared with it.
  } else if (idp.jwksUri !== undefined && metadata.jwks_uri !== idp.jwksUri && idp.name !== 'entra') {
    add(
      'warning',
      'jwks_uri_differs',
      `keys are read from ${idp.jwksUri}, but the metadata of ${issuer} names ${metadata.jwks_uri}`,
      'Use the jwks_uri of the metadata, unless a proxy in between serves the same keys.',
    )
  }
  if (idp.introspection !== undefined) {
    const endpoint = metadata.introspection_endpoint
    if (typeof endpoint !== 'string') {
      add(
        'error',
        'introspection_endpoint_missing',
        `the metadata of ${issuer} has no introspection_endpoint`,
        'Turn introspection off, or give its endpoint.',
      )
    } else if (endpoint !== idp.introspection.endpoint) {
      add(
        'warning',
        'introspection_endpoint_differs',
        `introspection goes to ${idp.introspection.endpoint}, but the metadata names ${endpoint}`,
        'Use the introspection_endpoint of the metadata.',
      )
    }
  }
  if (metadata.authorization_response_iss_parameter_supported !== true) {
    // MCP 2026-07-28 (SEP-2468): authorization servers SHOULD send iss; clients MUST validate it.
    add(
      'info',
      'iss_parameter_not_advertised',
      `the metadata of ${issuer} does not advertise authorization_response_iss_parameter_supported (RFC 9207)`,
      'Nothing blocks clients today; enable RFC 9207 iss in authorization responses if the IdP offers it.',
    )
  }
}

function issuerFix(idp: IdpDescription, issuer: string): string {
  switch (idp.name) {
    case 'keycloak':
      // idp-realities §1.1: Keycloak derives the issuer from its hostname setting.
      return `Keycloak builds its issuer from the hostname setting: set it so the issuer is ${issuer}, or give the preset the url Keycloak's hostname names.`
    case 'auth0':
      return 'Auth0 issuers end with "/" and follow the custom domain: give the preset the domain clients sign in through.'
    default:
      return `List the issuer exactly as the metadata spells it (a trailing slash matters, RFC 8414 §3.3), or fix the authorization server so its issuer is ${issuer}.`
  }
}

export async function checkJwks(
  jwksUri: string,
  idp: IdpDescription,
  fetchOptions: { timeoutMs: number; maxBytes: number },
  add: Add,
): Promise<void> {
  let document: unknown
  try {
    ;({ json: document } = await fetchJson(jwksUri, fetchOptions))
  } catch (error) {
    add(
      'error',
      'jwks_unreachable',
      `the key set at ${jwksUri} could not be read: ${describeFailure(error)}`,
      'Check that this host can reach the IdP and that the URL is the jwks_uri of its metadata.',
    )
    return
  }
  let imported: ReturnType<typeof importJwks>
  try {
    imported = importJwks(document)
  } catch (error) {
    add(
      'error',
      'jwks_invalid',
      `${jwksUri} is not a usable key set: ${(error as Error).message}`,
      'Point jwksUri at the JSON Web Key Set (RFC 7517 §5) of the issuer.',
    )
    return
  }
  const ignored = imported.ignored.map((k) => `${k.kid ?? '(no kid)'}: ${k.reason}`).join('; ')
  if (imported.keys.length === 0) {
    add(
      'error',
      'jwks_empty',
      `the key set at ${jwksUri} holds no usable signing key${ignored === '' ? '' : ` (${ignored})`}: every token will be refused`,
      idp.name === 'keycloak'
        ? 'Give the realm an active asymmetric signing key (Realm settings, Keys); HMAC keys are never published.'
        : 'Publish the public signing keys; symmetric and encryption keys are not used for access tokens.',
    )
    return
  }
  if (ignored !== '') {
    add(
      'info',
      'jwks_keys_ignored',
      `keys left out of ${jwksUri}: ${ignored}`,
      'Nothing to change unless tokens are signed with one of them.',
    )
  }
  const allowed = idp.algorithms
  if (allowed !== undefined && !imported.keys.some((key) => allowed.includes(key.alg))) {
    add(
      'error',
      'jwks_algorithms_not_allowed',
      `no key at ${jwksUri} is for an allowed algorithm (keys: ${[...new Set(imported.keys.map((k) => k.alg))].join(', ')}; allowed: ${allowed.join(', ')})`,
      'Allow the algorithm the IdP signs with (algorithms), or change the signing key in the IdP.',
    )
  }
}

async function probe(url: string, fetchOptions: { timeoutMs: number; maxBytes: number }): Promise<Probe> {
  try {
    const { json } = await fetchJson(url, fetchOptions)
    return { url, ok: true, doc: json as Record<string, unknown> }
  } catch (error) {
    return { url, ok: false, problem: describeFailure(error) }
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof FetchFailure) {
    return error.kind === 'http_status' ? `HTTP ${error.status}` : `${error.kind} (${error.message})`
  }
  return error instanceof Error ? error.message : String(error)
}
