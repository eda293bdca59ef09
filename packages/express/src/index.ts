import './types.js'
import { portcullis } from './portcullis.js'

export { protect, type RequireScopesArgs, requireScopes } from './guard.js'
export { type ExpressMcpRouteOptions, type McpRouter, mcpRoute } from './mcp-route.js'
export {
  type AuditListener,
  type PortcullisMiddleware,
  type PortcullisMiddlewareOptions,
  type PortcullisOptions,
  portcullis,
  type RejectionListener,
} from './portcullis.js'
export { verifiedAuth } from './verified-auth.js'

export default portcullis
