// The skeleton of a server-rendered page of the dev IdP and the broker: each brings its own style
// and body.

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** A whole page titled `title` (escaped) with `body` (HTML) and an inline `style`, no script. */
export function htmlPage(title: string, body: string, style: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${style}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`
}
