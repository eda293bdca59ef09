// The workspace's shared test kit: tokens, issuers, MCP clients and servers that tests of every
// package use. Private (never published); imported by name, so no test reaches into another
// package's folder.
export { type InMemoryTelemetry, inMemoryTelemetry } from './in-memory-telemetry.js'
export {
  CLIENT_ID,
  CLIENT_SECRET,
  type EndpointMode,
  type IntrospectionServer,
  introspectionServer,
} from './introspection-server.js'
export { type JwksIssuer, startJwksIssuer } from './jwks-issuer.js'
export { libraryServer, text, type WithScopes } from './library-server.js'
export {
  freePort,
  type Handler,
  type LoopbackServer,
  loopbackServer,
  refusedPort,
  rejectionOf,
  sendJson,
  sleep,
} from './loopback-server.js'
export {
  callTool,
  clientV1,
  connectV1,
  connectV2,
  type Exchange,
  mcpMessages,
  mcpPost,
  recordingFetch,
  toolNames,
} from './mcp-clients.js'
export { type McpRouteCaseOptions, type McpRouteHarness, mcpRouteCases } from './mcp-route-cases.js'
export { type RedisServer, redisServer } from './redis-server.js'
export {
  type Claims,
  type MintOptions,
  type SigningAlg,
  type TokenSigner,
  type TokenSignerOptions,
  tokenSigner,
} from './token-signer.js'
export {
  ISSUER,
  METADATA_URL,
  NOTES_METADATA_DOCUMENT,
  type NotesVerifierOptions,
  notesGateOptions,
  RESOURCE,
  type TokenKit,
  tokenKit,
} from './tokens.js'
