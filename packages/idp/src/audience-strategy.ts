import { z } from 'zod'

/**
 * How a token shows it was issued for this resource server. There is no "off": every preset
 * binds tokens to their recipient one way or another (MCP: audience binding, RFC 8707).
 *
 * - `aud`: the `aud` claim (a string or an array) contains one of `values` (RFC 9068 §4, RFC 7519
 *   §4.1.3).
 * - `client_id`: the `client_id` claim equals one of `values` exactly: for IdPs whose access tokens
 *   usually carry no `aud` (Cognito); an `aud` that is there must still name this resource.
 * - URL values are compared in canonical form (RFC 8707 §2): `https://a.example/api/` and
 *   `https://A.example/api` name the same resource; other values compare exactly.
 * - `azp`: the `azp` claim equals one of `values` exactly: the authorized party (Keycloak, Entra v2).
 *
 * @example
 * const strategy: AudienceStrategy = { type: 'client_id', values: ['4u5v6w7x8y9z'] }
 */
export interface AudienceStrategy {
  type: 'aud' | 'client_id' | 'azp'
  values: readonly string[]
}

/** zod schema of an `AudienceStrategy`. */
export const audienceStrategySchema = z.strictObject(
  {
    type: z.enum(['aud', 'client_id', 'azp'], {
      error: 'type is "aud", "client_id" or "azp" (the audience check cannot be turned off)',
    }),
    values: z
      .array(z.string().min(1, 'an audience value must not be empty'))
      .min(1, 'values needs at least one accepted value')
      .readonly(),
  },
  { error: 'must be { type: "aud" | "client_id" | "azp", values: [...] }' },
)
