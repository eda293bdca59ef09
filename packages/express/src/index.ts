import './types.js'
import { gatehouse } from './gatehouse.js'

export {
  type GatehouseMiddleware,
  type GatehouseMiddlewareOptions,
  type GatehouseOptions,
  gatehouse,
  protect,
  type RequireScopesArgs,
  requireScopes,
} from './gatehouse.js'
export type { RejectionListener } from './request-state.js'

export default gatehouse
