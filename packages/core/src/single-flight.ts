/**
 * Coalesces concurrent calls with the same key into one: N callers waiting on the same key share
 * one promise, so N concurrent requests for the same token or key set make one outbound call.
 */
export class SingleFlight<V> {
  readonly #inFlight = new Map<string, Promise<V>>()

  get pending(): number {
    return this.#inFlight.size
  }

  run(key: string, fn: () => Promise<V>): Promise<V> {
    const existing = this.#inFlight.get(key)
    if (existing !== undefined) return existing
    const promise = (async () => {
      try {
        return await fn()
      } finally {
        this.#inFlight.delete(key)
      }
    })()
    this.#inFlight.set(key, promise)
    return promise
  }
}
