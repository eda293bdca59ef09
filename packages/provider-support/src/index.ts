export { escapeHtml, htmlPage } from './html-page.js'
export {
  finishInteraction,
  type InteractionDetailsOf,
  type InteractionProvider,
  routeInteraction,
  type SendPage,
} from './interaction-route.js'
export {
  type PrivateJsonFile,
  type PrivateJsonFileLabels,
  type PrivateJsonFileOptions,
  privateJsonFile,
} from './private-json-file.js'
export {
  htmlErrorRenderer,
  lifetimeSeconds,
  MCP_FALLBACK_ROUTES,
  ownTokensOnly,
  type ProviderLifetimes,
  type TokenLifetimes,
  tokenLifetimes,
} from './provider-defaults.js'
export {
  dropRegisteredScope,
  MAX_FORM_BYTES,
  MAX_PROVIDER_BODY_BYTES,
  readBoundedBody,
  readForm,
  replayBody,
} from './provider-request-body.js'
export { generateSigningKey, randomSecret } from './signing-key.js'
