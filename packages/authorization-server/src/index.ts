export { type AuthorizationServer, createAuthorizationServer } from './authorization-server.js'
export type { AuthorizationServerComponentHealth, AuthorizationServerHealth } from './health.js'
export { type BrokerSecrets, loadBrokerSecrets, type ManagedKey } from './key-store.js'
export { memoryAdapter } from './memory-adapter.js'
export type {
  AuthorizationServerOptions,
  BrokerResourceOptions,
  MachineClientOptions,
  RoleScopeOptions,
  UpstreamOptions,
} from './options.js'
export type {
  ProviderAdapter,
  ProviderAdapterFactory,
  ProviderInstance,
  ProviderRecord,
} from './provider-types.js'
export type { UpstreamTokenSet } from './token-vault.js'
export { TokenVault } from './token-vault.js'
export type { UpstreamTokens } from './upstream-tokens.js'
