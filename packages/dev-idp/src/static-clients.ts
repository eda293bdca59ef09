// The static clients as the public API shows them, apart from provider-configuration.ts so the
// published declarations never import oidc-provider's types (see DevIdp.provider).

/** The pre-registered clients every dev IdP has. */
export interface StaticClients {
  /** Confidential client for the client-credentials grant (machine to machine). */
  machine: { client_id: string; client_secret: string }
  /** Confidential client a resource server uses to introspect tokens (RFC 7662). */
  resourceServer: { client_id: string; client_secret: string }
  /** Public native client for the authorization-code flow with PKCE; loopback redirects on any port. */
  public: { client_id: string; redirect_uris: string[] }
}
