import type { Gate, GateOptions } from '@portcullis/core'
import type { LoggingAdapterOptions } from '@portcullis/core/adapter'
import type { FastifyRequest } from 'fastify'

/**
 * Options of the plugin that are not options of the gate: those of both adapters, where
 * `onRejection` and `onAudit` also take the level at which `request.log` writes them
 * (`onRejection` default `'info'`, unexpected verifier failures at `error`; audit lines `{ audit }`).
 */
export interface PortcullisPluginOptions extends LoggingAdapterOptions<FastifyRequest> {}

/** Plugin options: the gate's options (or a gate made with `createGate`), plus the plugin's own. */
export type PortcullisOptions = (GateOptions | { gate: Gate }) & PortcullisPluginOptions
