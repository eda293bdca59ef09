import type { KoaContextWithOIDC } from 'oidc-provider'

// RFC 6749 §4.1.2.1 and §5.2: what each error code means, for the answers that come without a description.
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  access_denied: 'the request was denied',
  invalid_request: 'the request is missing a parameter or is malformed',
  invalid_client: 'client authentication failed or the client is unknown',
  invalid_grant: 'the grant is invalid, expired, revoked or was issued to another client',
  unauthorized_client: 'this client may not use this grant or response type',
  unsupported_grant_type: 'the grant type is not supported',
  unsupported_response_type: 'the response type is not supported',
  invalid_scope: 'the requested scope is invalid, unknown or not allowed',
  invalid_target: 'the requested resource is invalid or unknown',
  server_error: 'the authorization server hit an unexpected condition',
  temporarily_unavailable: 'the authorization server is temporarily unavailable',
  login_required: 'the user must sign in',
  consent_required: 'the user must consent',
  interaction_required: 'the user must interact with the authorization server',
}

/** The error description of an error code: the standard meaning, or a generic sentence. */
export function describeError(error: string): string {
  return Object.hasOwn(DESCRIPTIONS, error) ? DESCRIPTIONS[error]! : `the request failed (${error})`
}

/** An error object with its `error_description` filled in when it had none. */
export function describedError<T extends { error?: unknown; error_description?: unknown }>(out: T): T {
  if (typeof out.error !== 'string' || typeof out.error_description === 'string') return out
  return { ...out, error_description: describeError(out.error) }
}

/**
 * oidc-provider middleware: every refusal carries an `error_description` (RFC 6749 §4.1.2.1, §5.2),
 * in a JSON body as in an error redirect to the client (query or fragment). oidc-provider leaves it
 * out of a few, e.g. `access_denied` when an authorization resolved without any scope.
 */
export async function describeRefusals(ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> {
  await next()
  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body) && 'error' in body) {
    ctx.body = describedError(body)
  }
  const location = ctx.response.get('location')
  if (ctx.status >= 300 && ctx.status < 400 && location && URL.canParse(location)) {
    const url = new URL(location)
    for (const part of ['search', 'hash'] as const) {
      const params = new URLSearchParams(url[part].slice(1))
      const error = params.get('error')
      if (error === null || params.has('error_description')) continue
      params.set('error_description', describeError(error))
      url[part] = params.toString()
      ctx.redirect(url.href)
    }
  }
}
