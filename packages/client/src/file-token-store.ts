import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseOptions } from '@portcullis/core/adapter'
import { z } from 'zod'
import { TokenRequestError } from './errors.js'
import { KeyedMutex, type StoredGrant, type TokenStore } from './token-store.js'

export interface FileTokenStoreOptions {
  /** Longest wait for the lock another process holds, in ms. Default 30,000. */
  lockTimeoutMs?: number
  /** Age after which a lock whose holder cannot be checked is taken over, in ms. Default 60,000. */
  staleLockMs?: number
}

interface FileContents {
  version: 1
  entries: Record<string, StoredGrant>
}

const schema = z.strictObject({
  lockTimeoutMs: z.number().int().positive().max(600_000).default(30_000),
  staleLockMs: z.number().int().positive().max(3_600_000).default(60_000),
})

// Which files the current async context holds the lock of: set/delete inside lock() must not wait
// for the lock they are running under.
const holding = new AsyncLocalStorage<ReadonlySet<string>>()
// One in-process queue per file, shared by every store on it, in front of the lock file.
const mutex = new KeyedMutex()

/**
 * Grants in a JSON file, one entry per issuer + client + resource, for a CLI or a daemon that must
 * refresh after a restart. The file (and its directory, when created) is readable by its owner
 * only (0600, 0700); every write replaces it atomically (a temporary file renamed over it), so a
 * crash leaves the old or the new file, never half of one. Two processes on the same file take
 * turns through a lock file (`<path>.lock`, created exclusively); a lock left by a process that
 * died is taken over.
 *
 * @example
 * const store = fileTokenStore(join(homedir(), '.config', 'notes-cli', 'tokens.json'))
 */
export function fileTokenStore(path: string, options: FileTokenStoreOptions = {}): TokenStore {
  if (typeof path !== 'string' || path === '') throw new TypeError('fileTokenStore: path must be a file path')
  const o = parseOptions(schema, options, 'fileTokenStore')
  const file = resolve(path)
  const lockFile = `${file}.lock`

  const read = async (): Promise<FileContents> => {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, entries: {} }
      throw storeError(`cannot read ${file}`, error)
    }
    try {
      const parsed = JSON.parse(text) as FileContents
      if (parsed?.version !== 1 || typeof parsed.entries !== 'object' || parsed.entries === null)
        throw new Error('unknown layout')
      return parsed
    } catch (error) {
      throw storeError(`${file} is not a token file this version can read (delete it to start over)`, error)
    }
  }

  const write = async (contents: FileContents): Promise<void> => {
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 })
      const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
      const handle = await open(temporary, 'wx', 0o600)
      try {
        await handle.writeFile(`${JSON.stringify(contents, null, 2)}\n`)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(temporary, file)
      // A file created by an older version or by hand may be wider: tokens are for the owner only.
      await chmod(file, 0o600)
    } catch (error) {
      throw storeError(`cannot write ${file}`, error)
    }
  }

  const withFileLock = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (holding.getStore()?.has(file)) return fn()
    return mutex.run(file, async () => {
      await acquire(lockFile, o.lockTimeoutMs, o.staleLockMs)
      try {
        return await holding.run(new Set([...(holding.getStore() ?? []), file]), fn)
      } finally {
        await unlink(lockFile).catch(() => {})
      }
    })
  }

  const update = (change: (entries: Record<string, StoredGrant>) => void) =>
    withFileLock(async () => {
      const contents = await read()
      change(contents.entries)
      await write(contents)
    })

  return {
    async get(key) {
      return (await read()).entries[key]
    },
    set: (key, grant) =>
      update((entries) => {
        entries[key] = grant
      }),
    delete: (key) =>
      update((entries) => {
        delete entries[key]
      }),
    // One lock for the whole file: entries of other grants share its writes.
    lock: (_key, fn) => withFileLock(fn),
  }
}

/** Takes the lock file, waiting (with backoff) while a live holder keeps it. */
async function acquire(lockFile: string, timeoutMs: number, staleMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(dirname(lockFile), { recursive: true, mode: 0o700 })
      const handle = await open(lockFile, 'wx', 0o600)
      await handle.writeFile(JSON.stringify({ pid: process.pid, at: Date.now() }))
      await handle.close()
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw storeError(`cannot create ${lockFile}`, error)
    }
    if (await isStale(lockFile, staleMs)) {
      await unlink(lockFile).catch(() => {})
      continue
    }
    if (Date.now() >= deadline) {
      throw new TokenRequestError(
        'store',
        `${lockFile} is held by another process for more than ${timeoutMs} ms`,
      )
    }
    await new Promise((r) => setTimeout(r, Math.min(5 * 2 ** Math.min(attempt, 5), 100)))
  }
}

/** A lock whose holder on this machine is gone, or older than `staleMs`. */
async function isStale(lockFile: string, staleMs: number): Promise<boolean> {
  try {
    const [text, info] = await Promise.all([readFile(lockFile, 'utf8'), stat(lockFile)])
    if (Date.now() - info.mtimeMs > staleMs) return true
    const pid = (JSON.parse(text) as { pid?: unknown }).pid
    if (typeof pid !== 'number' || pid === process.pid) return false
    try {
      process.kill(pid, 0)
      return false
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH'
    }
  } catch {
    // Being written (empty, half a JSON) or just removed: not stale, try again shortly.
    return false
  }
}

function storeError(message: string, cause: unknown): TokenRequestError {
  const code = (cause as NodeJS.ErrnoException)?.code
  return new TokenRequestError('store', code === undefined ? message : `${message} (${code})`, { cause })
}
