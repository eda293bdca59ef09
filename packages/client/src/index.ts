export type {
  AccessToken,
  GrantIdentity,
  TokenContext,
  TokenProvider,
} from './access-token.js'
export { type AuthFetch, type AuthFetchOptions, authFetch } from './auth-fetch.js'
export { type ClientCredentialsOptions, clientCredentials } from './client-credentials.js'
export { type TokenErrorKind, TokenRequestError, type TokenRequestErrorDetails } from './errors.js'
export { type FileTokenStoreOptions, fileTokenStore } from './file-token-store.js'
export type { ClientPrivateKey, GrantOptions, TokenEndpointAuthMethod } from './grant-options.js'
export { type RefreshTokenOptions, refreshToken } from './refresh-token.js'
export {
  type StoredOAuthClientProvider,
  type StoredOAuthClientProviderOptions,
  storedOAuthClientProvider,
} from './sdk-oauth-provider.js'
export { grantKey, memoryTokenStore, type StoredGrant, type TokenStore } from './token-store.js'
