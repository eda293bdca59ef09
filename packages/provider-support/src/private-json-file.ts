// A JSON file of private keys kept across restarts (the dev IdP's key file, the broker's keys
// file): versioned by a `format` string, checked against a schema when read, written atomically
// and readable by its owner only.

import { readFile, rename, writeFile } from 'node:fs/promises'
import { z } from 'zod'

/** How errors name the file: `${owner}: ${noun} <path> is not ${kind} (…)${hint}`. */
export interface PrivateJsonFileLabels {
  /** The package, first in every message, e.g. `dev-idp`. */
  owner: string
  /** What the file is called, e.g. `key file`. */
  noun: string
  /** What a file of this owner is, e.g. `a dev-idp key file`. */
  kind: string
  /** Appended to the "not JSON" and "not ours" messages, e.g. what to do about it. */
  hint?: string
}

export interface PrivateJsonFileOptions<Shape extends z.ZodRawShape> extends PrivateJsonFileLabels {
  /** Written as the file's `format` and required when it is read: a file of another kind or version is refused. */
  format: string
  /** Written as the file's `note`, for a person who opens it (e.g. "never commit this file"). */
  note: string
  /** The content besides `format` and `note`. */
  shape: Shape
}

/** One kind of private JSON file. */
export interface PrivateJsonFile<T> {
  /** The content, checked; undefined when there is no file yet. Throws a message naming the file otherwise. */
  read(path: string): Promise<T | undefined>
  /** Writes the content (with `format` and `note`), mode 0600, through a temporary file and a rename. */
  write(path: string, content: object): Promise<void>
}

/**
 * A kind of private JSON file.
 *
 * @example
 * const keyFile = privateJsonFile({ format: 'my-idp/1', note: 'Never commit this file.', shape: { keys: z.array(z.string()) },
 *   owner: 'my-idp', noun: 'key file', kind: 'a my-idp key file' })
 */
export function privateJsonFile<Shape extends z.ZodRawShape>(
  options: PrivateJsonFileOptions<Shape>,
): PrivateJsonFile<z.output<z.ZodObject<Shape>>> {
  const { format, note, shape, owner, noun, kind, hint = '' } = options
  const schema = z.object({ format: z.literal(format), ...shape })
  return {
    async read(path) {
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw new Error(`${owner}: cannot read ${noun} ${path}: ${(error as Error).message}`, {
          cause: error,
        })
      }
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        throw new Error(`${owner}: ${noun} ${path} is not JSON${hint}`)
      }
      const parsed = schema.safeParse(json)
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!
        const where = issue.path.map(String).join('.') || 'file'
        throw new Error(`${owner}: ${noun} ${path} is not ${kind} (${where}: ${issue.message})${hint}`)
      }
      const { format: _format, ...content } = parsed.data as Record<string, unknown>
      return content as z.output<z.ZodObject<Shape>>
    },
    async write(path, content) {
      // Write then rename, so a crash never leaves half a file.
      const temporary = `${path}.${process.pid}.tmp`
      await writeFile(temporary, `${JSON.stringify({ format, note, ...content }, null, 2)}\n`, {
        mode: 0o600,
      })
      await rename(temporary, path)
    },
  }
}
