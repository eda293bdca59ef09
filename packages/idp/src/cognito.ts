import { invalidToken } from '@portcullis/core'
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

export interface CognitoOptions extends PresetOverrides {
  /** The user pool's AWS region, e.g. `eu-west-1`. */
  region: string
  /** The user pool id, e.g. `eu-west-1_AbCdEf123`. */
  userPoolId: string
  /** App client ids whose access tokens this server accepts: Cognito binds tokens by `client_id`. */
  clientIds: string[]
  /**
   * What a resource-bound token (Cognito resource indicators, managed login on Essentials or Plus)
   * carries in `aud` for this server. A token with an `aud` must name one of these; without this
   * option, its `aud` must be one URL, which the gate compares with its `resource`. Tokens without
   * `aud` are bound by `client_id` alone.
   */
  audience?: string | string[]
}

const cognitoSchema = z.strictObject({
  region: z
    .string()
    .regex(/^[a-z]{2}(?:-[a-z]+)+-\d+$/, { error: 'must be an AWS region such as eu-west-1' }),
  userPoolId: z
    .string()
    .regex(/^[\w-]+_[0-9A-Za-z]+$/, { error: 'must be a user pool id such as eu-west-1_AbCdEf123' }),
  clientIds: z.array(z.string().min(1)).min(1, 'name at least one app client id'),
  audience: audienceOptionSchema.optional(),
  ...presetOverridesShape,
})

/**
 * Tokens from an Amazon Cognito user pool (idp-realities §3):
 * - issuer `https://cognito-idp.<region>.amazonaws.com/<userPoolId>`, keys from
 *   `<issuer>/.well-known/jwks.json`;
 * - access tokens are bound by `client_id`, which must be one of `clientIds`, and must say
 *   `token_use: "access"` (ID tokens say `"id"` and carry the client in `aud`);
 * - an access token carries `aud` only when the client asked for a resource (resource indicators,
 *   "Cognito issues an access token with the audience claim set to the specific resource"): it
 *   must then name this server (`audience`, else the gate's `resource`);
 * - scopes from `scope` (custom scopes read `<resource server identifier>/<scope>`); groups from
 *   `cognito:groups`, granting what `roles` maps them to.
 *
 * @example
 * const preset = cognito({ region: 'eu-west-1', userPoolId: 'eu-west-1_AbCdEf123', clientIds: ['4u5v6w7x8y9z'] })
 * await app.register(portcullis, { ...preset.options, resource: 'https://mcp.example.com/mcp' })
 */
export function cognito(options: CognitoOptions): IdpPreset {
  const o = parsePresetOptions(cognitoSchema, options, 'cognito')
  const issuer = `https://cognito-idp.${o.region}.amazonaws.com/${o.userPoolId}`
  const description = describePreset(
    {
      name: 'cognito',
      issuers: [issuer],
      jwksUri: `${issuer}/.well-known/jwks.json`,
      // idp-realities §3 (Cognito): no aud in access tokens; client_id names the app client.
      audienceStrategy: { type: 'client_id', values: o.clientIds },
      claims: { scopes: ['scope'], roles: ['cognito:groups'], clientId: ['client_id'] },
      typ: 'lenient',
      requiredClaims: ['exp'],
      checks: ['token_use is "access"', 'aud, when present, names this resource'],
    },
    o,
    o.audience === undefined ? {} : { resourceAudiences: o.audience },
  )
  const verifier = presetJwtVerifier(description, issuer, o, (claims) => {
    if (claims.token_use === 'id') {
      throw invalidToken('id_token_presented', 'token_use "id": an ID token, not an access token')
    }
    if (claims.token_use !== 'access') {
      throw invalidToken('token_type_invalid', `token_use ${show(claims.token_use)} is not "access"`)
    }
  })
  return presetOf(description, explainedVerifier(verifier, description), [issuer], o.scopes)
}
