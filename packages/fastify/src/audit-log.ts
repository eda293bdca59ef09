import type { AuditEvent, Gate } from '@portcullis/core'
import type { FastifyBaseLogger, LogLevel } from 'fastify'

/** The message of every audit line; the event is under the `audit` key. */
export const AUDIT_LOG_MESSAGE = 'portcullis audit event'

// The level chosen by the plugin that protects a gate, read by `mcpRoute` in the same scope.
const levels = new WeakMap<Gate, LogLevel>()

/** Records the plugin option `auditLog` for `gate`: `undefined` (off), `true` (info) or a level. */
export function setAuditLogLevel(gate: Gate, option: boolean | LogLevel | undefined): LogLevel | undefined {
  const level = option === true ? 'info' : option === false ? undefined : option
  if (level === undefined) levels.delete(gate)
  else levels.set(gate, level)
  return level
}

/** The audit log level of `gate`'s plugin, if audit logging is on. */
export function auditLogLevel(gate: Gate): LogLevel | undefined {
  return levels.get(gate)
}

/** Writes one audit event to the request's logger (an event never holds a token). */
export function logAudit(log: FastifyBaseLogger, level: LogLevel, event: AuditEvent): void {
  log[level]({ audit: event }, AUDIT_LOG_MESSAGE)
}
