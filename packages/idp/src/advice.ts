import { decodeCompactJwt, type PortcullisError } from '@portcullis/core'
import type { IdpDescription } from './preset.js'

/** What to tell someone whose token was refused: a line for the client, the fix for the operator. */
export interface Advice {
  /** One sentence, short enough for a `WWW-Authenticate` error_description. */
  hint: string
  /** What to change, naming the IdP's own setting. */
  fix: string
}

/** A token as far as it can be read without verifying it. */
export interface PeekedToken {
  /** `jws`: a compact signed JWT; `jwe`: five parts, encrypted (RFC 7516 §7.1); `other`: opaque. */
  form: 'jws' | 'jwe' | 'other'
  header?: Record<string, unknown>
  claims?: Record<string, unknown>
}

/**
 * Reads a token's header and claims without verifying anything: only to explain a refusal
 * already decided. Never throws.
 *
 * @example
 * peekToken(token).claims?.aud // 'account'
 */
export function peekToken(token: string): PeekedToken {
  if (typeof token !== 'string') return { form: 'other' }
  if (token.split('.').length === 5) return { form: 'jwe' }
  try {
    const { header, payload } = decodeCompactJwt(token)
    return { form: 'jws', header, claims: payload }
  } catch {
    return { form: 'other' }
  }
}

/** Claim values quoted for a message: short, and never the token itself. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 120 ? `${text.slice(0, 120)}...` : text
}

const ENTRA_V1_HOST = 'sts.windows.net'
const GRAPH_AUDIENCES = ['00000003-0000-0000-c000-000000000000', 'https://graph.microsoft.com']

/**
 * The IdP-specific explanation of a refused token: what the token shows, and which console setting
 * produces the token this resource server expects. `undefined` when there is nothing to add.
 *
 * @example
 * const advice = adviceFor(preset.description, error, token)
 * log.warn({ fix: advice?.fix }, error.message)
 */
export function adviceFor(idp: IdpDescription, error: PortcullisError, token: string): Advice | undefined {
  const peeked = peekToken(token)
  switch (error.reason) {
    case 'token_malformed':
    case 'token_encrypted':
      return peeked.form === 'jws' ? undefined : notAJwt(idp, peeked.form)
    case 'issuer_mismatch':
    case 'issuer_untrusted':
      return issuerAdvice(idp, peeked.claims)
    case 'audience_mismatch':
      return audienceAdvice(idp, peeked.claims)
    case 'claim_missing':
      if (error.message.includes(`"${idp.audienceStrategy.type}"`)) return audienceAdvice(idp, peeked.claims)
      return {
        hint: `${idp.name} tokens are expected to carry ${idp.requiredClaims.join(', ')}`,
        fix: `The token lacks a required claim (${error.message}). Configure the IdP to issue it, or set requiredClaims to what it issues.`,
      }
    case 'token_type_invalid':
      return tokenTypeAdvice(idp, peeked.claims)
    case 'id_token_presented':
      return idTokenAdvice(idp)
    case 'token_sender_constrained':
      return senderConstrainedAdvice(idp, peeked.claims)
    case 'typ_invalid':
      return {
        hint: `the token's JOSE typ is ${show(peeked.header?.typ)}; send an access token`,
        fix:
          idp.typ === 'strict'
            ? 'RFC 9068 §4 access tokens carry typ "at+jwt". If this IdP types its access tokens "JWT", create the preset with typ: "lenient"; ID tokens and other JWTs are refused either way.'
            : 'ID tokens, logout tokens and other JWTs are not access tokens: the client must send the access token.',
      }
    case 'kid_unknown':
    case 'signature_invalid':
      // Keys are checked before claims: a token of another realm or tenant fails here first.
      if (typeof peeked.claims?.iss === 'string' && !idp.issuers.includes(peeked.claims.iss)) {
        return issuerAdvice(idp, peeked.claims)
      }
      if (error.reason === 'signature_invalid') return undefined
      return {
        hint: 'the signing key is not in the key set of the configured issuer',
        fix: `The token was signed with a key that ${idp.jwksUri ?? "the issuer's jwks_uri"} does not publish: it was probably issued by another ${idp.name === 'keycloak' ? 'realm' : idp.name === 'entra' ? 'tenant or cloud' : 'tenant or environment'}.`,
      }
    case 'token_expired':
      return {
        hint: 'get a new access token',
        fix: 'The token has expired. If fresh tokens are refused too, check the clocks of this host and of the IdP (clockTolerance is the leeway).',
      }
    default:
      return undefined
  }
}

