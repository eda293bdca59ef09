// DPoP-bound tokens (RFC 9449 §6) between the verifiers, which refuse them as Bearer tokens, and
// the gate, which accepts them with a proof of their key.
import type { AuthInfo, CachedOutcome, TokenVerifier } from '../token/auth-info.js'
import { dpopBinding, dpopBoundCaller } from '../token/sender-constraint.js'
import type { ResolvedDpop } from './options.js'

/**
 * A verifier whose DPoP-bound tokens are callers, not refusals: the gate checks the proof itself.
 * Everything else about the verifier (its health, its caches) is its own. Unchanged when DPoP is off.
 */
export function dpopAwareVerifier<V>(verifier: V, dpop: ResolvedDpop): V {
  if (dpop.mode === 'off') return verifier
  const inner = verifier as unknown as TokenVerifier
  if (typeof inner !== 'object' || inner === null || typeof inner.verifyAccessToken !== 'function') {
    return verifier // the option schema names the problem
  }
  const outcomes = new WeakMap<object, CachedOutcome>()
  const aware: Partial<TokenVerifier> = {
    verifyAccessToken: (token) =>
      inner.verifyAccessToken(token).catch((error: unknown) => {
        const caller = dpopBoundCaller(error)
        if (caller === undefined) throw error
        return caller
      }),
  }
  if (typeof inner.cachedOutcome === 'function') {
    aware.cachedOutcome = (token) => {
      const outcome = inner.cachedOutcome!(token)
      if (outcome?.error === undefined) return outcome
      const known = outcomes.get(outcome.error)
      if (known !== undefined) return known
      const caller = dpopBoundCaller(outcome.error)
      if (caller === undefined) return outcome
      const converted = { authInfo: caller, error: undefined, fingerprint: outcome.fingerprint }
      outcomes.set(outcome.error, converted)
      return converted
    }
  }
  // The verifier's other members (health, stats, issuer) are its own, called on itself: a class
  // with private fields keeps working.
  return new Proxy(inner, {
    get(target, name) {
      if (name === 'verifyAccessToken') return aware.verifyAccessToken
      if (name === 'cachedOutcome') return aware.cachedOutcome
      const value: unknown = Reflect.get(target, name, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as unknown as V
}

/** The `cnf.jkt` a verified caller's token is bound to, from its claims. */
export const boundKey = (auth: AuthInfo): string | undefined => {
  const claims = auth.extra?.claims
  return claims === undefined ? undefined : dpopBinding(claims.cnf)
}
