import { auditCaller, auditing, publishAudit } from './audit.js'
import type { AuthInfo } from './auth-info.js'
import type { PortcullisError } from './errors.js'
import type { AuthenticateResult, AuthorizeResult } from './gate.js'
import type { McpTarget } from './mcp-request.js'

/**
 * The audit event of an authentication, published once the result is known. Returns the result
 * unchanged; when nobody listens it is returned as is, with no work at all.
 */
export function auditAuthentication<R extends AuthenticateResult | Promise<AuthenticateResult>>(
  resource: string,
  result: R,
): R {
  if (!auditing()) return result
  if (result instanceof Promise)
    return result.then((settled) => publishAuthentication(resource, settled)) as R
  return publishAuthentication(resource, result as AuthenticateResult) as R
}

function publishAuthentication(resource: string, result: AuthenticateResult): AuthenticateResult {
  if (result.ok) {
    publishAudit({ outcome: 'allowed', resource, scopes: result.auth.scopes, ...auditCaller(result.auth) })
  } else {
    const { fingerprint } = result.log.fields
    publishAudit({
      outcome: result.error.reason === 'token_revoked' ? 'revoked' : 'refused',
      reason: result.error.reason,
      status: result.error.status,
      resource,
      ...(fingerprint === undefined ? {} : { fingerprint }),
    })
  }
  return result
}

/** The audit event of a refused scope check (a step-up demanded); allowed checks add nothing. */
export function auditAuthorization(
  resource: string,
  auth: Partial<Pick<AuthInfo, 'clientId' | 'extra'>>,
  result: AuthorizeResult,
): AuthorizeResult {
  if (!result.ok && auditing()) auditStepUp(resource, auth, result.error, [])
  return result
}

/** A 403 `insufficient_scope`, naming the MCP tools, prompts or resources it was demanded for. */
export function auditStepUp(
  resource: string,
  auth: Partial<Pick<AuthInfo, 'clientId' | 'extra'>>,
  error: PortcullisError,
  targets: readonly McpTarget[],
): void {
  if (!auditing()) return
  publishAudit({
    outcome: 'step_up',
    reason: error.reason,
    status: error.status,
    resource,
    scopes: error.scopes ?? [],
    ...(targets.length === 0
      ? {}
      : { tools: targets.map((target) => (target.kind === 'resource' ? target.uri : target.name)) }),
    ...auditCaller(auth),
  })
}
