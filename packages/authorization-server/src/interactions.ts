import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  finishInteraction,
  type InteractionDetailsOf,
  readForm,
  routeInteraction,
} from '@portcullis/provider-support'
import type Provider from 'oidc-provider'
import type { InteractionResults } from 'oidc-provider'
import { consentCsrfToken, consentPage, csrfTokenMatches } from './consent-page.js'
import { errorPage, PAGE_HEADERS } from './pages.js'
import { type AccountRecord, consentKey, MODELS } from './provider-configuration.js'
import type { ProviderAdapterFactory } from './provider-types.js'
import { type UpstreamChecks, UpstreamClient } from './upstream-client.js'

type InteractionDetails = InteractionDetailsOf<Provider>

/** What the interaction routes need. */
export interface InteractionContext {
  provider: Provider
  upstream: UpstreamClient
  adapter: ProviderAdapterFactory
  /** Key of the consent form's CSRF token. */
  csrfKey: string
  /** Path of the upstream redirect URI, where the state cookie is sent. */
  callbackPath: string
  secureCookies: boolean
  /** Seconds a consent is remembered (the grant's lifetime). */
  consentTtl: number
}

/** A sign-in in flight at the upstream, keyed by its `state`. */
export interface UpstreamTransaction {
  uid: string
  checks: UpstreamChecks
}

/** What the upstream callback leaves for the interaction to finish with. */
export type UpstreamResult = { accountId: string } | { error: string; error_description: string }

/** Seconds an upstream sign-in may take. */
export const UPSTREAM_TTL = 600
export const STATE_COOKIE = 'portcullis.upstream_state'

interface MissingScopes {
  missingOIDCScope?: string[]
  missingOIDCClaims?: string[]
  missingResourceScopes?: Record<string, string[]>
}

/**
 * The sign-in and consent steps oidc-provider hands to the broker. Login: the user is sent to the
 * upstream IdP (and comes back through the callback, which leaves the result here). Consent: once
 * per user and client, a page naming the client, its redirect host and the scopes; only scopes the
 * user's roles allow are granted, the rest are rejected on the grant so they are never issued.
 * Returns false when `path` is not an interaction route.
 */
export async function handleInteraction(
  context: InteractionContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  return routeInteraction(context.provider, req, res, path, sendPage, async (details) => {
    const prompt = details.prompt.name
    if (req.method === 'GET' && prompt === 'login') {
      await login(context, req, res, details)
      return true
    }
    if (prompt === 'consent' && (req.method === 'GET' || req.method === 'POST')) {
      await consent(context, req, res, details)
      return true
    }
    return false
  })
}

