import { gatehouse } from './plugin.js'

export {
  gatehouseLogRedaction,
  gatehouseRequestSerializer,
  redactQueryTokens,
  type SerializedRequest,
} from './log-redaction.js'
export { registerMetadataRoutes } from './metadata-routes.js'
export { type GatehouseOptions, type GatehousePluginOptions, gatehouse, gatehouseMetadata } from './plugin.js'
export type { RequireScopesArgs } from './types.js'

export default gatehouse