function notAJwt(idp: IdpDescription, form: 'jwe' | 'other'): Advice {
  const what = form === 'jwe' ? 'an encrypted (JWE) token' : 'an opaque token'
  switch (idp.name) {
    case 'auth0': {
      const api = idp.audienceStrategy.values[0]
      // idp-realities §2: without an API audience Auth0 issues a token only good for /userinfo.
      return {
        hint: `Auth0 issued ${what}, which it does when no API audience is requested; request audience=${api}`,
        fix: `Auth0 issues a JWT for an API only when the authorization request names it: add audience=${api}, set the tenant's Default Audience to ${api}, or turn on Settings > Advanced > Resource Parameter Compatibility Profile so the MCP client's resource parameter selects the API whose Identifier is ${api}.`,
      }
    }
    case 'keycloak':
      if (idp.introspection !== undefined) break
      return {
        hint: `${what} is not a Keycloak access token this server can verify locally`,
        fix: 'Keycloak access tokens are signed JWTs. Send the access token (not the refresh token), or configure introspection with a confidential client to accept other tokens.',
      }
    default:
      break
  }
  return {
    hint: `${what} cannot be verified here: send a JWT access token issued for this resource`,
    fix: `This resource server verifies signed JWT access tokens locally. The client sent ${what}: a refresh token, or an access token meant for another service.`,
  }
}

function issuerAdvice(idp: IdpDescription, claims: Record<string, unknown> | undefined): Advice {
  const iss = claims?.iss
  const expected = idp.issuers.join(' or ')
  if (idp.name === 'entra' && typeof iss === 'string') {
    const v1 = iss.startsWith(`https://${ENTRA_V1_HOST}/`)
    const tid = typeof claims?.tid === 'string' ? claims.tid : undefined
    if (tid !== undefined && !(idp.tenants ?? []).includes(tid)) {
      // idp-realities §3 (Entra): multi-tenant issuers are checked against an allow-list of tenants.
      return {
        hint: `tokens of tenant ${tid} are not accepted`,
        fix: `The token comes from tenant ${tid}. Add it to allowedTenants if that organisation may call this server.`,
      }
    }
    if (v1 && idp.version === 2) {
      // idp-realities §3 (Entra): the API's registration picks the token version, not the client's endpoint.
      return {
        hint: 'the API issues v1 tokens (sts.windows.net issuer); set accessTokenAcceptedVersion to 2',
        fix: "The API's app registration issues v1 tokens: set accessTokenAcceptedVersion to 2 in its manifest (requestedAccessTokenVersion in the Graph API), or create the preset with version: 1.",
      }
    }
    if (!v1 && idp.version === 1) {
      return {
        hint: 'the API issues v2 tokens; create the preset with version: 2',
        fix: "The API's app registration issues v2 tokens (accessTokenAcceptedVersion 2): create the preset with version: 2.",
      }
    }
  }
  const slashOnly = typeof iss === 'string' && idp.issuers.some((e) => e === `${iss}/` || iss === `${e}/`)
  const slash = slashOnly ? ' They differ only by a trailing slash, which matters (RFC 8414 §3.3).' : ''
  const where =
    idp.name === 'keycloak'
      ? ' Keycloak builds iss from its hostname setting: a token obtained through another host name (container name, localhost) carries that name.'
      : idp.name === 'auth0'
        ? ' Auth0 issuers end with "/" and change with a custom domain: give the preset the domain clients sign in through.'
        : ''
  return {
    hint: `token iss is ${show(iss)}, expected ${expected}${slashOnly ? ' (they differ only by a trailing slash)' : ''}`,
    fix: `The token's issuer is ${show(iss)}; this server trusts ${expected}.${slash}${where}`,
  }
}

