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
  throw new OptionsError(owner, problems.join('; '))
}

/**
 * Bad options given to a public factory: `message` is `${owner}: ${problem}`. A factory that
 * builds another (an `@portcullis/idp` preset building a `jwtVerifier`) names itself as the owner
 * with `relabel`, so the user reads the name of what they called.
 *
 * @example
 * try { jwtVerifier(options) } catch (error) {
 *   throw error instanceof OptionsError ? error.relabel('keycloak') : error
 * }
 */
// Its `name` stays `TypeError`: code that tells bad options apart by name keeps working.
export class OptionsError extends TypeError {
  constructor(
    /** The factory whose options are wrong, e.g. `jwtVerifier`. */
    readonly owner: string,
    /** What is wrong, without the owner: `option "clockTolerance": Too big: ...`. */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${owner}: ${problem}`, options)
  }

  /** The same problem under another owner; this error is its `cause`. */
  relabel(owner: string): OptionsError {
    return new OptionsError(owner, this.problem, { cause: this })
  }
}
