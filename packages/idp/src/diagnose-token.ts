import { type AuthInfo, PortcullisError, readClaim } from '@portcullis/core'
import { sameResource } from '@portcullis/core/adapter'
import { adviceFor, show } from './advice.js'
import type { Add } from './diagnose.js'
import type { IdpPreset } from './preset.js'
import { strippedTokenFix } from './setup-advice.js'

export async function checkSampleToken(
  token: string,
  preset: IdpPreset,
  resource: string | undefined,
  add: Add,
) {
  const idp = preset.description
  let auth: AuthInfo
  try {
    auth = await preset.options.verifier.verifyAccessToken(token)
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
