/**
 * Freezes `root` and everything reachable from it (iteratively: no recursion limit on deep input),
 * so a value shared between callers (a cached answer, a preset) cannot be changed by one of them.
 *
 * @example
 * const answer = deepFreeze({ active: true, scope: ['notes:read'] })
 */
export function deepFreeze<T>(root: T): T {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value !== 'object' || value === null || Object.isFrozen(value)) continue
    Object.freeze(value)
    for (const item of Object.values(value)) stack.push(item)
  }
  return root
}
