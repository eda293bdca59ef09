import type { ComponentHealth } from '../telemetry/health.js'

/** How the endpoint answered lately, for health reports: no extra calls are made to find out. */
export class LastSeen {
  #okAt: number | undefined
  #failingSince: number | undefined
  #error: string | undefined

  succeeded(): void {
    this.#okAt = Date.now()
    this.#failingSince = undefined
    this.#error = undefined
  }

  failed(problem: string): void {
    this.#failingSince ??= Date.now()
    this.#error = problem
  }

  health(name: string): ComponentHealth {
    const base = { component: 'introspection' as const, name }
    if (this.#failingSince !== undefined) {
      return {
        ...base,
        status: 'down',
        since: new Date(this.#failingSince).toISOString(),
        detail: this.#error ?? '',
      }
    }
    if (this.#okAt === undefined) return { ...base, status: 'unknown', detail: 'not called yet' }
    return { ...base, status: 'ok', since: new Date(this.#okAt).toISOString(), detail: 'last call answered' }
  }
}
