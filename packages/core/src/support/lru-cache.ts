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

/** An entry, linked into the recency list (newest first). */
interface Node<V> {
  readonly key: string
  readonly value: V
  readonly expiresAt: number
  newer: Node<V> | undefined
  older: Node<V> | undefined
}

export interface LruCacheOptions {
  /** Most entries held; the least recently used one is dropped past it. */
  maxEntries: number
  /** Clock in milliseconds (tests). */
  now?: () => number
}

/**
 * Recency is a linked list beside the Map, not the Map's insertion order: dropping the oldest key
 * of a Map means iterating from its front, which walks over every slot deleted since the table was
 * last rebuilt. For a full cache that evicts on every insert, that walk cost about 5 µs per insert
 * at 10,000 entries (0.2 µs at 100). The list drops the oldest entry in constant time.
 */
export class LruCache<V> implements CacheStore<V> {
  readonly #map = new Map<string, Node<V>>()
  #newest: Node<V> | undefined
  #oldest: Node<V> | undefined
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
    const node = this.#map.get(key)
    if (node === undefined) return undefined
    if (node.expiresAt <= this.#now()) {
      this.#remove(node)
      return undefined
    }
    // Mark as most recently used (the newest needs nothing: one hot key costs a lookup only).
    if (node !== this.#newest) {
      this.#unlink(node)
      this.#link(node)
    }
    return node.value
  }

  set(key: string, value: V, ttlMs: number): void {
    // Drop any older value first: a zero or negative TTL means "do not keep", never "keep the old one".
    const old = this.#map.get(key)
    if (old !== undefined) this.#remove(old)
    if (!(ttlMs > 0)) return
    const node: Node<V> = { key, value, expiresAt: this.#now() + ttlMs, newer: undefined, older: undefined }
    this.#map.set(key, node)
    this.#link(node)
    if (this.#map.size > this.#max) this.#remove(this.#oldest!)
  }

  delete(key: string): void {
    const node = this.#map.get(key)
    if (node !== undefined) this.#remove(node)
  }

  clear(): void {
    this.#map.clear()
    this.#newest = undefined
    this.#oldest = undefined
  }

  #remove(node: Node<V>): void {
    this.#map.delete(node.key)
    this.#unlink(node)
  }

  /** Puts a node at the newest end. */
  #link(node: Node<V>): void {
    node.older = this.#newest
    node.newer = undefined
    if (this.#newest !== undefined) this.#newest.newer = node
    else this.#oldest = node
    this.#newest = node
  }

  #unlink(node: Node<V>): void {
    if (node.newer !== undefined) node.newer.older = node.older
    else this.#newest = node.older
    if (node.older !== undefined) node.older.newer = node.newer
    else this.#oldest = node.newer
    node.newer = undefined
    node.older = undefined
  }
}
