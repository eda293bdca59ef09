import { onKeySetEvent } from '@portcullis/core'
import type { FastifyInstance } from 'fastify'

/** HTTP servers whose logger already reports key set events (once per server, not per scope). */
const keySetReporting = new WeakSet<object>()

/**
 * Logs the key set events of the process (see `onKeySetEvent`): while held keys serve after a
 * failed refresh, no request fails, so the log is where an outage of the key endpoint shows.
 */
export function reportKeySetEvents(fastify: FastifyInstance): void {
  if (keySetReporting.has(fastify.server)) return
  keySetReporting.add(fastify.server)
  const stop = onKeySetEvent(({ type, ...keySet }) => {
    if (type === 'key_ignored') {
      fastify.log.warn({ keySet }, 'a key of the authorization server is not used')
    } else if (type === 'refresh_failed') {
      fastify.log.warn({ keySet }, 'the signing keys of the authorization server could not be refreshed')
    } else {
      fastify.log.info({ keySet }, 'the signing keys of the authorization server were refreshed again')
    }
  })
  fastify.addHook('onClose', async () => {
    stop()
    keySetReporting.delete(fastify.server)
  })
}
