import { invalidToken, issuerRouter, type TokenVerifier } from '@portcullis/core'
import { z } from 'zod'
import { show } from './advice.js'
import { explainedVerifier } from './explained-verifier.js'
import {
  audienceOptionSchema,
  describePreset,
  type IdpPreset,
  type PresetOverrides,
  parsePresetOptions,
  presetJwtVerifier,
  presetOf,
  presetOverridesShape,
} from './preset.js'

export interface EntraOptions extends PresetOverrides {
  /**
   * The API's home tenant id (a GUID). `organizations` or `common` for a multi-tenant API, which
   * then needs `allowedTenants`.
   */
  tenantId: string
  /**
   * The API's application (client) ID (a GUID), and for v1 tokens also its App ID URI
   * (`api://...`): v2 tokens always carry the application ID in `aud`; v1 tokens carry the
   * application ID or the App ID URI, whichever the client asked for. An App ID URI of the form
   * `api://<application ID>` brings the application ID along.
   */
  audience: string | string[]
  /** The token version the API's app registration issues (manifest `accessTokenAcceptedVersion`; null means 1). */
  version: 1 | 2
  /** Further tenants (GUIDs) whose users and apps may call this API. */
  allowedTenants?: string[]
  /**
   * The API's registration has custom signing keys (claims mapping): its tokens are signed with
   * keys published only at the tenant's key URL with `?appid=<application ID>`.
   */
  customSigningKeys?: boolean
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const MULTI_TENANT = ['organizations', 'common']
const tenantSchema = z.string().regex(GUID, {
  error: 'must be a tenant id (a GUID, as tokens carry it in tid), not a domain name',
})

const entraSchema = z
  .strictObject({
    tenantId: z.string().refine((value) => GUID.test(value) || MULTI_TENANT.includes(value), {
      error: 'must be a tenant id (a GUID), or "organizations" / "common" for a multi-tenant API',
    }),
    audience: audienceOptionSchema,
    version: z.union([z.literal(1), z.literal(2)], {
      error: 'must be 1 or 2 (the token version the API issues)',
    }),
    allowedTenants: z.array(tenantSchema).optional(),
    customSigningKeys: z.boolean().optional(),
    ...presetOverridesShape,
  })
  .refine((o) => GUID.test(o.tenantId) || (o.allowedTenants?.length ?? 0) > 0, {
    // idp-realities §3 (Entra): multi-tenant metadata names a literal {tenantid}; tenants must be allow-listed.
    error:
      'a multi-tenant API must list the tenants it accepts in allowedTenants (any tenant would otherwise do)',
    path: ['allowedTenants'],
  })
  .refine((o) => o.audienceStrategy !== undefined || applicationIds(o.audience).length > 0, {
    // access-token-claims-reference, aud: "In v2.0 tokens, this value is always the client ID of the
    // API. In v1.0 tokens, it can be the client ID or the resource URI used in the request."
    error:
      "must include the API's application (client) ID, a GUID: v2 tokens always carry it in aud, v1 tokens carry it or the App ID URI, depending on how the client asked",
    path: ['audience'],
  })

const LOGIN = 'https://login.microsoftonline.com'

/** The application IDs among the audiences: GUIDs, and the GUID of an `api://<GUID>` App ID URI. */
function applicationIds(audiences: readonly string[]): string[] {
  const ids = audiences.map((value) => value.replace(/^api:\/\//i, '')).filter((value) => GUID.test(value))
  return [...new Set(ids.map((id) => id.toLowerCase()))]
}

/**
 * Tokens from Microsoft Entra ID (idp-realities §3):
 * - the issuer depends on the token version the API's registration asks for: v2
 *   `https://login.microsoftonline.com/<tid>/v2.0` (no trailing slash), v1
 *   `https://sts.windows.net/<tid>/` (trailing slash); keys from the tenant's
 *   `discovery/v2.0/keys`;
 * - audience: `aud` is the API's application (client) ID (v2), or the application ID or App ID URI
 *   the client asked for (v1); both are accepted for the configured API;
 * - multi-tenant: one issuer per allowed tenant, and the `tid` claim must name the same tenant as
 *   the issuer; tokens of other tenants are refused before any key is fetched;
 * - ID tokens are refused with their own reason: an access token names its client in `azp` (v2) or
 *   `appid` (v1) and an ID token never does (access-token-claims-reference, id-token-claims-reference),
 *   even when client and API are one app registration and the ID token's `aud` is the API's ID;
 *   `ver` must be the preset's version when present;
 * - scopes from `scp` (delegated, a space-separated string); app roles from `roles` (an array),
 *   granting what `roles` maps them to; the client is `azp` (v2) or `appid` (v1);
 * - the JOSE `typ` is `JWT` for access and ID tokens alike, so it tells nothing: accepted.
 *
 * Keys: v1 tokens are described by the v1.0 metadata (`<tid>/.well-known/openid-configuration`,
 * keys at `<tid>/discovery/keys`), v2 tokens by the v2.0 metadata (`discovery/v2.0/keys`), with
 * `?appid=` for custom signing keys. MCP clients get tokens through the v2.0 endpoints whatever
 * the token version (the API's registration picks it), so `authorizationServers` lists the v2
 * issuer of each tenant.
 *
 * @example
 * const preset = entra({
 *   tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
 *   audience: '6e74172b-be56-4843-9ff4-e66a39bb12e3',
 *   version: 2,
 *   roles: { 'Notes.Admin': ['notes:admin'] },
 * })
 * await app.register(portcullis, { ...preset.options, resource: 'https://mcp.example.com/mcp' })
 */
export function entra(options: EntraOptions): IdpPreset {
  const o = parsePresetOptions(entraSchema, options, 'entra')
  const tenants = [
    ...new Set(
      [...(GUID.test(o.tenantId) ? [o.tenantId] : []), ...(o.allowedTenants ?? [])].map((t) =>
        t.toLowerCase(),
      ),
    ),
  ]
  const issuerOf = (tid: string) =>
    o.version === 2 ? `${LOGIN}/${tid}/v2.0` : `https://sts.windows.net/${tid}/`
  const appIds = applicationIds(o.audience)
  // access-tokens.md "v1.0 and v2.0 tokens" and "Validate the signature" (custom signing keys).
  const jwksOf = (tid: string) =>
    `${LOGIN}/${tid}/discovery/${o.version === 2 ? 'v2.0/' : ''}keys${o.customSigningKeys === true ? `?appid=${appIds[0]}` : ''}`
  // v1 aud may be the application ID whatever form the user configured it in.
  const audiences = [...new Set([...o.audience, ...appIds])]
  const clientClaim = o.version === 2 ? 'azp' : 'appid'
  const description = describePreset(
    {
      name: 'entra',
      issuers: tenants.map(issuerOf),
      jwksUri: jwksOf(tenants[0]!),
      audienceStrategy: { type: 'aud', values: audiences },
      claims: { scopes: ['scp'], roles: ['roles'], clientId: [clientClaim] },
      // Entra types access and ID tokens "JWT", never "at+jwt": the claims tell them apart.
      typ: 'lenient',
      requiredClaims: ['exp'],
      checks: [
        'tid names the tenant of the issuer',
        `${clientClaim} names the client (ID tokens carry none)`,
        `ver is "${o.version}.0" when present`,
      ],
    },
    o,
    { tenants, version: o.version },
  )
  const verifierOf = (tid: string) =>
    presetJwtVerifier(
      description,
      issuerOf(tid),
      o,
      (claims) => {
        // The issuer pins the tenant; tid must agree with it.
        if (typeof claims.tid !== 'string' || claims.tid.toLowerCase() !== tid) {
          throw invalidToken('issuer_mismatch', `token tid ${show(claims.tid)} does not match its issuer`)
        }
        checkAccessToken(claims, o.version)
      },
      // Keys per tenant, fetched on first use; an explicit jwksUri override applies to every tenant.
      o.jwksUri ?? jwksOf(tid),
    )
  const verifier: TokenVerifier =
    tenants.length === 1
      ? verifierOf(tenants[0]!)
      : issuerRouter({ issuers: Object.fromEntries(tenants.map((tid) => [issuerOf(tid), verifierOf(tid)])) })
  return presetOf(
    description,
    explainedVerifier(verifier, description),
    tenants.map((tid) => `${LOGIN}/${tid}/v2.0`),
    o.scopes,
  )
}

/**
 * Access or ID token, from what Entra puts in each (access-token-claims-reference,
 * id-token-claims-reference): access tokens name their client in `azp` (v2) or `appid` (v1) and
 * carry `scp` or `roles`; ID tokens carry neither `azp`/`appid` nor `scp`, though they may carry
 * `roles` (the user's app roles) and, when client and API are one registration, the API's ID in `aud`.
 */
function checkAccessToken(claims: Record<string, unknown>, version: 1 | 2): void {
  const client = version === 2 ? 'azp' : 'appid'
  if (typeof claims[client] !== 'string') {
    throw invalidToken(
      'id_token_presented',
      `token has no ${client}: it is an Entra ID token, not an access token (access tokens name their client there)`,
    )
  }
  if (claims.ver !== undefined && claims.ver !== `${version}.0`) {
    throw invalidToken(
      'token_type_invalid',
      `token ver ${show(claims.ver)} is not a v${version}.0 access token`,
    )
  }
}