function audienceAdvice(idp: IdpDescription, claims: Record<string, unknown> | undefined): Advice {
  const { type, values } = idp.audienceStrategy
  const expected = values.join(' or ')
  const actual = claims?.[type]
  const got = actual === undefined ? `no ${type} claim` : `${type} ${show(actual)}`
  if (looksLikeIdToken(idp, claims)) {
    return {
      hint: `this looks like an ID token (${got}); send the access token`,
      fix: 'ID tokens are for the client that signed the user in (their aud is its client id). MCP requests carry the access token issued for this resource.',
    }
  }
  if (idp.name === 'cognito' && type === 'client_id' && claims?.aud !== undefined) {
    // Cognito resource binding (resource indicators): aud names the resource the token is for.
    return {
      hint: `token is bound to resource ${show(claims.aud)} (aud), not to this server`,
      fix: `Cognito put the resource the client asked for in aud. Clients must request resource=<this server's resource URL>; if ${show(claims.aud)} stands for this server, list it in the preset's audience.`,
    }
  }
  switch (idp.name) {
    case 'keycloak': {
      // idp-realities §1.2: aud is not the MCP server by default; an Audience mapper puts it there.
      const account =
        actual === 'account'
          ? ' aud "account" comes from the default roles client scope, not from this server.'
          : ''
      return {
        hint: `token has ${got}; Keycloak adds ${values[0]} to aud only through an Audience mapper`,
        fix: `In realm ${idp.realm ?? '(realm)'}, add an Audience protocol mapper with Included Custom Audience = ${values[0]} (exactly the resource URL clients send), either in a client scope the MCP clients request (Keycloak's MCP guide: optional scopes such as mcp:tools) or on the client itself.${account}`,
      }
    }
    case 'auth0':
      // Auth0 selects the API by its exact Identifier; aud carries that Identifier.
      return {
        hint: `token has ${got}; Auth0 sets aud to the Identifier of the API requested`,
        fix: `Auth0 puts the requested API's Identifier in aud. The API for this server must have the Identifier ${expected} (URL Identifiers are compared here in canonical form, so a trailing slash or the case of the host does not matter; Auth0 itself selects the API by the exact Identifier), and the client must request it (audience=${values[0]}, or resource= with the Resource Parameter Compatibility Profile). A token for another API of the tenant carries that API's Identifier.`,
      }
    case 'entra': {
      // idp-realities §3 (Entra): v2 aud = application (client) ID, v1 aud = App ID URI; Graph tokens are not ours.
      const graph = GRAPH_AUDIENCES.some((g) => actual === g || (Array.isArray(actual) && actual.includes(g)))
      // access-token-claims-reference, aud: v2 always the API's client ID; v1 the client ID or the resource URI requested.
      return {
        hint: graph
          ? 'this token is for Microsoft Graph; request a token for this API instead'
          : `token has ${got}; Entra sets aud to the API's ${idp.version === 1 ? 'application (client) ID or App ID URI' : 'application (client) ID'}`,
        fix: `Entra puts the API's application (client) ID in aud (v2 tokens always; v1 tokens carry it or the App ID URI, whichever the client requested); this server accepts ${expected}. Clients request scope=<App ID URI>/.default or a scope the API exposes (Expose an API); a token for another API carries that API's ID, and tokens for Microsoft Graph cannot be verified by other APIs.`,
      }
    }
    case 'okta':
      // idp-realities §3 (Okta): one fixed audience per custom authorization server.
      return {
        hint: `token has ${got}; Okta sets aud to the authorization server's Audience`,
        fix: `An Okta custom authorization server puts its single configured Audience in every token (api://default for the default server). Set it to ${values[0]}, or use one authorization server per MCP server; a token from another authorization server carries that server's audience.`,
      }
    case 'cognito':
      // idp-realities §3 (Cognito): no aud in access tokens; the app client is client_id.
      return {
        hint: `token has ${got}; the app client is not in clientIds`,
        fix: `Cognito access tokens are bound by client_id (the app client), and this server accepts ${expected}. If ${show(actual)} is an app client of this server, add it to clientIds.`,
      }
    default:
      return {
        hint: `token has ${got}; expected ${expected}`,
        fix:
          type === 'aud'
            ? `The authorization server sets aud from the resource the client requests (RFC 8707): clients must send resource=${values[0]}, and the server must know that resource.`
            : `Tokens are bound to clients here (${type}); this server accepts ${expected}.`,
      }
  }
}

function tokenTypeAdvice(idp: IdpDescription, claims: Record<string, unknown> | undefined): Advice {
  if (idp.name === 'cognito') {
    return {
      hint: `token_use is ${show(claims?.token_use)}; send the access token`,
      fix: 'Cognito ID tokens (token_use "id") carry the app client in aud and are not access tokens: the client must send the access token (token_use "access").',
    }
  }
  if (idp.name === 'keycloak') {
    return {
      hint: `Keycloak token typ is ${show(claims?.typ)}; send the access token (typ "Bearer")`,
      fix: 'Keycloak marks its tokens in the typ claim: access tokens "Bearer" (or "DPoP" when bound to a DPoP key), ID tokens "ID", refresh tokens "Refresh". The client must send the access token.',
    }
  }
  return { hint: 'send an access token', fix: 'The token is not an access token.' }
}

