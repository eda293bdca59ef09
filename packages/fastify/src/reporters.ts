import type { Gate } from '@portcullis/core'
import {
  type GateBinding,
  keepBinding,
  keptBinding,
  levelReporters,
  logKeySetEvents,
  reportKeySetEventsOnce,
} from '@portcullis/core/adapter'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { PortcullisPluginOptions } from './plugin-options.js'

/** The message of every audit line; the event is under the `audit` key. */
export const AUDIT_LOG_MESSAGE = 'portcullis audit event'

// The gate and reporters of the plugin that protects it, kept under the gate for `mcpRoute` in the same scope.
type Reporters = GateBinding<FastifyRequest>

const requestLog = (request: FastifyRequest) => request.log

/** The plugin's `onRejection` / `onAudit` as listeners (a level writes to `request.log`), kept for `gate`. */
export function setReporters(
  gate: Gate,
  options: Pick<PortcullisPluginOptions, 'onRejection' | 'onAudit'>,
): Reporters {
  return keepBinding(gate, { gate, ...levelReporters(options, requestLog, AUDIT_LOG_MESSAGE) })
}

/** The reporters of `gate`'s plugin. */
export function reportersOf(gate: Gate): Reporters {
  return keptBinding<FastifyRequest>(gate) ?? setReporters(gate, {})
}

/** Reports the key set events of the process to `listener`, by default to the server's log (once per server). */
export function reportKeySetEvents(
  fastify: FastifyInstance,
  listener: PortcullisPluginOptions['onKeySetEvent'],
): void {
  const stop = reportKeySetEventsOnce(fastify.server, listener, logKeySetEvents(fastify.log))
  if (stop !== undefined) fastify.addHook('onClose', async () => stop())
}
