import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  finishInteraction,
  type InteractionDetailsOf,
  MAX_FORM_BYTES,
  readForm,
  routeInteraction,
} from '@portcullis/provider-support'
import type Provider from 'oidc-provider'
import type { InteractionResults } from 'oidc-provider'
import { loginPage, messagePage } from './pages.js'
import type { RoleScopes } from './role-scopes.js'

type InteractionDetails = InteractionDetailsOf<Provider>

/** What the interaction routes need to know. */
export interface InteractionSettings {
  provider: Provider
  /** Path the issuer adds to the origin, without a trailing slash ('' or '/realms/x'). */
  mountPath: string
  login: 'auto' | 'form'
  defaultUser: string
  knownUsers: readonly string[]
  roleScopes: RoleScopes
  /** The scopes a resource offers, by indicator as the request named it. */
  resourceScopes(indicator: string): readonly string[]
}

const MAX_USER_NAME = 200

/**
 * The login and consent steps oidc-provider hands over to the host application. In `auto` mode
 * the user named by `login_hint` (OIDC Core §3.1.2.1), or the default user, signs in without a
 * page; in `form` mode a person types a user name, on a page that shows what each user would be
 * granted. Consent grants what the user's roles allow of what was asked.
 * Returns false when the path is not an interaction route.
 */
export async function handleInteraction(
  settings: InteractionSettings,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  return routeInteraction(settings.provider, req, res, path, sendPage, (details) =>
    step(settings, req, res, details),
  )
}

/** The step the interaction's prompt asks for; false when the request is not one it expects. */
async function step(
  settings: InteractionSettings,
  req: IncomingMessage,
  res: ServerResponse,
  details: InteractionDetails,
): Promise<boolean> {
  const prompt = details.prompt.name
  if (req.method === 'GET' && prompt === 'login') {
    if (settings.login === 'form') {
      sendLoginForm(settings, res, details)
      return true
    }
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint.trim() : ''
    const problem = userNameProblem(hint)
    if (hint !== '' && problem) {
      await finish(settings, req, res, {
        error: 'invalid_request',
        error_description: `login_hint ${problem}`,
      })
      return true
    }
    await finish(settings, req, res, { login: { accountId: hint || settings.defaultUser } })
    return true
  }
  if (req.method === 'POST' && prompt === 'login') {
    const form = await readForm(req)
    if (form === undefined) {
      sendPage(res, 413, 'Form too large', {
        problem: `the sign-in form is limited to ${MAX_FORM_BYTES} bytes`,
      })
      return true
    }
    if (form.get('deny') !== null) {
      await finish(settings, req, res, {
        error: 'access_denied',
        error_description: 'the user denied the request',
      })
      return true
    }
    const login = (form.get('login') ?? '').trim()
    const problem = userNameProblem(login) ?? (login === '' ? 'is empty' : undefined)
    if (problem) {
      sendPage(res, 400, 'Invalid user name', { problem: `the user name ${problem}` })
      return true
    }
    await finish(settings, req, res, { login: { accountId: login } })
    return true
  }
  if (req.method === 'GET' && prompt === 'consent') {
    await grantConsent(settings, req, res, details)
    return true
  }
  return false
}

/**
 * Consent as the user's roles decide it: OIDC scopes and claims as asked, and of each resource's
 * requested scopes those the roles allow; the rest are recorded as rejected, so the token carries
 * the allowed subset. When a request asked for resource scopes and none is allowed, the answer is
 * `invalid_scope` (RFC 6749 §4.1.2.1), never a token with nothing or with everything.
 */
async function grantConsent(
  settings: InteractionSettings,
  req: IncomingMessage,
  res: ServerResponse,
  details: InteractionDetails,
): Promise<void> {
  const { provider, roleScopes } = settings
  const accountId = details.session?.accountId ?? settings.defaultUser
  const clientId = details.params.client_id as string
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined
  const grant = existing ?? new provider.Grant({ accountId, clientId })
  const missing = details.prompt.details as {
    missingOIDCScope?: string[]
    missingOIDCClaims?: string[]
    missingResourceScopes?: Record<string, string[]>
  }
  if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims)
  const refused: string[] = []
  let askedForResourceScopes = false
  let granted = false
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    askedForResourceScopes ||= scopes.length > 0
    const allowed = roleScopes.allowed(accountId, scopes)
    const rejected = scopes.filter((scope) => !allowed.includes(scope))
    if (allowed.length > 0) grant.addResourceScope(indicator, allowed.join(' '))
    if (rejected.length > 0) grant.rejectResourceScope(indicator, rejected.join(' '))
    granted ||= allowed.length > 0
    refused.push(...rejected)
  }
  if (askedForResourceScopes && !granted) {
    await finish(settings, req, res, {
      error: 'invalid_scope',
      error_description: `user ${accountId} (roles: ${roleScopes.describe(accountId)}) may not have ${[...new Set(refused)].join(' ')}; nothing is left to grant`,
    })
    return
  }
  const grantId = await grant.save()
  await finish(settings, req, res, { consent: { grantId } })
}

function sendLoginForm(
  settings: InteractionSettings,
  res: ServerResponse,
  details: InteractionDetails,
): void {
  const { params } = details
  const resource = params.resource
  const resources = Array.isArray(resource)
    ? resource.map(String)
    : typeof resource === 'string'
      ? [resource]
      : []
  const scope = typeof params.scope === 'string' ? params.scope : ''
  const requested = scope.split(' ').filter(Boolean)
  const offered = [...new Set(resources.flatMap((r) => settings.resourceScopes(r)))]
  const resourceScopes = requested.filter((s) => offered.includes(s))
  const body = loginPage({
    action: `${settings.mountPath}/interaction/${details.uid}`,
    clientId: String(params.client_id),
    clientName: undefined,
    scope,
    resources,
    loginHint: typeof params.login_hint === 'string' ? params.login_hint : settings.defaultUser,
    grants: [
      ...settings.knownUsers.map((user) => ({
        user,
        roles: settings.roleScopes.describe(user),
        scopes: settings.roleScopes.allowed(user, resourceScopes),
      })),
      { user: '(any other name)', roles: '(none)', scopes: settings.roleScopes.allowed('', resourceScopes) },
    ],
    resourceScopes,
  })
  send(res, 200, body)
}

function finish(
  settings: InteractionSettings,
  req: IncomingMessage,
  res: ServerResponse,
  result: InteractionResults,
): Promise<void> {
  return finishInteraction(settings.provider, req, res, result)
}

function userNameProblem(name: string): string | undefined {
  if (name.length > MAX_USER_NAME) return `is longer than ${MAX_USER_NAME} characters`
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is rejected
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains control characters'
  return undefined
}

function sendPage(res: ServerResponse, status: number, title: string, lines: Record<string, string>): void {
  send(res, status, messagePage(title, lines))
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    // The sign-in page must not be framed (clickjacking).
    'X-Frame-Options': 'DENY',
    // No form-action: browsers apply it to the redirect to the client after the form is posted.
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  })
  res.end(html)
}
