import { escapeHtml, htmlPage } from '@portcullis/provider-support'

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}' +
  'dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}dt{color:#666}dd{margin:0;word-break:break-all}' +
  'table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}h2{font-size:1.1rem}' +
  'input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}button{font-size:1rem;padding:.4rem 1rem;margin:.75rem .5rem 0 0}'

function page(title: string, body: string): string {
  return htmlPage(title, body, STYLE)
}

/** What the sign-in page shows about the request. */
export interface LoginPageFacts {
  action: string
  clientId: string
  clientName: string | undefined
  scope: string
  resources: readonly string[]
  loginHint: string
  /** Of the requested scopes, those the resources offer (the ones roles decide). */
  resourceScopes: readonly string[]
  /** What each user would be granted of `resourceScopes`. */
  grants: ReadonlyArray<{ user: string; roles: string; scopes: readonly string[] }>
}

/** The sign-in form and consent in one page: what is requested, and what each user would be granted. */
export function loginPage(facts: LoginPageFacts): string {
  const client = facts.clientName ? `${facts.clientName} (${facts.clientId})` : facts.clientId
  const row = (term: string, value: string) => `<dt>${escapeHtml(term)}</dt><dd>${escapeHtml(value)}</dd>`
  const grants = facts.grants
    .map(
      (g) =>
        `<tr><td>${escapeHtml(g.user)}</td><td>${escapeHtml(g.roles)}</td><td>${escapeHtml(
          g.scopes.length > 0
            ? g.scopes.join(' ')
            : facts.resourceScopes.length > 0
              ? 'nothing: refused (invalid_scope)'
              : '-',
        )}</td></tr>`,
    )
    .join('')
  return page(
    'Sign in to the dev IdP',
    `<dl>${row('client', client)}${row('requested scope', facts.scope || '(none)')}${row('resource', facts.resources.join(' ') || '(none)')}</dl>
<h2>What will be granted</h2>
<table><thead><tr><th>user</th><th>roles</th><th>granted</th></tr></thead><tbody>${grants}</tbody></table>
<form method="post" action="${escapeHtml(facts.action)}" autocomplete="off">
<p><label>User name <input name="login" value="${escapeHtml(facts.loginHint)}" required autofocus></label></p>
<p>Any name signs in, no password; roles decide what is granted.</p>
<button type="submit">Sign in and allow</button><button type="submit" name="deny" value="1" formnovalidate>Deny</button>
</form>`,
  )
}

/** A plain page for errors and dead ends. */
export function messagePage(title: string, lines: Record<string, string>): string {
  const items = Object.entries(lines)
    .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
    .join('')
  return page(title, items)
}
