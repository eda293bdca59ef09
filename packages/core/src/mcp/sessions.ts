import { z } from 'zod'

/**
 * The Streamable HTTP sessions of one MCP route (2025-era `Mcp-Session-Id`), each bound to the
 * principal that created it. Bounded in count, per subject, per principal and in idle time, and
 * fair: one caller's new sessions only ever displace that caller's own, so a subject that opens
 * sessions without end (through as many dynamically registered clients as it likes) cannot close
 * anybody else's. When the table is full, only an idle session (no request open, unused for
 * `evictAfterIdleMs`) of whoever holds the most makes room; when none is idle the new session is
 * refused (503 with Retry-After) rather than a live one closed.
 */

export interface McpSessionLimits {
  /** Most open sessions on the route. Default 1000. */
  maxSessions: number
  /** Most open sessions per principal (issuer, subject, client); a new one closes that principal's least recently used. Default 20. */
  maxSessionsPerPrincipal: number
  /** Most open sessions per subject (issuer, subject), whatever the client; a new one closes that subject's least recently used. Default 50. */
  maxSessionsPerSubject: number
  /** A session unused this long is closed. Default 30 minutes. */
  idleTimeoutMs: number
  /** When the table is full, a session unused this long (and with no request open) may make room for another caller's. Default 60 s. */
  evictAfterIdleMs: number
}

export const DEFAULT_SESSION_LIMITS: Readonly<McpSessionLimits> = Object.freeze({
  maxSessions: 1000,
  maxSessionsPerPrincipal: 20,
  maxSessionsPerSubject: 50,
  idleTimeoutMs: 30 * 60_000,
  evictAfterIdleMs: 60_000,
})

/** The `sessions` option of an MCP route: limits over the defaults. */
export const sessionLimitsSchema = z.strictObject({
  maxSessions: z.number().int().min(1).max(1_000_000).optional(),
  maxSessionsPerPrincipal: z.number().int().min(1).max(10_000).optional(),
  maxSessionsPerSubject: z.number().int().min(1).max(100_000).optional(),
  idleTimeoutMs: z.number().int().min(1000).max(86_400_000).optional(),
  evictAfterIdleMs: z.number().int().min(0).max(86_400_000).optional(),
})

export interface McpSession {
  readonly id: string
  /** `principalKey` of the caller that created the session. */
  readonly principal: string
  /** `subjectKey` of that caller (default: the principal). */
  readonly subject?: string
  /** Closes the SDK transport and server of the session. */
  close(): Promise<void>
}

interface Entry<S> {
  session: S
  lastUsed: number
  /** Requests of the session being served (an open SSE stream counts until it ends). */
  open: number
}

/** The caller of a new session, as `admit` and `add` count it. */
export interface McpSessionOwner {
  principal: string
  subject?: string
}

export class McpSessionStore<S extends McpSession = McpSession> {
  readonly #limits: McpSessionLimits
  readonly #now: () => number
  // Insertion order is recency order: `find` moves an entry to the end.
  readonly #entries = new Map<string, Entry<S>>()
  readonly #timer: NodeJS.Timeout

