import { gatehouse } from './plugin.js'

export {
  gatehouseLogRedaction,
  gatehouseRequestSerializer,
  redactQueryTokens,
  type SerializedRequest,
} from './log-redaction.js'
export {
  type McpFactoryContext,
  type McpNodeHandler,
  type McpRouteFactory,
  type McpRouteOptions,
  type McpServerFactory,
  type McpServerLike,
  type McpTransportClass,
  type McpTransportLike,
  mcpRoute,
} from './mcp-route.js'
export { authInfoFrom, principalBinding, type ScopedRegistrar, withScopes } from './mcp-scopes.js'
export type { McpSessionLimits } from './mcp-sessions.js'
export { registerMetadataRoutes } from './metadata-routes.js'
export { type GatehouseOptions, type GatehousePluginOptions, gatehouse, gatehouseMetadata } from './plugin.js'
export type { RequireScopesArgs } from './types.js'

export default gatehouse
