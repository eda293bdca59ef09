import type { McpTarget } from '../mcp/scope-rules.js'
import type { PortcullisError } from '../support/errors.js'
import { type AuditEvent, auditCaller, auditEvent, auditing, publishAudit } from '../telemetry/audit.js'
import type { AuthInfo } from '../token/auth-info.js'
import type { AuthenticateResult, AuthorizeResult } from './gate-types.js'

type Caller = Partial<Pick<AuthInfo, 'clientId' | 'extra'>>

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
  publishAudit(authenticationAuditEvent(resource, result))
  return result
}

/**
 * The audit event of an authentication's answer (`allowed`, `refused` or `revoked`), for adapters
 * that also write it to their framework's logger.
 */
export function authenticationAuditEvent(resource: string, result: AuthenticateResult): AuditEvent {
  if (result.ok) {
    return auditEvent({
      outcome: 'allowed',
      resource,
      scopes: result.auth.scopes,
      ...auditCaller(result.auth),
    })
  }
  const { fingerprint } = result.log.fields
  return auditEvent({
    outcome: result.error.reason === 'token_revoked' ? 'revoked' : 'refused',
    reason: result.error.reason,
    status: result.error.status,
    resource,
    ...(fingerprint === undefined ? {} : { fingerprint }),
  })
}

/**
 * The audit event of a rejection an adapter sends: a step-up for a refused scope check (`auth` is
 * the verified caller), else a refused (or revoked) authentication.
 */
export function rejectionAuditEvent(
  resource: string,
  auth: Caller | null | undefined,
  result: Exclude<AuthenticateResult | AuthorizeResult, { ok: true }>,
): AuditEvent {
  if (result.error.code === 'insufficient_scope')
    return stepUpAuditEvent(resource, auth ?? {}, result.error, [])
  return authenticationAuditEvent(resource, result as AuthenticateResult)
}

/** The audit event of a refused scope check (a step-up demanded); allowed checks add nothing. */
export function auditAuthorization(resource: string, auth: Caller, result: AuthorizeResult): AuthorizeResult {
  if (!result.ok && auditing()) publishAudit(stepUpAuditEvent(resource, auth, result.error, []))
  return result
}

/** A 403 `insufficient_scope`, naming the MCP tools, prompts or resources it was demanded for. */
export function auditStepUp(
  resource: string,
  auth: Caller,
  error: PortcullisError,
  targets: readonly McpTarget[],
): void {
  if (auditing()) publishAudit(stepUpAuditEvent(resource, auth, error, targets))
}

/** The audit event of a 403 `insufficient_scope`: the missing scopes, and the MCP targets if any. */
export function stepUpAuditEvent(
  resource: string,
  auth: Caller,
  error: PortcullisError,
  targets: readonly McpTarget[],
): AuditEvent {
  return auditEvent({
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
