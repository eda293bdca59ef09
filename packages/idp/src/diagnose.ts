import {
  type AuthInfo,
  authorizationServerMetadataUrls,
  canonicalResource,
  FetchFailure,
  fetchJson,
  IssuerMismatchError,
  importJwks,
  PortcullisError,
  readClaim,
} from '@portcullis/core'
import { z } from 'zod'
import { adviceFor, show } from './advice.js'
import { type OidcOptions, oidc } from './oidc.js'
import type { IdpDescription, IdpPreset } from './preset.js'
import {
  oidcOnlyFix,
  pathAppendOnlyFix,
  registrationFix,
  registrationPolicyNote,
  strippedTokenFix,
} from './setup-advice.js'

/** One thing `diagnose` found. `code` is stable; `message` says what, `fix` what to change and where. */
export interface Finding {
  severity: 'error' | 'warning' | 'info'
  code: string
  message: string
  fix: string
}

export interface DiagnoseOptions {
  /** The protected resource's URL, as given to the gate. */
  resource: string
  /** An access token to run through the preset's verifier. Never logged or echoed: only its claims are described. */
  sampleToken?: string
  /** Deadline per request, in ms. Default 5000. */
  fetchTimeoutMs?: number
  /** Largest document accepted, in bytes. Default 512 KiB. */
  maxBytes?: number
}

const optionsSchema = z.strictObject({
  resource: z.union([z.string(), z.instanceof(URL)]).transform(String),
  sampleToken: z.string().min(1).optional(),
  fetchTimeoutMs: z.number().int().positive().max(60_000).optional(),
  maxBytes: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024)
    .optional(),
})

type Probe =
  | { url: string; ok: true; doc: Record<string, unknown> }
  | { url: string; ok: false; problem: string }

/**
 * Checks a preset against the real IdP and says what will break and how to fix it, before a
 * client finds out: the resource URL; each authorization server's metadata at the URLs MCP clients
 * try (RFC 8414 path insertion, OIDC path insertion, OIDC path appending), its `issuer`, PKCE S256
 * and client registration; the JWKS; and, given a sample token, which check it fails and which
 * IdP setting produces the token expected. Never throws for what it finds; every request is
 * bounded in time and size. A plain `oidc()` configuration is accepted in place of a preset.
 *
 * @example
 * for (const f of await diagnose(preset, { resource: 'https://mcp.example.com/mcp' })) {
 *   console.log(`${f.severity} ${f.code}: ${f.message}. Fix: ${f.fix}`)
 * }
 */
export async function diagnose(
  target: IdpPreset | OidcOptions,
  options: DiagnoseOptions,
): Promise<Finding[]> {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new TypeError(`diagnose: option "${issue.path.map(String).join('.')}": ${issue.message}`)
  }
  const o = parsed.data
  const preset = 'verifier' in target ? target : oidc(target)
  const idp = preset.idp
  const fetchOptions = { timeoutMs: o.fetchTimeoutMs ?? 5000, maxBytes: o.maxBytes ?? 512 * 1024 }
  const findings: Finding[] = []
  const add = (severity: Finding['severity'], code: string, message: string, fix: string) =>
    findings.push({ severity, code, message, fix })

  const resource = checkResource(o.resource, idp, add)

  let jwksFromMetadata: string | undefined
  const results = await Promise.all(
    preset.authorizationServers.map((issuer) => checkAuthorizationServer(issuer, idp, fetchOptions, add)),
  )
  for (const metadata of results) {
    if (typeof metadata?.jwks_uri === 'string') jwksFromMetadata ??= metadata.jwks_uri
  }

  const jwksUri = idp.jwksUri ?? jwksFromMetadata
  if (jwksUri !== undefined) await checkJwks(jwksUri, idp, fetchOptions, add)

  if (o.sampleToken !== undefined) await checkSampleToken(o.sampleToken, preset, resource, add)
  return findings
}

type Add = (severity: Finding['severity'], code: string, message: string, fix: string) => void

