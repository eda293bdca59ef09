import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { IgnoredKey } from './key-set.js'

/**
 * What a remote key set reports about fetching its document. A failed refresh does not fail
 * requests while held keys last (stale-if-error), so without this report an outage of the
 * authorization server's key endpoint would go unseen until the keys run out.
 */
export interface KeySetEvent {
  /**
   * `refresh_failed` after each failed fetch; `refresh_recovered` on the first success after one;
   * `key_ignored` the first time a key of the document is left out (weak, unsuitable), once per
   * key set, kid and reason.
   */
  type: 'refresh_failed' | 'refresh_recovered' | 'key_ignored'
  jwksUri: string
  /** Why the fetch failed (`refresh_failed` only). Never contains a token. */
  error?: string
  /** Usable keys held after the attempt. */
  keys: number
  /** The held keys are past their lifetime and in use only because refreshing failed. */
  stale: boolean
  /** The key left out and why (`key_ignored` only). */
  ignored?: IgnoredKey
}

/** The `node:diagnostics_channel` name key sets publish `KeySetEvent`s on. */
export const KEY_SET_CHANNEL = 'portcullis:key-set'

const keySetChannel = channel(KEY_SET_CHANNEL)

/** Publishes a key set event; costs nothing when nobody listens. */
export function publishKeySetEvent(event: KeySetEvent): void {
  if (keySetChannel.hasSubscribers) keySetChannel.publish(event)
}

/**
 * Listens to the events of every remote key set of the process (`jwksKeySet`, including those a
 * `jwtVerifier` makes); returns the function that stops listening. The Fastify plugin logs them;
 * call it to report them elsewhere.
 *
 * @example
 * const stop = onKeySetEvent((event) => {
 *   if (event.type === 'refresh_failed') console.warn(`key set ${event.jwksUri}: ${event.error}`)
 * })
 */
export function onKeySetEvent(listener: (event: KeySetEvent) => void): () => void {
  return subscribeSafely(KEY_SET_CHANNEL, listener)
}

/**
 * Subscribes to a diagnostics channel; a listener that throws is ignored (reporting is best
 * effort and must not break the code that published). Returns the function that unsubscribes.
 */
export function subscribeSafely<T>(name: string, listener: (event: T) => void): () => void {
  const onMessage = (message: unknown) => {
    try {
      listener(message as T)
    } catch {
      // ignored: reporting is best effort
    }
  }
  subscribe(name, onMessage)
  return () => {
    unsubscribe(name, onMessage)
  }
}
