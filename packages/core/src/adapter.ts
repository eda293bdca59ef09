// `@portcullis/core/adapter`: the building blocks the Fastify and Express adapters and Portcullis's
// other packages share (request reading, CORS decisions, option schemas, MCP body inspection,
// caches). Not an application API: names here may change in any minor release.

export { type DpopNonces, dpopNonces } from './dpop/nonce.js'
export { dpopSettingSchema } from './dpop/options.js'
export { dpopProofId } from './dpop/replay.js'
export { dpopHeaders } from './dpop/request.js'
export {
  type AdapterOptions,
  type AdapterSetup,
  adapterOptionsShape,
  gateFromAdapterOptions,
  gateOption,
  listenerSchema,
  publicOptionSchema,
  type RoutesMode,
  reportKeySetEventsOnce,
} from './gate/adapter-options.js'
export {
  type AdapterReporters,
  type Admission,
  type Answering,
  admit,
  applyAdmission,
  authenticateAndAdmit,
  FAILED_MESSAGE,
  gateInput,
  keySetEventReport,
  REJECTED_MESSAGE,
  type Rejection,
  reportMcpReply,
  reportRejection,
  scopeRefusal,
} from './gate/adapter-reports.js'
export {
  answersPreflight,
  applyCorsBeside,
  applyExposeHeadersAtSend,
  CORS_ALLOWED_HEADERS,
  CORS_EXPOSED_HEADERS,
  type CorsHeadersSoFar,
  type CorsPolicy,
  corsHeadersBeside,
  corsPolicy,
  exposeHeadersAtSend,
  type HeaderAccess,
  type HeaderValue,
  isPreflight,
  mergeHeaderList,
  PUBLIC_DOCUMENT_ALLOWED_HEADERS,
  publicDocumentPreflight,
} from './gate/cors-policy.js'
export { authenticationAuditEvent, rejectionAuditEvent, stepUpAuditEvent } from './gate/gate-audit.js'
export { gateOptionsSchema, gateSchema } from './gate/gate-options.js'
export {
  authorizationHeaders,
  parseScopeArgs,
  parseScopeRequirement,
  type ScopeArgs,
} from './gate/gate-support.js'
export {
  type LevelLogger,
  type LevelOrListeners,
  LOG_LEVELS,
  type LoggingAdapterOptions,
  type LogLevelName,
  levelOrListenerSchema,
  levelReporters,
  loggingAdapterOptionsShape,
  logKeySetEvents,
  printFailures,
  printKeySetEvents,
} from './gate/log-reporters.js'
export { guardNodeRequest, type NodeNext, nodeScopeGuard, verifiedCaller } from './gate/node-guard.js'
export {
  answerPreflight,
  handOver,
  type NodeRequest,
  nodeAnswering,
  type SdkAuthInfo,
  sendMetadata,
  sendReply,
} from './gate/node-reply.js'
export {
  bindingIn,
  bindingOf,
  bindingSeen,
  callerAccessor,
  type GateBinding,
  gatesSeen,
  keepBinding,
  keptBinding,
  markVerified,
  type RequestState,
  rememberGate,
  requestStateOf,
  verifiedAuthBy,
  verifiedAuthOf,
  verifiedBy,
} from './gate/request-state.js'
export {
  decideRoute,
  publicPathMatcher,
  type RouteDecision,
  type RouteDeclaration,
} from './gate/route-decision.js'
export { addRouteMethods, FALLBACK_METHODS, RouteMethodsBook } from './gate/route-methods.js'
export { createMcpEndpoint } from './mcp/endpoint.js'
export { isMcpEventStore, sessionEventStore } from './mcp/event-store.js'
export { type HostOptions, hostServer } from './mcp/hosting.js'
export {
  LISTS,
  type ListKind,
  type McpListing,
  type McpListingPolicy,
  mcpListingPolicy,
} from './mcp/listing.js'
export { MCP_CLIENT_METHODS, type McpMethodClass, type McpNamed, targetsOf } from './mcp/methods.js'
export { type Principal, principalKey, principalOf, subjectKey } from './mcp/principal.js'
export {
  type McpDecision,
  type McpEndpoint,
  type McpEndpointRequest,
  mcpRouteOptionsSchema,
} from './mcp/route-options.js'
export {
  DEFAULT_MAX_BATCH,
  type InspectOptions,
  inspectMcpBody,
  type McpBody,
  type McpMessage,
  type McpScopeCheck,
  type McpScopeRules,
  type McpScopeRulesOptions,
  type McpTarget,
  mcpScopeRules,
  messageTargets,
} from './mcp/scope-rules.js'
export {
  McpSdkInternalsError,
  type McpSdkLine,
  mcpSdkLineOf,
  supportsScopeChallenge,
  wrapRequestHandlers,
} from './mcp/sdk-compat.js'
export { serveMcp } from './mcp/serve-node.js'
export {
  DEFAULT_SESSION_LIMITS,
  type McpSession,
  type McpSessionOwner,
  McpSessionStore,
  sessionLimitsSchema,
} from './mcp/sessions.js'
export { isUriTemplate, type UriTemplateMatcher, uriTemplateMatcher } from './mcp/uri-template.js'
export {
  type BearerResult,
  DEFAULT_MAX_TOKEN_LENGTH,
  FORM_MEDIA_TYPE,
  formBodyToken,
  isFormContentType,
  mayCarryFormToken,
  type ReadBearerInput,
  readBearer,
  requestFormToken,
} from './oauth/bearer.js'
export {
  type BearerChallengeParams,
  bearerChallenge,
  type DpopChallengeParams,
  dpopChallenge,
  MAX_ERROR_DESCRIPTION_LENGTH,
} from './oauth/challenge.js'
export {
  audienceResource,
  isLoopbackHost,
  resourceUrlSchema,
  sameResource,
  secureUrlProblem,
} from './oauth/resource.js'
export {
  isScopeToken,
  OFFLINE_ACCESS,
  scopePolicy,
  scopeRequirementSchema,
  scopesFromClaims,
  scopeTokenSchema,
} from './oauth/scopes.js'
export { deepFreeze } from './support/deep-freeze.js'
export { parseOptions } from './support/options.js'
export { SingleFlight } from './support/single-flight.js'
export { auditCaller, auditEvent, auditing, publishAudit } from './telemetry/audit.js'
export { clockToleranceSchema } from './token/clock-tolerance.js'
export { denyListWait } from './token/deny-list.js'
export { publishKeySetEvent, subscribeSafely } from './token/key-set-events.js'
export { claimPathSchema } from './token/scope-mapper.js'
export { dpopBinding } from './token/sender-constraint.js'
export { TokenCache, tokenCacheOptionsSchema } from './token/token-cache.js'
