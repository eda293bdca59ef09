// A JSON file of private keys kept across restarts, shared by the dev IdP and the broker
// (`@portcullis/dev-idp/private-json-file`; this package's dependencies only).

import { readFile, rename, writeFile } from 'node:fs/promises'
import type { z } from 'zod'

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

/** The file's content checked against `schema`, or undefined when there is no file yet. */
export async function readPrivateJsonFile<T>(
  path: string,
  schema: z.ZodType<T>,
  labels: PrivateJsonFileLabels,
): Promise<T | undefined> {
  const { owner, noun, kind, hint = '' } = labels
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`${owner}: cannot read ${noun} ${path}: ${(error as Error).message}`, { cause: error })
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
  return parsed.data
}

/** Writes `body` as JSON, readable by the owner only (0600). */
export async function writePrivateJsonFile(path: string, body: object): Promise<void> {
  // Write then rename, so a crash never leaves half a file.
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
  await rename(temporary, path)
}
