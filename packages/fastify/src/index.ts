import { portcullis } from './plugin.js'

export { mcpRoute } from './mcp-route.js'
export { registerMetadataRoutes } from './metadata-routes.js'
export { portcullis, portcullisMetadata } from './plugin.js'
export type { PortcullisOptions, PortcullisPluginOptions } from './plugin-options.js'
export { AUDIT_LOG_MESSAGE } from './reporters.js'
export type { RequireScopesArgs } from './types.js'

export default portcullis
