/** HTML-escapes text for element content and double-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}' +
  'dt{font-weight:600}dd{margin:0 0 .75rem}code{background:#f2f2f2;padding:0 .25rem}' +
  'button{font:inherit;padding:.5rem 1.25rem;margin-right:.75rem}'

/** A whole page: no script, inline style only (the CSP allows nothing else). */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`
}

/** A page that says what went wrong, one line per entry. */
export function errorPage(title: string, lines: Record<string, string>): string {
  const items = Object.entries(lines)
    .map(([name, text]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(text)}</dd>`)
    .join('')
  return page(title, `<dl>${items}</dl>`)
}

/** Headers of every broker page: never cached, never framed (clickjacking), no script at all. */
export const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
} as const
