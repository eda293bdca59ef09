import { escapeHtml, htmlPage } from '@portcullis/provider-support'

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}' +
  'dt{font-weight:600}dd{margin:0 0 .75rem}code{background:#f2f2f2;padding:0 .25rem}' +
  'button{font:inherit;padding:.5rem 1.25rem;margin-right:.75rem}'

/** A whole page: no script, inline style only (the CSP allows nothing else). */
export function page(title: string, body: string): string {
  return htmlPage(title, body, STYLE)
}

/** A page that says what went wrong, one line per entry. */
export function errorPage(title: string, lines: Record<string, string>): string {
  const items = Object.entries(lines)
    .map(([name, text]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(text)}</dd>`)
    .join('')
  return page(title, `<dl>${items}</dl>`)
}

/**
 * Headers of every broker page: never cached, never framed (clickjacking), no script at all.
 * `same-origin`, not `no-referrer`: the page's URL (the interaction id) still never leaves the
 * broker's origin, but the consent form's POST carries the real `Origin` (Fetch §3.2.5 serializes
 * it as `null` under `no-referrer`), which the MCP SDKs' DNS-rebinding guard in front of every
 * route of a loopback server, and any origin-checking CSRF middleware, refuse.
 */
export const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'Referrer-Policy': 'same-origin',
} as const
