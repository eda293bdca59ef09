import { canonicalResource } from '@portcullis/core'
import type { ResolvedResource } from './options.js'

/**
 * The resources (MCP servers) the IdP issues tokens for, keyed by canonical URL. Resources can be
 * added while the IdP runs, so a test can start the IdP first and its MCP server on a free port after.
 */
export class ResourceRegistry {
  readonly #entries = new Map<string, ResolvedResource>()

  constructor(entries: readonly ResolvedResource[] = []) {
    for (const entry of entries) this.add(entry)
  }

  /** Adds or replaces a resource. Its `resource` must already be canonical. */
  add(entry: ResolvedResource): void {
    this.#entries.set(entry.resource, {
      ...entry,
      scopes: [...entry.scopes],
      baseScopes: [...entry.baseScopes],
    })
  }

  /**
   * The resource a `resource` parameter names: the exact value, or its canonical form, so
   * `http://localhost:3000/mcp/` finds `http://localhost:3000/mcp` (MCP clients differ on the slash).
   */
  find(indicator: string): ResolvedResource | undefined {
    const exact = this.#entries.get(indicator)
    if (exact) return exact
    try {
      return this.#entries.get(canonicalResource(indicator))
    } catch {
      return undefined
    }
  }

  /** The resource of a request that names none: the first JWT resource, else the first. */
  defaultResource(): ResolvedResource | undefined {
    const list = this.list()
    return list.find((r) => r.format === 'jwt') ?? list[0]
  }

  /** Every resource, in the order added. */
  list(): ResolvedResource[] {
    return [...this.#entries.values()].map((entry) => ({
      ...entry,
      scopes: [...entry.scopes],
      baseScopes: [...entry.baseScopes],
    }))
  }
}
