export {
  type AuthorizationResponse,
  type ClientAuthentication,
  type CompleteAuthorizationOptions,
  completeAuthorization,
  createPkce,
  OAuthResponseError,
  type PkcePair,
  requestToken,
  type TokenResponse,
} from './authorization-flow.js'
export {
  type DevIdp,
  type DevIdpEndpoints,
  type MachineTokenRequest,
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
  type ResolvedResource,
} from './options.js'
export type { StaticClients } from './provider-configuration.js'
