export interface Note {
  id: number
  text: string
  createdAt: string
}

export interface NotesStoreLimits {
  /** Most owners kept; the least recently active one is dropped for a new one. */
  maxOwners: number
  /** Most notes per owner. */
  maxNotesPerOwner: number
}

/**
 * Notes kept in memory, per owner. Bounded in owners and notes: a demo must not be a memory sink.
 */
export class NotesStore {
  readonly #limits: NotesStoreLimits
  // Map order is recency order: each access moves the owner to the end.
  readonly #owners = new Map<string, { next: number; notes: Note[] }>()

  constructor(limits: Partial<NotesStoreLimits> = {}) {
    this.#limits = { maxOwners: 10_000, maxNotesPerOwner: 100, ...limits }
  }

  list(owner: string): Note[] {
    return [...(this.#touch(owner, false)?.notes ?? [])]
  }

  add(owner: string, text: string): Note {
    const entry = this.#touch(owner, true)!
    if (entry.notes.length >= this.#limits.maxNotesPerOwner) {
      throw new Error(`A caller keeps at most ${this.#limits.maxNotesPerOwner} notes: clear some first`)
    }
    const note = { id: entry.next++, text, createdAt: new Date().toISOString() }
    entry.notes.push(note)
    return note
  }

  /** Removes the owner's notes and says how many there were. */
  clear(owner: string): number {
    const entry = this.#owners.get(owner)
    this.#owners.delete(owner)
    return entry?.notes.length ?? 0
  }

  #touch(owner: string, create: boolean) {
    let entry = this.#owners.get(owner)
    if (entry !== undefined) {
      this.#owners.delete(owner)
      this.#owners.set(owner, entry)
      return entry
    }
    if (!create) return undefined
    if (this.#owners.size >= this.#limits.maxOwners) {
      const oldest = this.#owners.keys().next().value
      if (oldest !== undefined) this.#owners.delete(oldest)
    }
    entry = { next: 1, notes: [] }
    this.#owners.set(owner, entry)
    return entry
  }
}
