import type { z } from 'zod'

/**
 * Validates the options of a public factory with its zod schema and throws a TypeError that names
 * the factory, the option and what is wrong, e.g.
 * `jwtVerifier: option "clockTolerance": Too big: expected number to be <=600`.
 *
 * @example
 * const options = parseOptions(schema, input, 'jwksKeySet')
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, owner: string): z.output<S> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.')
    return path === '' ? issue.message : `option "${path}": ${issue.message}`
  })
  throw new TypeError(`${owner}: ${problems.join('; ')}`)
}