function idTokenAdvice(idp: IdpDescription): Advice {
  const hint = 'this is an ID token; send the access token'
  switch (idp.name) {
    case 'entra':
      return {
        hint,
        // Microsoft, id-tokens: "You shouldn't use an ID token to call an API."
        fix: `Entra ID tokens say who signed in to the client; they carry no ${idp.version === 1 ? 'appid' : 'azp'} and no scp. When client and API are one app registration the ID token's aud is the API's ID too, but Microsoft: "You shouldn't use an ID token to call an API." The client must send the access token it got for the API's scopes.`,
      }
    case 'cognito':
      return {
        hint,
        fix: 'Cognito ID tokens (token_use "id") carry the app client in aud and are not access tokens: the client must send the access token (token_use "access").',
      }
    case 'keycloak':
      return {
        hint,
        fix: 'Keycloak marks ID tokens typ "ID" in the payload; access tokens are typ "Bearer". The client must send the access token.',
      }
    default:
      return {
        hint,
        fix: 'ID tokens are for the client that signed the user in (OpenID Connect Core §2). MCP requests carry the access token issued for this resource.',
      }
  }
}

function senderConstrainedAdvice(idp: IdpDescription, claims: Record<string, unknown> | undefined): Advice {
  const cnf = claims?.cnf
  const dpop =
    claims?.typ === 'DPoP' || (typeof cnf === 'object' && cnf !== null && Object.hasOwn(cnf, 'jkt'))
  const binding = dpop ? 'a DPoP key' : 'a key or client certificate'
  // DPoP (RFC 9449) is checked by the gate when its `dpop` option allows it; a certificate binding
  // (RFC 8705) needs the TLS layer, which this server does not see.
  const hint = dpop
    ? "the client must send it with a DPoP proof to a gate whose dpop option is 'allowed' or 'required', or obtain a Bearer token"
    : `the client must obtain a Bearer token (a binding to ${binding} cannot be checked here)`
  if (idp.name === 'keycloak') {
    return {
      hint,
      // Keycloak DPoP guide: a DPoP proof at the token endpoint binds the token (typ "DPoP", cnf.jkt).
      fix: "Keycloak bound the token to the client's DPoP key (payload typ \"DPoP\", cnf.jkt) because the client sent a DPoP proof to the token endpoint or its client has DPoP required. Either set the gate's dpop option to 'allowed' (or 'required') so the client presents the token with a DPoP proof, or turn DPoP off for that client and let it send no DPoP proof.",
    }
  }
  if (idp.name === 'auth0') {
    return {
      hint,
      // Auth0 sender constraining: "you must also enforce it for the resource server".
      fix: "The client application has sender constraining (DPoP or mTLS) on, so Auth0 bound its tokens to a key. For DPoP, set the gate's dpop option to 'allowed' (or 'required'); for mTLS, which this server cannot check, turn sender constraining off for that application.",
    }
  }
  return {
    hint,
    fix: `The authorization server bound this token to ${binding} (RFC 9449 DPoP or RFC 8705 mutual TLS). ${dpop ? "Set the gate's dpop option to 'allowed' (or 'required') so the client presents it with a DPoP proof, or let the client obtain a plain Bearer token." : 'This server cannot check a certificate binding: the client must obtain a plain Bearer token.'}`,
  }
}

/**
 * ID tokens name the client that asked for them as audience (OIDC Core §2) and grant no scope.
 * Only a hint for the message: the refusal itself is already decided.
 */
function looksLikeIdToken(idp: IdpDescription, claims: Record<string, unknown> | undefined): boolean {
  if (claims === undefined) return false
  if (idp.name === 'keycloak' && claims.typ === 'ID') return true
  if (idp.name === 'cognito' && claims.token_use === 'id') return true
  const { aud, azp } = claims
  // Not for Entra: Microsoft's own v2 access-token sample has aud == azp (client and API in one registration).
  if (
    idp.name !== 'entra' &&
    typeof azp === 'string' &&
    (aud === azp || (Array.isArray(aud) && aud.length === 1 && aud[0] === azp))
  ) {
    return true
  }
  // OIDC Core §3.1.3.6: at_hash binds an ID token to its access token; access tokens never carry it.
  if (claims.at_hash !== undefined || claims.c_hash !== undefined) return true
  const grantsNothing = ['scope', 'scp', 'permissions', 'roles'].every((name) => claims[name] === undefined)
  return grantsNothing && typeof aud === 'string' && !/^https?:\/\//i.test(aud) && !aud.startsWith('api://')
}
