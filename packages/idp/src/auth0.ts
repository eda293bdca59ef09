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

export interface Auth0Options extends PresetOverrides {
  /**
   * The domain clients sign in through: the tenant domain (`acme.eu.auth0.com`) or the custom
   * domain, which changes the issuer. An origin (`http://127.0.0.1:4455`) is accepted too, for
   * local stand-ins.
   */
  domain: string
  /** The API's Identifier (Auth0 dashboard, APIs): the `aud` of its tokens, normally this server's resource URL. */
  audience: string | string[]
}

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/

const domainSchema = z.string().transform((value, ctx) => {
  if (HOST.test(value)) return `https://${value.toLowerCase()}`
  const origin = baseUrlSchema.safeParse(value)
  if (origin.success && new URL(value).origin === value.replace(/\/$/, '')) return new URL(value).origin
  ctx.addIssue({
    code: 'custom',
    message: `${JSON.stringify(value)} is not a domain name (acme.eu.auth0.com) or an origin (https://login.example.com)`,
  })
  return z.NEVER
})

const auth0Schema = z.strictObject({
  domain: domainSchema,
  audience: audienceOptionSchema,
  ...presetOverridesShape,
})

/**
 * Tokens from an Auth0 tenant (idp-realities §2):
 * - issuer `https://<domain>/` WITH its trailing slash; keys from `/.well-known/jwks.json`;
 * - audience: `aud` contains the API Identifier; it is an array with `https://<domain>/userinfo`
 *   when `openid` was requested too;
 * - the client is `azp` (`client_id` in the RFC 9068 dialects);
 * - scopes from `scope`; RBAC `permissions` read as roles: each grants what `roles` maps it to
 *   (or read them as scopes as they are with `claims: { scopes: ['scope', 'permissions'] }`);
 * - Auth0 has no introspection endpoint: a token that is not a JWT was requested without an API
 *   audience (a `/userinfo`-only token), and the refusal says so and what to request instead.
 *
 * @example
 * const preset = auth0({ domain: 'acme.eu.auth0.com', audience: 'https://mcp.example.com/mcp' })
 * await app.register(portcullis, { ...preset.options, resource: 'https://mcp.example.com/mcp' })
 */
export function auth0(options: Auth0Options): IdpPreset {
  const o = parsePresetOptions(auth0Schema, options, 'auth0')
  const issuer = `${o.domain}/`
  const description = describePreset(
    {
      name: 'auth0',
      issuers: [issuer],
      jwksUri: `${o.domain}/.well-known/jwks.json`,
      audienceStrategy: { type: 'aud', values: o.audience },
      claims: { scopes: ['scope'], roles: ['permissions'], clientId: ['client_id', 'azp'] },
      // The default dialect types tokens "JWT"; the RFC 9068 dialects "at+jwt" (idp-realities §2).
      typ: 'lenient',
      requiredClaims: ['exp'],
      checks: [],
    },
    o,
  )
  const verifier = presetJwtVerifier(description, issuer, o)
  return presetOf(description, explainedVerifier(verifier, description), [issuer], o.scopes)
}
