import type { Gate } from '@portcullis/core'
import {
  type AdapterReporters,
  FAILED_MESSAGE,
  keySetEventReport,
  REJECTED_MESSAGE,
  reportKeySetEventsOnce,
} from '@portcullis/core/adapter'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { PortcullisPluginOptions } from './plugin-options.js'

/** The message of every audit line; the event is under the `audit` key. */
export const AUDIT_LOG_MESSAGE = 'portcullis audit event'

type Reporters = AdapterReporters<FastifyRequest>

// The reporters of the plugin that protects a gate, read by `mcpRoute` in the same scope.
const byGate = new WeakMap<Gate, Reporters>()

/** The plugin's `onRejection` / `onAudit` as listeners (a level writes to `request.log`), kept for `gate`. */
export function setReporters(
  gate: Gate,
  { onRejection = 'info', onAudit }: Pick<PortcullisPluginOptions, 'onRejection' | 'onAudit'>,
): Reporters {
  const reporters: Reporters = {
    onRejection:
      typeof onRejection === 'function'
        ? onRejection
        : ({ severity, fields }, request) => {
            if (severity === 'error') request.log.error(fields, FAILED_MESSAGE)
            else request.log[onRejection](fields, REJECTED_MESSAGE)
          },
    onAudit:
      typeof onAudit === 'string'
        ? (audit, request) => request.log[onAudit]({ audit }, AUDIT_LOG_MESSAGE)
        : onAudit,
  }
  byGate.set(gate, reporters)
  return reporters
}

/** The reporters of `gate`'s plugin. */
export function reportersOf(gate: Gate): Reporters {
  return byGate.get(gate) ?? setReporters(gate, {})
}

/** Reports the key set events of the process to `listener`, by default to the server's log (once per server). */
export function reportKeySetEvents(
  fastify: FastifyInstance,
  listener: PortcullisPluginOptions['onKeySetEvent'],
): void {
  const stop = reportKeySetEventsOnce(fastify.server, listener, (event) => {
    const { level, message, keySet } = keySetEventReport(event)
    fastify.log[level]({ keySet }, message)
  })
  if (stop !== undefined) fastify.addHook('onClose', async () => stop())
}
