/**
 * The parts of oidc-provider's types that this package's public API names, declared structurally so
 * the published declarations import nothing from oidc-provider: its types pull in `@types/koa`,
 * which fails a consumer's type check (`skipLibCheck: false`) beside content-disposition 2's own
 * types. Cast `AuthorizationServer.provider` to oidc-provider's `Provider` for the rest.
 */

/** A record oidc-provider stores (its `AdapterPayload`). */
export type ProviderRecord = Record<string, unknown> & {
  uid?: string
  userCode?: string
  grantId?: string
  consumed?: unknown
}

/** oidc-provider's adapter interface (one model's store). */
export interface ProviderAdapter {
  upsert(id: string, payload: ProviderRecord, expiresIn?: number): Promise<void>
  find(id: string): Promise<ProviderRecord | undefined | void>
  findByUid(uid: string): Promise<ProviderRecord | undefined | void>
  findByUserCode(userCode: string): Promise<ProviderRecord | undefined | void>
  consume(id: string): Promise<void>
  destroy(id: string): Promise<void>
  revokeByGrantId(grantId: string): Promise<void>
}

/** oidc-provider's adapter factory: one store per model name. */
export type ProviderAdapterFactory = (name: string) => ProviderAdapter

/** What `AuthorizationServer.provider` is typed as: a part of oidc-provider's `Provider`. */
export interface ProviderInstance {
  readonly issuer: string
  urlFor(name: string, options?: Record<string, unknown>): string
  /** Adds Koa middleware (`ctx` is Koa's context with oidc-provider's `ctx.oidc`). */
  use(middleware: (ctx: any, next: () => Promise<unknown>) => unknown): unknown
  on(event: string, listener: (...args: any[]) => void): unknown
}
