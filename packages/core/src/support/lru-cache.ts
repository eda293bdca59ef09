/**
 * A bounded least-recently-used cache whose entries also expire. Every cache in Portcullis is one of
 * these (or a store with the same interface), so no cache grows without bound.
 */
export interface CacheStore<V> {
  get(key: string): V | undefined
  set(key: string, value: V, ttlMs: number): void
  delete(key: string): void
  clear(): void
  readonly size: number
}

/** How full a bounded cache is: for `stats()` and soak tests. */
export interface CacheStats {
  entries: number
  maxEntries: number
}

interface Entry<V> {
  value: V
  expiresAt: number
}

export interface LruCacheOptions {
  /** Most entries held; the least recently used one is dropped past it. */
  maxEntries: number
  /** Clock in milliseconds (tests). */
  now?: () => number
}

export class LruCache<V> implements CacheStore<V> {
  readonly #map = new Map<string, Entry<V>>()
  /** The most recently used key: reading it again needs no reordering. */
  #newest: string | undefined
  readonly #max: number
  readonly #now: () => number

  constructor(options: LruCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new TypeError('LruCache: maxEntries must be a positive integer')
    }
    this.#max = options.maxEntries
    this.#now = options.now ?? Date.now
  }

  get size(): number {
    return this.#map.size
  }

  get maxEntries(): number {
    return this.#max
  }

  get(key: string): V | undefined {
    const entry = this.#map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.#now()) {
      this.#map.delete(key)
      return undefined
    }
    // Re-insert to mark as most recently used (Map keeps insertion order); a delete and a set per
    // read would make a small Map rebuild its table every few reads of one hot key.
    if (key !== this.#newest) {
      this.#map.delete(key)
      this.#map.set(key, entry)
      this.#newest = key
    }
    return entry.value
  }

  set(key: string, value: V, ttlMs: number): void {
    // Drop any older value first: a zero or negative TTL means "do not keep", never "keep the old one".
    this.#map.delete(key)
    if (!(ttlMs > 0)) return
    this.#map.set(key, { value, expiresAt: this.#now() + ttlMs })
    this.#newest = key
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value as string
      this.#map.delete(oldest)
    }
  }

  delete(key: string): void {
    this.#map.delete(key)
  }

  clear(): void {
    this.#map.clear()
  }
}
