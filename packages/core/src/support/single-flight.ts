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
    // fn starts on the next microtask, after the promise is registered: a synchronous throw must
    // still clear the slot, or every later caller would get that stale rejection forever.
    const promise: Promise<V> = Promise.resolve()
      .then(fn)
      .finally(() => {
        if (this.#inFlight.get(key) === promise) this.#inFlight.delete(key)
      })
    this.#inFlight.set(key, promise)
    return promise
  }
}
