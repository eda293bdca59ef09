/**
 * The cookies of a headless browser (RFC 6265): kept per host, name and path, sent back to the same
 * host on matching paths. Ports are ignored, as browsers do (§8.5). What `completeAuthorization` uses
 * to follow a flow; exported for tests and tools that walk sign-in pages themselves.
 */
export class CookieJar {
  readonly #cookies = new Map<string, { host: string; name: string; value: string; path: string }>()

  /** RFC 6265 §5.2: stores, replaces or (when expired) removes the cookies of a response to `url`. */
  store(url: URL, setCookies: readonly string[]): void {
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';')
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      // RFC 6265 §5.1.4: the default path is the request path up to its last slash.
      let path = url.pathname.slice(0, Math.max(1, url.pathname.lastIndexOf('/')))
      let expired = false
      for (const attribute of attributes) {
        const at = attribute.indexOf('=')
        const key = (at === -1 ? attribute : attribute.slice(0, at)).trim().toLowerCase()
        const v = at === -1 ? '' : attribute.slice(at + 1).trim()
        if (key === 'path' && v.startsWith('/')) path = v
        if (key === 'max-age' && Number(v) <= 0) expired = true
        if (key === 'expires' && Date.parse(v) < Date.now()) expired = true
      }
      const key = `${url.hostname};${name};${path}`
      if (expired) this.#cookies.delete(key)
      else this.#cookies.set(key, { host: url.hostname, name, value, path })
    }
  }

  /** RFC 6265 §5.4: the Cookie header for a request to `url`, or `undefined` when none matches. */
  header(url: URL): string | undefined {
    const p = url.pathname
    const matching = [...this.#cookies.values()].filter(
      (c) =>
        c.host === url.hostname &&
        (p === c.path || (p.startsWith(c.path) && (c.path.endsWith('/') || p[c.path.length] === '/'))),
    )
    return matching.length > 0 ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined
  }
}