function checkResource(resource: string, idp: IdpDescription, add: Add): string | undefined {
  let canonical: string
  try {
    canonical = canonicalResource(resource)
  } catch (error) {
    add(
      'error',
      'resource_invalid',
      (error as Error).message,
      'Give the resource as an absolute https URL without fragment or credentials.',
    )
    return undefined
  }
  if (new URL(canonical).pathname === '/') {
    // idp-realities §5.2: clients and IdPs disagree on the trailing slash of an origin-only URL.
    add(
      'warning',
      'resource_origin_only',
      `the resource ${canonical} has no path: some clients send it with a trailing slash, and IdPs that match resources exactly then refuse it or issue the wrong audience`,
      'Serve the MCP endpoint under a path (e.g. /mcp) and use that URL as the resource.',
    )
  }
  const { type, values } = idp.audienceStrategy
  if (type !== 'aud') {
    add(
      'info',
      'audience_by_client',
      `tokens are bound to clients (${type} in ${values.join(', ')}), not to the resource URL`,
      idp.name === 'cognito'
        ? 'Cognito access tokens are bound by client_id and carry an aud only when resource-bound (resource indicators): keep clientIds to the app clients of this server only.'
        : `Keep ${type} values to the clients of this server only.`,
    )
    return canonical
  }
  const matching = values.filter((value) => sameResource(value, canonical))
  if (matching.length === 0) {
    if (idp.name === 'auth0') {
      // idp-realities §2: the PRM resource must equal the API identifier byte for byte.
      add(
        'error',
        'audience_not_resource',
        `the API Identifier (audience ${values.join(', ')}) is not the resource ${canonical}: MCP clients request resource=${canonical}, which selects no API`,
        `Create the Auth0 API with the Identifier ${canonical}, or serve the MCP endpoint at the URL that is the API's Identifier.`,
      )
    } else if (idp.name === 'entra' || idp.name === 'okta') {
      add(
        'info',
        'audience_not_resource',
        `tokens carry ${values.join(', ')} in aud, not the resource URL: ${idp.name === 'entra' ? "Entra sets aud to the API's application ID or App ID URI" : 'an Okta authorization server has one fixed audience'}`,
        idp.name === 'entra'
          ? 'Nothing to change; one app registration per MCP server keeps tokens for other APIs out.'
          : 'Use one custom authorization server per MCP server, so its audience stands for this server alone.',
      )
    } else {
      add(
        'warning',
        'audience_not_resource',
        `accepted audiences (${values.join(', ')}) do not include the resource ${canonical}; MCP clients request tokens with resource=${canonical}`,
        idp.name === 'keycloak'
          ? `Set the Audience mapper's Included Custom Audience to ${canonical} and give the same value as audience.`
          : `Accept ${canonical} as audience, and make the authorization server issue it for resource=${canonical}.`,
      )
    }
  } else if (idp.name === 'auth0' && !values.includes(canonical)) {
    // Auth0 compares the API Identifier exactly; the metadata document serves the canonical form.
    add(
      'warning',
      'audience_spelling',
      `the API Identifier ${matching[0]} is spelled differently from the resource ${canonical} that the metadata document serves; Auth0 matches the Identifier exactly`,
      `Make the Auth0 API Identifier exactly ${canonical}.`,
    )
  }
  return canonical
}

async function checkAuthorizationServer(
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

async function checkJwks(
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

async function checkSampleToken(token: string, preset: IdpPreset, resource: string | undefined, add: Add) {
  const idp = preset.idp
  let auth: AuthInfo
  try {
    auth = await preset.verifier.verifyAccessToken(token)
  } catch (error) {
    if (error instanceof PortcullisError && error.code === 'invalid_token') {
      const advice = adviceFor(idp, error, token)
      add(
        'error',
        `sample_token_${error.reason.replace(/^token_/, '')}`,
        `the sample token fails the ${CHECKS[error.reason] ?? error.reason} check: ${error.message}`,
        advice?.fix ?? 'Obtain a token from the configured issuer, for this resource.',
      )
    } else {
      add(
        'error',
        'sample_token_unverifiable',
        `the sample token could not be checked: ${error instanceof Error ? error.message : String(error)}`,
        'Make the keys (or the introspection endpoint) reachable, then diagnose again.',
      )
    }
    return
  }
  if (auth.resource !== undefined && resource !== undefined && !sameResource(auth.resource.href, resource)) {
    add(
      'error',
      'sample_token_for_another_resource',
      `the sample token was accepted for ${auth.resource.href}, not for ${resource}`,
      "Request the token with resource set to this server's URL.",
    )
    return
  }
  const claims = auth.extra?.claims ?? {}
  add(
    'info',
    'sample_token_accepted',
    `the sample token is accepted: client ${show(auth.clientId)}, subject ${show(auth.extra?.sub)}, scopes ${show(auth.scopes)}`,
    'Nothing to change.',
  )
  const mapsRoles = Object.keys(idp.roles).length > 0 && idp.claims.roles.length > 0
  if (mapsRoles && idp.claims.roles.every((path) => readClaim(claims, path) === undefined)) {
    add(
      'warning',
      'sample_token_without_roles',
      'the sample token carries none of the role claims, so the role map grants nothing',
      strippedTokenFix(idp),
    )
  }
  if (auth.scopes.length === 0) {
    add(
      'warning',
      'sample_token_without_scopes',
      'the sample token grants no scope: routes and tools that require one will answer 403',
      `Request the scopes the server needs, or map roles to scopes with roles (read from ${idp.claims.roles.length === 0 ? 'no role claim yet: set claims.roles' : idp.claims.roles.map((p) => (typeof p === 'string' ? p : p.join('.'))).join(', ')}).`,
    )
  }
}

const CHECKS: Partial<Record<string, string>> = {
  token_malformed: 'format',
  token_encrypted: 'format',
  token_nested: 'format',
  header_invalid: 'format',
  typ_invalid: 'typ header',
  alg_not_allowed: 'algorithm',
  crit_unsupported: 'header',
  kid_unknown: 'signing key',
  signature_invalid: 'signature',
  key_unsuitable: 'signing key',
  claims_malformed: 'claims',
  issuer_untrusted: 'issuer',
  issuer_mismatch: 'issuer',
  audience_mismatch: 'audience',
  claim_missing: 'required claims',
  token_expired: 'expiry',
  token_not_yet_valid: 'not-before',
  issued_in_future: 'issued-at',
  token_type_invalid: 'token type',
  id_token_presented: 'token type',
  token_sender_constrained: 'sender constraint',
  token_inactive: 'introspection',
}

function sameResource(value: string, canonical: string): boolean {
  try {
    return canonicalResource(value) === canonical
  } catch {
    return false
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
