import { createHmac, timingSafeEqual } from 'node:crypto'
import { escapeHtml } from '@portcullis/provider-support'
import { page } from './pages.js'

/** What the user is asked to approve. */
export interface ConsentView {
  action: string
  csrfToken: string
  clientId: string
  clientName: string | undefined
  /** Where the browser goes back to: the host the user should recognise. */
  redirectHost: string
  /** The MCP servers the token is for. */
  resources: string[]
  scopes: string[]
  /** Scopes the client asked for that this user's roles do not allow: shown, never granted. */
  refused: string[]
  /** The client's `client_id` is a metadata document URL (its host vouches for the name). */
  metadataDocument: boolean
}

/**
 * The anti-CSRF token of one interaction's consent form: an HMAC of the interaction id under the
 * cookie key, so it needs no storage and a page of another interaction cannot submit this one.
 */
export function consentCsrfToken(key: string, uid: string): string {
  return createHmac('sha256', key).update(`consent\0${uid}`).digest('base64url')
}

/** Constant-time comparison of a submitted CSRF token with the expected one. */
export function csrfTokenMatches(expected: string, submitted: string | null): boolean {
  if (submitted === null) return false
  const a = Buffer.from(expected)
  const b = Buffer.from(submitted)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The consent page: client name (marked unverified unless it comes from a metadata document), redirect host, scopes. */
export function consentPage(view: ConsentView): string {
  const name = view.clientName ?? view.clientId
  const claim = view.metadataDocument ? '' : ' <small>(name chosen by the client, not verified)</small>'
  const list = (items: string[]) =>
    `<ul>${items.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>`
  const refused =
    view.refused.length === 0 ? '' : `<p>Not granted (your roles do not allow them):</p>${list(view.refused)}`
  return page(
    'Allow access?',
    `<p><strong>${escapeHtml(name)}</strong>${claim} wants to act for you.</p>` +
      `<dl><dt>Client</dt><dd><code>${escapeHtml(view.clientId)}</code></dd>` +
      `<dt>Returns to</dt><dd><code>${escapeHtml(view.redirectHost)}</code></dd>` +
      `<dt>For</dt><dd>${list(view.resources)}</dd>` +
      `<dt>Scopes</dt><dd>${view.scopes.length === 0 ? 'none' : list(view.scopes)}</dd></dl>${refused}` +
      `<form method="post" action="${escapeHtml(view.action)}">` +
      `<input type="hidden" name="csrf" value="${escapeHtml(view.csrfToken)}">` +
      `<button type="submit" name="decision" value="approve">Allow</button>` +
      `<button type="submit" name="decision" value="deny">Deny</button></form>`,
  )
}
