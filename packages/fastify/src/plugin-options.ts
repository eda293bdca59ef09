import type { AuditEvent, Gate, GateOptions, RejectionLog } from '@portcullis/core'
import { type AdapterOptions, adapterOptionsShape, levelOrListenerSchema } from '@portcullis/core/adapter'
import type { FastifyRequest, LogLevel } from 'fastify'

/**
 * Options of the plugin that are not options of the gate: those of both adapters, where
 * `onRejection` and `onAudit` also take the level at which `request.log` writes them
 * (`onRejection` default `'info'`, unexpected verifier failures at `error`; audit lines `{ audit }`).
 */
export interface PortcullisPluginOptions
  extends Omit<AdapterOptions<FastifyRequest>, 'onRejection' | 'onAudit'> {
  onRejection?: LogLevel | ((event: RejectionLog, request: FastifyRequest) => void)
  onAudit?: LogLevel | ((event: AuditEvent, request: FastifyRequest) => void)
}

/** Plugin options: the gate's options (or a gate made with `createGate`), plus the plugin's own. */
export type PortcullisOptions = (GateOptions | { gate: Gate }) & PortcullisPluginOptions

export const pluginOptionsShape = {
  ...adapterOptionsShape,
  onRejection: levelOrListenerSchema<(event: RejectionLog, request: FastifyRequest) => void>(),
  onAudit: levelOrListenerSchema<(event: AuditEvent, request: FastifyRequest) => void>(),
}
