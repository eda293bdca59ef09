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
  /** v2 tokens: the API's application (client) ID; v1 tokens: its App ID URI (`api://...`). */
  audience: string | string[]
  /** The token version the API's app registration issues (manifest `accessTokenAcceptedVersion`; null means 1). */
  version: 1 | 2
  /** Further tenants (GUIDs) whose users and apps may call this API. */
  allowedTenants?: string[]
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
    ...presetOverridesShape,
  })
  .refine((o) => GUID.test(o.tenantId) || (o.allowedTenants?.length ?? 0) > 0, {
    // idp-realities §3 (Entra): multi-tenant metadata names a literal {tenantid}; tenants must be allow-listed.
    error:
      'a multi-tenant API must list the tenants it accepts in allowedTenants (any tenant would otherwise do)',
    path: ['allowedTenants'],
  })

const LOGIN = 'https://login.microsoftonline.com'

/**
 * Tokens from Microsoft Entra ID (idp-realities §3):
 * - the issuer depends on the token version the API's registration asks for: v2
 *   `https://login.microsoftonline.com/<tid>/v2.0` (no trailing slash), v1
 *   `https://sts.windows.net/<tid>/` (trailing slash); keys from the tenant's
 *   `discovery/v2.0/keys`;
 * - audience: `aud` is the API's application (client) ID (v2) or App ID URI (v1);
 * - multi-tenant: one issuer per allowed tenant, and the `tid` claim must name the same tenant as
 *   the issuer; tokens of other tenants are refused before any key is fetched;
 * - scopes from `scp` (delegated, a space-separated string); app roles from `roles` (an array),
 *   granting what `roles` maps them to; the client is `azp` (v2) or `appid` (v1);
 * - the JOSE `typ` is `JWT`, accepted on purpose: Entra never types access tokens `at+jwt`, and an
 *   ID token is refused anyway because its `aud` is the client's id, not the API's.
 *
 * The metadata clients discover is the v2 document (`<tid>/v2.0/.well-known/openid-configuration`)
 * for both versions, so `authorizationServers` lists the v2 issuer of each tenant.
 *
 * @example
 * const preset = entra({
 *   tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
 *   audience: '6e74172b-be56-4843-9ff4-e66a39bb12e3',
 *   version: 2,
 *   roles: { 'Notes.Admin': ['notes:admin'] },
 * })
 * await app.register(portcullis, { ...preset, resource: 'https://mcp.example.com/mcp' })
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
  const jwksOf = (tid: string) => `${LOGIN}/${tid}/discovery/v2.0/keys`
  const description = describePreset(
    {
      name: 'entra',
      issuers: tenants.map(issuerOf),
      jwksUri: jwksOf(tenants[0]!),
      audienceStrategy: { type: 'aud', values: o.audience },
      claims: { scopes: ['scp'], roles: ['roles'], clientId: ['azp', 'appid'] },
      // Entra types access tokens "JWT", never "at+jwt"; ID tokens fail the audience check instead.
      typ: 'lenient',
      requiredClaims: ['exp'],
      checks: ['tid names the tenant of the issuer'],
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
