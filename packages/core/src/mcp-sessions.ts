/**
 * The Streamable HTTP sessions of one MCP route (2025-era `Mcp-Session-Id`), each bound to the
 * principal that created it. Bounded in count, per principal and in idle time: the oldest idle
 * session makes room, so a flood of `initialize` requests cannot grow memory without end.
 */

export interface McpSessionLimits {
  /** Most open sessions on the route. Default 1000. */
  maxSessions: number
  /** Most open sessions per principal; a new one closes that principal's least recently used. Default 20. */
  maxSessionsPerPrincipal: number
  /** A session unused this long is closed. Default 30 minutes. */
  idleTimeoutMs: number
}

export interface McpSession {
  readonly id: string
  /** `principalKey` of the caller that created the session. */
  readonly principal: string
  /** Closes the SDK transport and server of the session. */
  close(): Promise<void>
}

interface Entry<S> {
  session: S
  lastUsed: number
}

export class McpSessionStore<S extends McpSession = McpSession> {
  readonly #limits: McpSessionLimits
  readonly #now: () => number
  // Insertion order is recency order: `touch` moves an entry to the end.
  readonly #entries = new Map<string, Entry<S>>()
  readonly #timer: NodeJS.Timeout

  constructor(limits: McpSessionLimits, now: () => number = Date.now) {
    this.#limits = limits
    this.#now = now
    this.#timer = setInterval(() => this.sweep(), Math.max(1000, Math.min(limits.idleTimeoutMs / 2, 60_000)))
    this.#timer.unref()
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * The session with this id if `principal` created it. Another principal's session is reported
   * exactly like an unknown one (MCP security best practices, "Session Hijacking": bind the
   * session to the user and reject it for anyone else), so its existence leaks nothing.
   */
  find(id: string, principal: string): S | undefined {
    const entry = this.#entries.get(id)
    if (entry === undefined || entry.session.principal !== principal) return undefined
    if (this.#now() - entry.lastUsed > this.#limits.idleTimeoutMs) {
      this.#remove(id)
      return undefined
    }
    entry.lastUsed = this.#now()
    this.#entries.delete(id)
    this.#entries.set(id, entry)
    return entry.session
  }

  /** Adds a new session, closing the least recently used ones beyond the limits. */
  add(session: S): void {
    const ofPrincipal = [...this.#entries.values()].filter((e) => e.session.principal === session.principal)
    for (const stale of ofPrincipal.slice(
      0,
      Math.max(0, ofPrincipal.length - this.#limits.maxSessionsPerPrincipal + 1),
    )) {
      this.#remove(stale.session.id)
    }
    while (this.#entries.size >= this.#limits.maxSessions) {
      const oldest = this.#entries.keys().next().value
      if (oldest === undefined) break
      this.#remove(oldest)
    }
    this.#entries.set(session.id, { session, lastUsed: this.#now() })
  }

  /** Forgets a session that ended on its own (DELETE, transport closed). */
  forget(id: string): void {
    this.#entries.delete(id)
  }

  /** Closes the sessions idle longer than the limit. */
  sweep(): void {
    const cutoff = this.#now() - this.#limits.idleTimeoutMs
    for (const [id, entry] of this.#entries) if (entry.lastUsed < cutoff) this.#remove(id)
  }

  /** Closes every session and stops the idle sweep. */
  async closeAll(): Promise<void> {
    clearInterval(this.#timer)
    const sessions = [...this.#entries.values()].map((e) => e.session)
    this.#entries.clear()
    await Promise.allSettled(sessions.map((s) => s.close()))
  }

  #remove(id: string): void {
    const entry = this.#entries.get(id)
    if (entry === undefined) return
    this.#entries.delete(id)
    entry.session.close().catch(() => {})
  }
}
