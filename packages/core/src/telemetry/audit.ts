import { channel } from 'node:diagnostics_channel'
import type { PortcullisReason } from '../support/errors.js'
import type { AuthInfo } from '../token/auth-info.js'
import { subscribeSafely } from '../token/key-set-events.js'

/** The `node:diagnostics_channel` name audit events are published on. */
export const AUDIT_CHANNEL = 'portcullis:audit'

/** Bumped when a field changes meaning or goes away; new optional fields keep the version. */
export const AUDIT_SCHEMA_VERSION = 1

/**
 * One access decision, for a SIEM (schema version 1). Never a token or a secret: the token is
 * named by its fingerprint, the value Portcullis logs.
 *
 * - `allowed`: a token was accepted (authentication).
 * - `refused`: no token, a bad one, or an upstream failure (`status` 400, 401, 429, 503...).
 * - `step_up`: a valid token lacks scopes (403 `insufficient_scope`); `scopes` are the missing ones.
 * - `revoked`: a token on the deny list was presented.
 */
export interface AuditEvent {
  version: 1
  /** ISO 8601. */
  time: string
  outcome: 'allowed' | 'refused' | 'step_up' | 'revoked'
  /** Why, for every outcome but `allowed` (the `PortcullisReason` taxonomy). */
  reason?: PortcullisReason
  /** The HTTP status the decision answers with (absent for `allowed`). */
  status?: number
  /** The protected resource (canonical URL). */
  resource: string
  issuer?: string
  subject?: string
  client?: string
  /** Granted scopes for `allowed`; the missing ones for `step_up`. */
  scopes?: readonly string[]
  /** The tools, prompts or resources a `step_up` was demanded for (MCP requests). */
  tools?: readonly string[]
  fingerprint?: string
}

const auditChannel = channel(AUDIT_CHANNEL)

/** Whether anyone listens: callers skip building events when nobody does (no cost on the hot path). */
export function auditing(): boolean {
  return auditChannel.hasSubscribers
}

/** A complete event from its fields: the schema version and the time are added. */
export function auditEvent(fields: Omit<AuditEvent, 'version' | 'time'>): AuditEvent {
  return { version: AUDIT_SCHEMA_VERSION, time: new Date().toISOString(), ...fields }
}

/** Publishes an event (callers check `auditing()` first). */
export function publishAudit(event: AuditEvent): void {
  auditChannel.publish(event)
}

/** The caller fields of an event, read from a verified caller. */
export function auditCaller(
  auth: Partial<Pick<AuthInfo, 'clientId' | 'extra'>>,
): Pick<AuditEvent, 'issuer' | 'subject' | 'client' | 'fingerprint'> {
  const extra = auth.extra ?? {}
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
  const fields = {
    issuer: text(extra.iss),
    subject: text(extra.sub),
    client: text(auth.clientId),
    fingerprint: text(extra.fingerprint),
  }
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined))
}

/**
 * Listens to the audit events of every gate of the process; returns the function that stops.
 *
 * @example
 * const stop = onAuditEvent((event) => siem.send(event))
 */
export function onAuditEvent(listener: (event: AuditEvent) => void): () => void {
  return subscribeSafely(AUDIT_CHANNEL, listener)
}
