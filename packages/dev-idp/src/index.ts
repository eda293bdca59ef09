export {
  type AuthorizationResponse,
  type ClientAuthentication,
  type CompleteAuthorizationOptions,
  completeAuthorization,
  createPkce,
  OAuthResponseError,
  type PkcePair,
  readAuthorizationResponse,
  requestToken,
  type TokenResponse,
} from './authorization-flow.js'
export { CookieJar } from './cookie-jar.js'
export {
  type DevIdp,
  type DevIdpEndpoints,
  type MachineTokenRequest,
  type OidcProviderInstance,
  startDevIdp,
  type UserTokenRequest,
} from './dev-idp.js'
export { AUTH0_ROLES_CLAIM } from './idp-shapes.js'
export {
  type ClientIdMetadataDocumentOptions,
  DEFAULT_RESOURCE_SCOPES,
  DEFAULT_RESOURCES,
  DEFAULT_ROLES,
  DEFAULT_USERS,
  type DevIdpOptions,
  type DevIdpResourceOptions,
  type DevIdpShape,
  type DevIdpUser,
  type ProviderConfiguration,
  type ResolvedResource,
} from './options.js'
export type { StaticClients } from './static-clients.js'
