import { type KeySetEvent, onKeySetEvent } from '@portcullis/core'

/** Hears the key set events of the process (`onKeySetEvent` of core). */
export type KeySetListener = (event: KeySetEvent) => void

const subscribed = new WeakSet<KeySetListener>()

/**
 * Where a failed key set refresh shows: held keys keep serving (stale-if-error), so no request
 * fails and nothing else would tell. `@portcullis/fastify` logs these events; Express has no logger,
 * so by default they are printed, once per process however many middlewares there are.
 */
export function reportKeySetEvents(listener: KeySetListener | false | undefined): void {
  if (listener === false) return
  const target = listener ?? printKeySetEvent
  // Express has no shutdown hook to unsubscribe in: subscribe each listener once for the process.
  if (subscribed.has(target)) return
  subscribed.add(target)
  onKeySetEvent(target)
}

function printKeySetEvent({ type, ...keySet }: KeySetEvent): void {
  if (type === 'key_ignored') {
    console.warn('@portcullis/express: a key of the authorization server is not used', keySet)
  } else if (type === 'refresh_failed') {
    console.warn(
      '@portcullis/express: the signing keys of the authorization server could not be refreshed',
      keySet,
    )
  } else {
    console.info(
      '@portcullis/express: the signing keys of the authorization server were refreshed again',
      keySet,
    )
  }
}
