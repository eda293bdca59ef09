import { canonicalResource } from '@portcullis/core'
import { parseOptions, sameResource } from '@portcullis/core/adapter'
import { z } from 'zod'
import { checkAuthorizationServer, checkJwks } from './diagnose-server.js'
import { checkSampleToken } from './diagnose-token.js'
import { type OidcOptions, oidc } from './oidc.js'
import { type IdpDescription, type IdpPreset, isPreset } from './preset.js'

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
  const o = parseOptions(optionsSchema, options, 'diagnose')
  const preset = isPreset(target) ? target : oidc(target)
  const idp = preset.description
  const fetchOptions = { timeoutMs: o.fetchTimeoutMs ?? 5000, maxBytes: o.maxBytes ?? 512 * 1024 }
  const findings: Finding[] = []
  const add = (severity: Finding['severity'], code: string, message: string, fix: string) =>
    findings.push({ severity, code, message, fix })

  const resource = checkResource(o.resource, idp, add)

  let jwksFromMetadata: string | undefined
  const results = await Promise.all(
    preset.options.authorizationServers.map((issuer) =>
      checkAuthorizationServer(issuer, idp, fetchOptions, add),
    ),
  )
  for (const metadata of results) {
    if (typeof metadata?.jwks_uri === 'string') jwksFromMetadata ??= metadata.jwks_uri
  }

  const jwksUri = idp.jwksUri ?? jwksFromMetadata
  if (jwksUri !== undefined) await checkJwks(jwksUri, idp, fetchOptions, add)

  if (o.sampleToken !== undefined) await checkSampleToken(o.sampleToken, preset, resource, add)
  return findings
}

export type Add = (severity: Finding['severity'], code: string, message: string, fix: string) => void

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
