/**
 * Freezes a parsed JSON value throughout, for values shared between requests (remembered
 * answers, decoded headers): nobody may change one in place. Iterative, so depth cannot overflow
 * the stack.
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
