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
} from './preset.js'

export interface OidcOptions extends PresetOverrides {
  /** The issuer identifier, exactly as the provider's metadata and tokens spell it. */
  issuer: string
  /** What tokens carry in `aud`: normally this server's resource URL (RFC 8707). */
  audience: string | string[]
}

const oidcSchema = z.strictObject({
  issuer: baseUrlSchema,
  audience: audienceOptionSchema,
  ...presetOverridesShape,
})

// RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED (iss and aud always checked).
const RFC9068_CLAIMS = ['exp', 'iat', 'sub', 'client_id', 'jti']

/**
 * Tokens from any authorization server that follows RFC 9068 (JWT access tokens) and publishes
 * metadata:
 * - the JWKS is found through the issuer's metadata, in the MCP probe order (RFC 8414 path
 *   insertion, OIDC path insertion, OIDC path appending), on first use;
 * - JOSE `typ` must be `at+jwt` (RFC 9068 §4), and the RFC 9068 §2.2 claims present;
 * - audience: `aud` contains `audience`; the client is `client_id`; scopes from `scope`; roles from
 *   the RFC 9068 §2.2.3.1 claims `roles`, `groups` and `entitlements`.
 * Relax with `typ: 'lenient'` and `requiredClaims` for providers that differ.
 *
 * @example
 * const preset = oidc({ issuer: 'https://auth.example.com', audience: 'https://mcp.example.com/mcp' })
 * await app.register(portcullis, { ...preset.options, resource: 'https://mcp.example.com/mcp' })
 */
export function oidc(options: OidcOptions): IdpPreset {
  const o = parsePresetOptions(oidcSchema, options, 'oidc')
  const issuer = o.issuer
  const description = describePreset(
    {
      name: 'oidc',
      issuers: [issuer],
      jwksUri: undefined,
      audienceStrategy: { type: 'aud', values: o.audience },
      claims: { scopes: ['scope'], roles: ['roles', 'groups', 'entitlements'], clientId: ['client_id'] },
      typ: 'strict',
      requiredClaims: RFC9068_CLAIMS,
      checks: [],
    },
    o,
  )
  const verifier = presetJwtVerifier(description, issuer, o)
  return presetOf(description, explainedVerifier(verifier, description), [issuer], o.scopes)
}
