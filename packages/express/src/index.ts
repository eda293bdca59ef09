import './types.js'
import { gatehouse } from './gatehouse.js'

// The MCP route's options and the tool-declaration helpers live in core (shared with @gatehouse/fastify).
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
  principalBinding,
  type ScopedRegistrar,
  withScopes,
} from '@gatehouse/core'
export {
  type GatehouseMiddleware,
  type GatehouseMiddlewareOptions,
  type GatehouseOptions,
  gatehouse,
  protect,
  type RequireScopesArgs,
  requireScopes,
} from './gatehouse.js'
export { type ExpressMcpRouteOptions, type McpRouter, mcpRoute } from './mcp-route.js'
export type { RejectionListener } from './request-state.js'

export default gatehouse
