import type { IdpDescription } from './preset.js'

/**
 * What to change in an IdP's console when its published metadata stands in the way of MCP
 * clients. Facts from idp-realities (sections cited); where the IdP offers no setting, the text
 * says so instead of inventing one.
 */

/** Metadata found only at the OIDC path-appending URL (idp-realities §0.3, §5.3). */
export function pathAppendOnlyFix(idp: IdpDescription, insertionUrl: string): string {
  switch (idp.name) {
    case 'keycloak':
      // idp-realities §1.1, §1.5: RFC 8414 path insertion since Keycloak 26.4 (keycloak#40923).
      return `Upgrade Keycloak to 26.4 or later: it serves RFC 8414 metadata at ${insertionUrl}.`
    case 'entra':
      // idp-realities §3 (Entra): no RFC 8414 document.
      return 'Entra publishes only OpenID Connect discovery at the path-appending URL; there is no setting for it. Use MCP clients that follow the 2025-11-25 (or later) discovery order.'
    case 'okta':
      return 'Okta publishes its metadata at the path-appending URL (path insertion not checked for Okta). Use MCP clients that follow the 2025-11-25 (or later) discovery order.'
    default:
      return `Serve the authorization server metadata at ${insertionUrl} as well (RFC 8414 §3.1), e.g. from a reverse proxy in front of the authorization server.`
  }
}

/** Only `openid-configuration` at the root, no RFC 8414 document (idp-realities §0.3). */
export function oidcOnlyFix(idp: IdpDescription, rfc8414Url: string): string {
  switch (idp.name) {
    case 'auth0':
      // idp-realities §2: whether Auth0 serves RFC 8414 has varied [unverified].
      return 'Auth0 tenants publish OpenID Connect discovery; there is no setting for an RFC 8414 document. Use MCP clients that follow the 2025-11-25 (or later) discovery order.'
    case 'cognito':
      return 'Cognito publishes only openid-configuration; there is no setting for an RFC 8414 document. Use MCP clients that follow the 2025-11-25 (or later) discovery order.'
    default:
      return `Serve the metadata at ${rfc8414Url} as well (RFC 8414 §3), e.g. from a reverse proxy in front of the authorization server.`
  }
}

/** Neither dynamic registration nor Client ID Metadata Documents (idp-realities §5.6). */
export function registrationFix(idp: IdpDescription): string {
  switch (idp.name) {
    case 'auth0':
      // idp-realities §2: DCR is a tenant setting, off by default; DCR clients are third-party applications.
      return 'Turn on Dynamic Client Registration in the tenant settings (registered clients are third-party applications: promote the connections they sign in with to domain-level connections), or register each MCP client ahead of time, by hand or from its Client ID Metadata Document.'
    case 'entra':
      return 'Entra has no dynamic registration: create an app registration for each MCP client and configure the client with its application (client) ID.'
    case 'cognito':
      return 'Cognito has no dynamic registration: create an app client for each MCP client and add its id to clientIds.'
    case 'okta':
      // idp-realities §3 (Okta): DCR needs an admin API token.
      return "Okta's dynamic registration needs an admin API token, which MCP clients do not have: register each client ahead of time, or register its Client ID Metadata Document URL in Okta."
    case 'keycloak':
      return 'Keycloak serves dynamic registration at <issuer>/clients-registrations/openid-connect; if the metadata lacks it, check that the realm URL is right.'
    default:
      return 'Enable dynamic client registration (RFC 7591) or Client ID Metadata Documents on the authorization server, or register each MCP client ahead of time.'
  }
}

/** Registration is advertised, but the IdP restricts who may use it (idp-realities §1.4, §2). */
export function registrationPolicyNote(idp: IdpDescription): { message: string; fix: string } | undefined {
  switch (idp.name) {
    case 'keycloak':
      return {
        message:
          "Keycloak's anonymous client registration is limited by the realm's client registration policies: Trusted Hosts trusts no host by default (clients get 403 \"Policy 'Trusted Hosts' rejected request\"), and Allowed Client Scopes lets registered clients request only the realm's default client scopes",
        fix: "In the realm's anonymous client registration policies, add the MCP clients' hosts to Trusted Hosts and list the MCP client scopes (e.g. mcp:tools) under Allowed Client Scopes; or create Initial Access Tokens for authenticated registration. Browser clients (MCP Inspector) also need Allowed Registration Web Origins (Keycloak 26.5+).",
      }
    case 'auth0':
      return {
        message:
          "Auth0 registers dynamic clients as third-party applications: they can only use domain-level connections and are subject to the API's third-party user access policy",
        fix: "Promote the connections MCP users sign in with to domain-level connections (Management API), and allow third-party applications in the API's user access policy.",
      }
    default:
      return undefined
  }
}

/** A sample token that passed but carries none of the role claims (idp-realities §1.3). */
export function strippedTokenFix(idp: IdpDescription): string {
  if (idp.name === 'keycloak') {
    return 'Keycloak lightweight access tokens leave out realm_access and resource_access: turn on "Add to lightweight access token" for the roles mappers, stop issuing lightweight tokens to this client ("Always use lightweight access token"), or configure introspection (use: "fallback") with a confidential client.'
  }
  return `The token carries none of ${idp.claims.roles.map((p) => (typeof p === 'string' ? p : p.join('.'))).join(', ')}: configure the IdP to include the role claim, or point claims.roles at the claim it uses.`
}
