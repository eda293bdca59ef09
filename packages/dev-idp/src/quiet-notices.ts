/**
 * oidc-provider notices that say nothing to a dev IdP user: the Node.js LTS check (it runs fine on
 * Node 20) and the in-memory adapter (in-memory state is what a dev IdP wants).
 */
const EXPECTED_NOTICES = ['Unsupported runtime', 'development-only in-memory adapter']

/**
 * Runs `action` with oidc-provider's expected start-up notices filtered from `console.warn` and
 * `console.info`; every other message passes through, so the filter is harmless to code that
 * logs while `action` awaits (the first `import('oidc-provider')` prints the runtime notice).
 *
 * @example
 * const provider = await withoutExpectedNotices(() => new Provider(issuer, configuration))
 */
export async function withoutExpectedNotices<T>(action: () => T | Promise<T>): Promise<T> {
  const { warn, info } = console
  const filter =
    (original: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      const first = args[0]
      if (
        typeof first === 'string' &&
        first.includes('oidc-provider') &&
        EXPECTED_NOTICES.some((n) => first.includes(n))
      ) {
        return
      }
      original.apply(console, args)
    }
  console.warn = filter(warn)
  console.info = filter(info)
  try {
    return await action()
  } finally {
    console.warn = warn
    console.info = info
  }
}
