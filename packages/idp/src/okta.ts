import { z } from 'zod'
import { explainedVerifier } from './explained-verifier.js'
import {
  audienceOptionSchema,
  baseUrlSchema,
  describePreset,
  type IdpPreset,
  type PresetOverrides,
  parsePresetOptions,
  presetJwtVerifier,
  presetOf,
  presetOverridesShape,
  trimSlashes,
} from './preset.js'

export interface OktaOptions extends PresetOverrides {
  /** The custom authorization server's issuer, e.g. `https://acme.okta.com/oauth2/default`. */
  issuer: string
  /** The authorization server's Audience setting (`api://default` for the default server). */
  audience: string | string[]
}

const oktaSchema = z.strictObject({
  issuer: baseUrlSchema
    .refine((value) => !URL.canParse(value) || !/\/oauth2\/v1\/?$/i.test(new URL(value).pathname), {
      // Okta OIDC & OAuth 2.0 API: /oauth2/v1/* are the org authorization server's endpoints; its issuer is the bare org URL.
      error:
        'https://<org>.okta.com/oauth2/v1 is where the org authorization server keeps its endpoints, not an issuer: give the custom authorization server issuer (https://<org>.okta.com/oauth2/<authorizationServerId>, e.g. /oauth2/default)',
    })
    .refine((value) => !URL.canParse(value) || /\/oauth2\/[^/]+\/?$/.test(new URL(value).pathname), {
      // idp-realities §3 (Okta): the org authorization server's tokens are for Okta's own APIs.
      error:
        'must be a custom authorization server (https://<org>.okta.com/oauth2/<id>, e.g. /oauth2/default): tokens of the org authorization server are meant for Okta itself and must not be validated by an API',
    }),
  audience: audienceOptionSchema,
  ...presetOverridesShape,
})

/**
 * Tokens from an Okta custom authorization server (idp-realities §3):
 * - issuer as configured (`https://<org>.okta.com/oauth2/<id>`), keys from `<issuer>/v1/keys`;
 * - audience: `aud` is the authorization server's single Audience, the same for every token it
 *   issues: use one authorization server per MCP server;
 * - scopes from `scp`, an array; the client is `cid`; groups need a custom claim (add its name
 *   to `claims.roles`).
 *
 * @example
 * const preset = okta({ issuer: 'https://acme.okta.com/oauth2/default', audience: 'api://notes' })
 * await app.register(portcullis, { ...preset.options, resource: 'https://mcp.example.com/mcp' })
 */
export function okta(options: OktaOptions): IdpPreset {
  const o = parsePresetOptions(oktaSchema, options, 'okta')
  const issuer = o.issuer
  const description = describePreset(
    {
      name: 'okta',
      issuers: [issuer],
      jwksUri: `${trimSlashes(issuer)}/v1/keys`,
      audienceStrategy: { type: 'aud', values: o.audience },
      claims: { scopes: ['scp'], roles: [], clientId: ['cid', 'client_id'] },
      typ: 'lenient',
      requiredClaims: ['exp'],
      checks: [],
    },
    o,
  )
  const verifier = presetJwtVerifier(description, issuer, o)
  return presetOf(description, explainedVerifier(verifier, description), [issuer], o.scopes)
}
