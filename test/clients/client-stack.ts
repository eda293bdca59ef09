// What the third-party client tests share: the dev IdP and the notes server on ephemeral loopback
// ports, a spawned client process stopped by its own id, and the matrix row each test records.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** Where each client test writes its row of the compatibility matrix (git-ignored; see scripts/client-matrix.mjs). */
export const RESULTS_DIR = join(here, 'results')

/** One row of the README's client compatibility matrix, as a test observed it. */
export interface MatrixRow {
  client: string
  /** The installed version, read from its package.json. */
  version: string
  /** First contact: 401 → metadata → registration → sign-in → token → first call. */
  firstContact: string
  /** A call beyond the token's scopes: what the client did to get the wider token. */
  stepUp: string
  /** An expired access token. */
  refresh: string
  /** What the client does with a 403 `insufficient_scope`, in its own terms. */
  on403: string
}

/** Records what a test observed; the matrix script reads these. Written only when the test got that far. */
export function recordRow(file: string, row: MatrixRow): void {
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, `${file}.json`), `${JSON.stringify(row, null, 2)}\n`)
}

/**
 * Records a row at the end of a test file when each named part of it passed: returns the marker a
 * test calls (`passed('stepUp', t)`), which notes at that test's end whether it passed.
 */
export function rowWhenPassing(
  file: { teardown(fn: () => void): void },
  name: string,
  parts: readonly string[],
  row: () => MatrixRow,
): (part: string, test: { teardown(fn: () => void): void; passing(): boolean }) => void {
  const passed = new Set<string>()
  file.teardown(() => {
    if (parts.every((part) => passed.has(part))) recordRow(name, row())
  })
  return (part, test) =>
    test.teardown(() => {
      if (test.passing()) passed.add(part)
    })
}

/**
 * The directory of an installed package, found as Node finds it from here (node_modules of this
 * folder and its parents); read directly because some packages do not export `package.json`.
 */
export function packageDir(name: string): string {
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(dir) === dir) throw new Error(`${name} is not installed (looked up from ${here})`)
  }
}

/** The version of an installed package, from its package.json. */
export function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')) as { version: string })
    .version
}

/** A child process with its output kept for failure messages, stopped by its own pid at teardown. */
export interface Spawned {
  child: ChildProcess
  output(): string
  /** Resolves with the first match of `pattern` in the output; rejects if the process ends first or after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>
  stop(): Promise<void>
}

export function spawnClient(command: string, args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  let text = ''
  const listeners = new Set<() => void>()
  const append = (chunk: Buffer) => {
    text += chunk.toString()
    if (text.length > 200_000) text = text.slice(-100_000)
    for (const listener of listeners) listener()
  }
  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    child,
    output: () => text,
    waitFor(pattern, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern)
          if (match !== null) {
            done()
            resolve(match)
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`${command}: no ${pattern} within ${ms} ms; output:\n${text.slice(-4000)}`))
        }, ms)
        const ended = () => {
          done()
          reject(new Error(`${command} exited before ${pattern}; output:\n${text.slice(-4000)}`))
        }
        const done = () => {
          clearTimeout(timer)
          listeners.delete(check)
          child.off('exit', ended)
        }
        listeners.add(check)
        child.once('exit', ended)
        check()
      })
    },
    async stop() {
      if (child.exitCode !== null || child.pid === undefined) return
      // The client's own process group (it was started detached): its helpers end with it.
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {}
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {}
      }
    },
  }
}
