import type { DevIdp } from './dev-idp.js'

/** What the banner says beyond the running IdP itself. */
export interface BannerFacts {
  login: 'auto' | 'form'
  users: readonly string[]
  keysFile: string | undefined
}

/**
 * The start-up text for people: where the IdP is, which clients and secrets exist, and the exact
 * values an MCP server's protected-resource metadata (RFC 9728 §2) must carry. Never a token.
 *
 * @example
 * console.log(formatBanner(idp, { login: 'form', users: ['alice'], keysFile: '.dev-idp-keys.json' }))
 */
export function formatBanner(idp: DevIdp, facts: BannerFacts): string {
  const rows = (pairs: Array<[string, string | undefined]>) => {
    const width = Math.max(...pairs.map(([k]) => k.length))
    return pairs
      .filter((pair): pair is [string, string] => pair[1] !== undefined)
      .map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)
  }
  const { machine, resourceServer, public: publicClient } = idp.clients
  const login =
    facts.login === 'form'
      ? `sign-in form, any user name (users with roles: ${facts.users.join(', ')})`
      : `automatic, as login_hint or ${idp.defaultUser}`
  const lines = [
    `Portcullis dev IdP (${idp.shape}) on ${idp.url}`,
    '',
    ...rows([
      ['issuer', idp.issuer],
      ['OIDC discovery', idp.discoveryUrl],
      ['RFC 8414 metadata', idp.metadataUrl],
      ['JWKS', idp.endpoints.jwks],
      [
        'registration',
        idp.endpoints.registration === undefined
          ? 'none (no dynamic registration, no client metadata documents): static clients only'
          : `${idp.endpoints.registration} (open, CORS for loopback origins)`,
      ],
      [
        'client metadata',
        idp.clientIdMetadataDocuments
          ? 'accepted: an https URL as client_id (Client ID Metadata Documents)'
          : undefined,
      ],
      ['introspection', idp.endpoints.introspection],
      ['sign-in', login],
      [
        'signing keys',
        facts.keysFile ? `${facts.keysFile} (kept across restarts)` : 'in memory (new on restart)',
      ],
    ]),
    '',
    'Clients',
    ...rows([
      [
        'machine',
        `client_id=${machine.client_id} client_secret=${machine.client_secret} (client_credentials)`,
      ],
      [
        'resource server',
        `client_id=${resourceServer.client_id} client_secret=${resourceServer.client_secret} (introspection)`,
      ],
      [
        'public',
        `client_id=${publicClient.client_id} (authorization_code + PKCE; redirect ${publicClient.redirect_uris.join(', ')}, any loopback port)`,
      ],
    ]),
    '',
    'Users (roles decide what each may be granted; any other name signs in with none)',
    ...rows(
      idp.users.map((user) => [
        user,
        `roles ${idp.userRoles(user).join(', ') || '(none)'} -> ${idp.allowedScopes(user).join(' ') || 'nothing (invalid_scope)'}`,
      ]),
    ),
    '',
    'Resources',
    ...idp.resources.map(
      (r) =>
        `  ${r.resource}  ${r.format === 'jwt' ? 'JWT access tokens' : 'opaque access tokens (introspect)'}; scopes: ${r.scopes.join(' ')}`,
    ),
    '',
    'Configure each MCP server (RFC 9728 protected resource metadata):',
    ...idp.resources.flatMap((r) => [
      `  ${JSON.stringify({ resource: r.resource, authorization_servers: [idp.issuer] })}`,
      r.format === 'jwt'
        ? `    verify JWTs with ${idp.endpoints.jwks}`
        : `    introspect at ${idp.endpoints.introspection ?? '(no introspection endpoint in this shape)'} as ${resourceServer.client_id}`,
    ]),
    '',
  ]
  return lines.join('\n')
}
