import { portcullis } from './plugin.js'

// The MCP route's options, the tool-declaration helpers and the log redaction live in core (shared with @portcullis/express).
export {
  authInfoFrom,
  type McpFactoryContext,
  type McpNodeHandler,
  type McpRouteFactory,
  type McpRouteOptions,
  type McpServerFactory,
  type McpServerLike,
  type McpSessionLimits,
  type McpTransportClass,
  type McpTransportLike,
  portcullisLogRedaction,
  portcullisRequestSerializer,
  principalBinding,
  redactQueryTokens,
  type ScopedRegistrar,
  type SerializedRequest,
  withScopes,
} from '@portcullis/core'
export { mcpRoute } from './mcp-route.js'
export { registerMetadataRoutes } from './metadata-routes.js'
export { portcullis, portcullisMetadata } from './plugin.js'
export type { PortcullisOptions, PortcullisPluginOptions } from './plugin-options.js'
export { AUDIT_LOG_MESSAGE } from './reporters.js'
export type { RequireScopesArgs } from './types.js'

export default portcullis
