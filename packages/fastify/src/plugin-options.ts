import type { Gate, GateOptions } from '@portcullis/core'
import { gateOptionsSchema, gateSchema } from '@portcullis/core/adapter'
import type { LogLevel } from 'fastify'
import { z } from 'zod'

/** Options of the plugin that are not options of the gate. */
export interface PortcullisPluginOptions {
  /**
   * Which routes of the scope the gate protects: `'all'` (default) every route except those with
   * `config: { auth: false }`; `'declared'` only routes with `config: { auth: true }` or `config.scopes`.
   */
  routes?: 'all' | 'declared'
  /** Level at which rejected requests are logged (`{ reason, status, fingerprint }`). Default `'info'`. */
  logLevel?: LogLevel
  /**
   * Writes every access decision's audit event (allowed, refused, step-up, revoked; see
   * `docs/audit-events.md`) to `request.log` as `{ audit }`: `true` at `info`, or at the level
   * given. Default off. Never a token: the token is named by its fingerprint.
   */
  auditLog?: boolean | LogLevel
  /**
   * Serve the metadata document from this scope. Default `true`. Set `false` when the plugin is
   * registered under a route prefix and serve the document with `portcullisMetadata` at the root.
   */
  metadataRoutes?: boolean
}

/** Plugin options: the gate's options (or a gate made with `createGate`), plus the plugin's own. */
export type PortcullisOptions = (GateOptions | { gate: Gate }) & PortcullisPluginOptions

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const pluginOptionsShape = {
  routes: z.enum(['all', 'declared']).optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  auditLog: z.union([z.boolean(), z.enum(LOG_LEVELS)]).optional(),
  metadataRoutes: z.boolean().optional(),
}

export const withGateSchema = z.strictObject({ gate: gateSchema, ...pluginOptionsShape })
export const withGateOptionsSchema = gateOptionsSchema.extend(pluginOptionsShape)
