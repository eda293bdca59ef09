export { type Advice, adviceFor, type PeekedToken, peekToken } from './advice.js'
export { type AudienceStrategy, audienceStrategySchema } from './audience-strategy.js'
export { type Auth0Options, auth0 } from './auth0.js'
export { type CognitoOptions, cognito } from './cognito.js'
export { type DiagnoseOptions, diagnose, type Finding } from './diagnose.js'
export { type EntraOptions, entra } from './entra.js'
export { explainedVerifier } from './explained-verifier.js'
export { type IntrospectionFallbackOptions, introspectionFallback } from './introspection-fallback.js'
export { type KeycloakIntrospectionOptions, type KeycloakOptions, keycloak } from './keycloak.js'
export { type DiagnosisLogger, type LogDiagnosisOptions, logDiagnosis } from './log-diagnosis.js'
export { type OidcOptions, oidc } from './oidc.js'
export { type OktaOptions, okta } from './okta.js'
export {
  type ClaimSources,
  type IdpDescription,
  type IdpName,
  type IdpPreset,
  isPreset,
  type PresetGateOptions,
  type PresetOverrides,
} from './preset.js'
