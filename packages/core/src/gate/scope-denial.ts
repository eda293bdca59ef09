import { requirementParts, type ScopeRequirement } from '../oauth/scopes.js'
import { PortcullisError } from '../support/errors.js'
import type { RejectionLog } from './gate-types.js'

/**
 * The one 403 `insufficient_scope` rejection (RFC 6750 §3.1), for a route's requirement (the gate)
 * and for a tool, prompt or resource (the MCP endpoint): the error, naming every missing scope, and
 * what to log (the token's fingerprint, never the token).
 */
export function scopeDenial(
  missing: readonly string[],
  description: string,
  fingerprint: string | undefined,
): { error: PortcullisError; log: RejectionLog } {
  const error = new PortcullisError('insufficient_scope', 'scope_insufficient', description, {
    scopes: missing,
  })
  return {
    error,
    log: {
      severity: 'rejection',
      fields: {
        reason: error.reason,
        status: error.status,
        ...(fingerprint === undefined ? {} : { fingerprint }),
        missingScopes: missing,
      },
    },
  }
}

/** The description of a route's unmet requirement: the missing scopes, or the choice of an `anyOf`. */
export function describeRequirement(requirement: ScopeRequirement, missing: readonly string[]): string {
  const { kind, scopes } = requirementParts(requirement)
  return kind === 'any'
    ? `This operation requires one of the scopes: ${scopes.join(' ')}`
    : `This operation requires the scope${missing.length === 1 ? '' : 's'}: ${missing.join(' ')}`
}