/** Sends the user upstream, or finishes the login step with what the upstream callback left. */
async function login(
  context: InteractionContext,
  req: IncomingMessage,
  res: ServerResponse,
  details: InteractionDetails,
) {
  const results = context.adapter(MODELS.upstreamResult)
  const result = (await results.find(details.uid)) as UpstreamResult | undefined
  if (result !== undefined) {
    await results.destroy(details.uid)
    const outcome: InteractionResults =
      'accountId' in result ? { login: { accountId: result.accountId } } : result
    return finish(context, req, res, outcome)
  }
  const checks = UpstreamClient.newChecks()
  const transaction: UpstreamTransaction = { uid: details.uid, checks }
  await context.adapter(MODELS.upstreamTransaction).upsert(checks.state, { ...transaction }, UPSTREAM_TTL)
  const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined
  const location = await context.upstream.authorizationUrl(checks, hint)
  // RFC 6749 §10.12: the state is also bound to this browser, so a callback from another is refused.
  const cookie = [
    `${STATE_COOKIE}=${checks.state}`,
    `Path=${context.callbackPath}`,
    `Max-Age=${UPSTREAM_TTL}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(context.secureCookies ? ['Secure'] : []),
  ]
  res.writeHead(303, {
    Location: location.href,
    'Set-Cookie': cookie.join('; '),
    'Cache-Control': 'no-store',
  })
  res.end()
}

async function consent(
  context: InteractionContext,
  req: IncomingMessage,
  res: ServerResponse,
  details: InteractionDetails,
) {
  const { provider } = context
  const accountId = details.session?.accountId
  const clientId = String(details.params.client_id)
  const account =
    accountId === undefined
      ? undefined
      : ((await context.adapter(MODELS.account).find(accountId)) as AccountRecord | undefined)
  if (accountId === undefined || account === undefined) {
    return finish(context, req, res, { error: 'login_required', error_description: 'sign in again' })
  }
  const allowed = new Set(account.allowedScopes)
  const missing = details.prompt.details as MissingScopes
  const requested = Object.entries(missing.missingResourceScopes ?? {})
  const granted = requested.map(
    ([resource, scopes]) => [resource, scopes.filter((s) => allowed.has(s))] as const,
  )
  const refused = requested.map(
    ([resource, scopes]) => [resource, scopes.filter((s) => !allowed.has(s))] as const,
  )
  const grantedCount = granted.reduce((n, [, scopes]) => n + scopes.length, 0)
  const refusedCount = refused.reduce((n, [, scopes]) => n + scopes.length, 0)

  const saveGrant = async () => {
    const existing = details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId)
    const grant = existing ?? new provider.Grant({ accountId, clientId })
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims)
    for (const [resource, scopes] of granted)
      if (scopes.length) grant.addResourceScope(resource, scopes.join(' '))
    // Rejected scopes are never issued, and never asked about again.
    for (const [resource, scopes] of refused)
      if (scopes.length) grant.rejectResourceScope(resource, scopes.join(' '))
    const grantId = await grant.save()
    await context
      .adapter(MODELS.consent)
      .upsert(consentKey(accountId, clientId), { grantId }, context.consentTtl)
    return finish(context, req, res, { consent: { grantId } })
  }

  if (grantedCount === 0 && refusedCount > 0 && details.grantId === undefined) {
    return finish(context, req, res, {
      error: 'access_denied',
      error_description: 'your roles allow none of the requested scopes',
    })
  }
  // Nothing new to approve (the client asks only for what was refused): no page.
  if (grantedCount === 0 && !missing.missingOIDCScope?.length) return saveGrant()

  const csrf = consentCsrfToken(context.csrfKey, details.uid)
  if (req.method === 'POST') {
    const form = await readForm(req)
    if (form === undefined)
      return sendPage(res, 413, 'Form too large', { problem: 'the consent form is too large' })
    // The form's token proves the POST came from this page (CSRF); without it nothing is granted.
    if (!csrfTokenMatches(csrf, form.get('csrf'))) {
      return sendPage(res, 403, 'Request refused', {
        problem: 'the consent form is missing its anti-forgery token',
      })
    }
    if (form.get('decision') !== 'approve') {
      return finish(context, req, res, {
        error: 'access_denied',
        error_description: 'the user denied the request',
      })
    }
    return saveGrant()
  }
  const client = await provider.Client.find(clientId)
  const redirectUri = String(details.params.redirect_uri ?? '')
  send(
    res,
    200,
    consentPage({
      action: `/interaction/${details.uid}`,
      csrfToken: csrf,
      clientId,
      clientName: client?.clientName,
      redirectHost: URL.canParse(redirectUri) ? new URL(redirectUri).host : redirectUri,
      resources: granted.map(([resource]) => resource),
      scopes: granted.flatMap(([, scopes]) => scopes),
      refused: refused.flatMap(([, scopes]) => scopes),
      metadataDocument: /^https:\/\//.test(clientId),
    }),
  )
}

function finish(
  context: InteractionContext,
  req: IncomingMessage,
  res: ServerResponse,
  result: InteractionResults,
) {
  return finishInteraction(context.provider, req, res, result)
}

export function sendPage(
  res: ServerResponse,
  status: number,
  title: string,
  lines: Record<string, string>,
): void {
  send(res, status, errorPage(title, lines))
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, PAGE_HEADERS)
  res.end(html)
}
