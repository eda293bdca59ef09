import type { AuditEvent, Gate, GateOptions, RejectionLog } from '@portcullis/core'
import { type AdapterOptions, adapterOptionsShape, listenerSchema } from '@portcullis/core/adapter'
import type { FastifyRequest, LogLevel } from 'fastify'
import { z } from 'zod'

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

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const levelOr = <F extends (...args: never[]) => unknown>() =>
  z.union([z.enum(LOG_LEVELS), listenerSchema<F>('a log level or a function')]).optional()

export const pluginOptionsShape = {
  ...adapterOptionsShape,
  onRejection: levelOr<(event: RejectionLog, request: FastifyRequest) => void>(),
  onAudit: levelOr<(event: AuditEvent, request: FastifyRequest) => void>(),
}
