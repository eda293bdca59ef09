import './types.js'
import { portcullis } from './portcullis.js'

// The MCP route's options, the tool-declaration helpers and the log redaction live in core (shared with @portcullis/fastify).
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
export { protect, type RequireScopesArgs, requireScopes } from './guard.js'
export { type ExpressMcpRouteOptions, type McpRouter, mcpRoute } from './mcp-route.js'
export {
  type PortcullisMiddleware,
  type PortcullisMiddlewareOptions,
  type PortcullisOptions,
  portcullis,
} from './portcullis.js'
export type { AuditListener, RejectionListener } from './request-state.js'
export { verifiedAuth } from './verified-auth.js'

export default portcullis
