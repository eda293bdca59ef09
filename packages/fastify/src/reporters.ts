import { type Gate, onKeySetEvent } from '@portcullis/core'
import {
  type AdapterReporters,
  FAILED_MESSAGE,
  keySetEventReport,
  REJECTED_MESSAGE,
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

/** HTTP servers whose logger already reports key set events (once per server, not per scope). */
const keySetReporting = new WeakSet<object>()

/**
 * Reports the key set events of the process (see `onKeySetEvent`) to `listener`, or by default to
 * the server's log: while held keys serve after a failed refresh, no request fails, so the log is
 * where an outage of the key endpoint shows.
 */
export function reportKeySetEvents(
  fastify: FastifyInstance,
  listener: PortcullisPluginOptions['onKeySetEvent'],
): void {
  if (listener === false || keySetReporting.has(fastify.server)) return
  keySetReporting.add(fastify.server)
  const stop = onKeySetEvent(
    listener ??
      ((event) => {
        const { level, message, keySet } = keySetEventReport(event)
        fastify.log[level]({ keySet }, message)
      }),
  )
  fastify.addHook('onClose', async () => {
    stop()
    keySetReporting.delete(fastify.server)
  })
}