  constructor(limits: Partial<McpSessionLimits>, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...limits }
    this.#now = now
    const { idleTimeoutMs } = this.#limits
    this.#timer = setInterval(() => this.sweep(), Math.max(1000, Math.min(idleTimeoutMs / 2, 60_000)))
    this.#timer.unref()
  }

  get size(): number {
    return this.#entries.size
  }

  /** The most sessions open at once (`maxSessions`). */
  get maxSessions(): number {
    return this.#limits.maxSessions
  }

  /**
   * The session with this id if `principal` created it. Another principal's session is reported
   * exactly like an unknown one (MCP security best practices, "Session Hijacking": bind the
   * session to the user and reject it for anyone else), so its existence leaks nothing.
   */
  find(id: string, principal: string): S | undefined {
    const entry = this.#entries.get(id)
    if (entry === undefined || entry.session.principal !== principal) return undefined
    if (entry.open === 0 && this.#now() - entry.lastUsed > this.#limits.idleTimeoutMs) {
      this.#remove(id)
      return undefined
    }
    entry.lastUsed = this.#now()
    this.#entries.delete(id)
    this.#entries.set(id, entry)
    return entry.session
  }

  /**
   * Marks a request of session `id` as being served until the returned function is called: a
   * session with an open request (a long SSE stream included) is live and never evicted.
   */
  track(id: string): () => void {
    const entry = this.#entries.get(id)
    if (entry === undefined) return () => {}
    entry.open++
    let done = false
    return () => {
      if (done) return
      done = true
      entry.open--
      entry.lastUsed = this.#now()
    }
  }

  /**
   * Makes room for one more session of `owner`: closes that caller's own least recently used
   * sessions beyond the per-principal and per-subject caps; if the table is still full, the
   * caller's own least recently used one, else the idle session of whoever holds the most. `undefined` when there is room; otherwise the seconds
   * until a session may become idle (the caller answers 503 with that Retry-After).
   */
  admit(owner: McpSessionOwner): number | undefined {
    const subject = owner.subject ?? owner.principal
    this.#trim((s) => s.principal === owner.principal, this.#limits.maxSessionsPerPrincipal)
    this.#trim((s) => (s.subject ?? s.principal) === subject, this.#limits.maxSessionsPerSubject)
    // Full: the caller's own least recently used session first, else someone's idle one.
    if (this.#entries.size >= this.#limits.maxSessions) {
      this.#trim((s) => (s.subject ?? s.principal) === subject, 1)
    }
    while (this.#entries.size >= this.#limits.maxSessions) {
      const victim = this.#idleVictim()
      if (victim === undefined) return this.#retryAfter()
      this.#remove(victim)
    }
    return undefined
  }

  /** Adds a new session within the limits (`admit`); a session there is no room for is closed at once. */
  add(session: S): boolean {
    if (this.admit(session) !== undefined) {
      session.close().catch(() => {})
      return false
    }
    this.#entries.set(session.id, { session, lastUsed: this.#now(), open: 0 })
    return true
  }

  /** Forgets a session that ended on its own (DELETE, transport closed). */
  forget(id: string): void {
    this.#entries.delete(id)
  }

  /** Closes the sessions idle longer than the limit. */
  sweep(): void {
    const cutoff = this.#now() - this.#limits.idleTimeoutMs
    for (const [id, entry] of this.#entries) if (entry.open === 0 && entry.lastUsed < cutoff) this.#remove(id)
  }

  /** Closes every session and stops the idle sweep. */
  async closeAll(): Promise<void> {
    clearInterval(this.#timer)
    const sessions = [...this.#entries.values()].map((e) => e.session)
    this.#entries.clear()
    await Promise.allSettled(sessions.map((s) => s.close()))
  }

  /** Closes the least recently used sessions that `mine` selects until one more fits under `cap`. */
  #trim(mine: (session: S) => boolean, cap: number): void {
    const own = [...this.#entries.values()].filter((e) => mine(e.session))
    for (const stale of own.slice(0, Math.max(0, own.length - cap + 1))) this.#remove(stale.session.id)
  }

  /** The least recently used idle session of the subject holding the most sessions. */
  #idleVictim(): string | undefined {
    const held = new Map<string, number>()
    for (const { session } of this.#entries.values()) {
      const subject = session.subject ?? session.principal
      held.set(subject, (held.get(subject) ?? 0) + 1)
    }
    const cutoff = this.#now() - this.#limits.evictAfterIdleMs
    let victim: Entry<S> | undefined
    let victimHeld = 0
    for (const entry of this.#entries.values()) {
      if (entry.open > 0 || entry.lastUsed > cutoff) continue
      const count = held.get(entry.session.subject ?? entry.session.principal) ?? 0
      // Recency order: the first idle one of a subject is its least recently used.
      if (count > victimHeld) {
        victim = entry
        victimHeld = count
      }
    }
    return victim?.session.id
  }

  /** Seconds until the first session without an open request becomes idle (at least 1). */
  #retryAfter(): number {
    let soonest = Number.POSITIVE_INFINITY
    for (const entry of this.#entries.values()) {
      if (entry.open === 0) soonest = Math.min(soonest, entry.lastUsed + this.#limits.evictAfterIdleMs)
    }
    const wait = Number.isFinite(soonest) ? Math.ceil((soonest - this.#now()) / 1000) : 30
    return Math.min(3600, Math.max(1, wait))
  }

  #remove(id: string): void {
    const entry = this.#entries.get(id)
    if (entry === undefined) return
    this.#entries.delete(id)
    entry.session.close().catch(() => {})
  }
}
