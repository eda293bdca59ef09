import './types.js'
import { portcullis } from './portcullis.js'

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
