import type { AuditEvent, Gate, GateOptions, KeySetEvent, RejectionLog } from '@portcullis/core'
import { type AdapterOptions, adapterOptionsShape, listenerSchema } from '@portcullis/core/adapter'
import type { FastifyRequest, LogLevel } from 'fastify'
import { z } from 'zod'

/** Options of the plugin that are not options of the gate (`routes`, `metadataRoutes`: as in Express). */
export interface PortcullisPluginOptions extends AdapterOptions {
  /**
   * Where rejected requests are reported (`{ severity, fields: { reason, status, fingerprint,
   * missingScopes, err } }`, never the token): a listener, or the level at which `request.log`
   * writes them. Default `'info'` (unexpected verifier failures always at `error`).
   */
  onRejection?: LogLevel | ((event: RejectionLog, request: FastifyRequest) => void)
  /**
   * Where the audit event of every access decision goes (allowed, refused, step-up, revoked; see
   * `docs/audit-events.md`): a listener, or the level at which `request.log` writes it as
   * `{ audit }`. Default none. An event never holds a token (it names it by its fingerprint).
   */
  onAudit?: LogLevel | ((event: AuditEvent, request: FastifyRequest) => void)
  /**
   * Hears the key set events of the process (a remote key set that cannot be refreshed, and its
   * recovery; see core's `onKeySetEvent`). Default: logged with `fastify.log`. `false`: not reported.
   */
  onKeySetEvent?: ((event: KeySetEvent) => void) | false
}

/** Plugin options: the gate's options (or a gate made with `createGate`), plus the plugin's own. */
export type PortcullisOptions = (GateOptions | { gate: Gate }) & PortcullisPluginOptions

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const levelOr = <F extends (...args: never[]) => unknown>() =>
  z.union([z.enum(LOG_LEVELS), listenerSchema<F>('a log level or a function')]).optional()

export const pluginOptionsShape = {
  ...adapterOptionsShape,
  onRejection: levelOr<Extract<PortcullisPluginOptions['onRejection'], Function>>(),
  onAudit: levelOr<Extract<PortcullisPluginOptions['onAudit'], Function>>(),
}
