// The memory and file token stores on their own: copies, locks, file modes, atomic replace,
// a lock left by a dead process, a lock held too long, a file this version cannot read.
import { spawnSync } from 'node:child_process'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import {
  fileTokenStore,
  grantKey,
  memoryTokenStore,
  type StoredGrant,
  TokenRequestError,
} from '../src/index.js'

const KEY_A = grantKey({ issuer: 'https://idp.example', clientId: 'a', resource: 'https://mcp.example/mcp' })
const KEY_B = grantKey({ issuer: 'https://idp.example', clientId: 'b', resource: 'https://mcp.example/mcp' })
const grant = (n: number): StoredGrant => ({
  accessToken: { token: `at-${n}`, tokenType: 'Bearer', expiresAt: 2_000_000_000, scopes: ['s'] },
  refreshToken: `rt-${n}`,
})

async function tempDir(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-store-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Two sections under one key never overlap; sections under other keys are not held up. */
async function checkLock(
  t: { ok(v: unknown, m: string): void; same(a: unknown, b: unknown, m: string): void },
  store: ReturnType<typeof memoryTokenStore>,
) {
  const events: string[] = []
  const section = (name: string, key: string, ms: number) =>
    store.lock(key, async () => {
      events.push(`${name}:in`)
      await new Promise((r) => setTimeout(r, ms))
      events.push(`${name}:out`)
    })
  await Promise.all([section('one', KEY_A, 60), section('two', KEY_A, 10)])
  t.same(events, ['one:in', 'one:out', 'two:in', 'two:out'], 'one holder at a time, in order')
  const failing = store.lock(KEY_A, async () => {
    throw new Error('inside')
  })
  await failing.catch(() => {})
  let ran = false
  await store.lock(KEY_A, async () => {
    ran = true
  })
  t.ok(ran, 'a section that threw released the lock')
}

t.test('memory store', async (t) => {
  const store = memoryTokenStore()
  t.equal(await store.get(KEY_A), undefined)
  const original = grant(1)
  await store.set(KEY_A, original)
  original.refreshToken = 'changed by the caller'
  t.same(await store.get(KEY_A), grant(1), 'a copy went in')
  const out = await store.get(KEY_A)
  out!.refreshToken = 'changed again'
  t.same(await store.get(KEY_A), grant(1), 'a copy comes out')
  await store.delete(KEY_A)
  t.equal(await store.get(KEY_A), undefined)
  await checkLock(t, store)
})

t.test('file store: one owner-only file, replaced atomically, one entry per key', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'a', 'b', 'tokens.json')
  const store = fileTokenStore(path)
  t.equal(await store.get(KEY_A), undefined, 'no file yet: no grant')
  await store.set(KEY_A, grant(1))
  await store.set(KEY_B, grant(2))
  t.equal((await stat(path)).mode & 0o777, 0o600)
  t.equal((await stat(join(dir, 'a', 'b'))).mode & 0o777, 0o700)
  t.same(await store.get(KEY_A), grant(1))
  t.same(await fileTokenStore(path).get(KEY_B), grant(2), 'another store on the file reads it')
  const inode = (await stat(path)).ino
  await store.set(KEY_A, grant(3))
  t.not((await stat(path)).ino, inode, 'replaced by rename, not rewritten in place')
  t.same(await store.get(KEY_A), grant(3))
  t.same(await store.get(KEY_B), grant(2), 'other entries kept')
  await store.delete(KEY_B)
  t.same(Object.keys(JSON.parse(await readFile(path, 'utf8')).entries), [KEY_A])
  t.same(await readdir(join(dir, 'a', 'b')), ['tokens.json'], 'no temporary or lock file left')

  await chmod(path, 0o644)
  await store.set(KEY_A, grant(4))
  t.equal((await stat(path)).mode & 0o777, 0o600, 'a file made wider by hand is narrowed on write')

  // Concurrent writers on the same file through different stores: every write lands.
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      fileTokenStore(path).set(grantKey({ issuer: 'https://idp.example', clientId: `c${i}` }), grant(i)),
    ),
  )
  t.equal(Object.keys(JSON.parse(await readFile(path, 'utf8')).entries).length, 21, 'no write lost')
  await checkLock(t, fileTokenStore(path))
})

t.test('file store: locks left behind, locks held, unreadable files', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'tokens.json')

  // A process that died holding the lock: its pid no longer exists.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  })
  await writeFile(`${path}.lock`, JSON.stringify({ pid: Number(dead.stdout), at: Date.now() }))
  await fileTokenStore(path, { lockTimeoutMs: 5000 }).set(KEY_A, grant(1))
  t.same(await fileTokenStore(path).get(KEY_A), grant(1), "a dead process's lock is taken over")

  // A live holder (here: this process's parent) keeps it: the wait is bounded.
  await writeFile(`${path}.lock`, JSON.stringify({ pid: process.ppid, at: Date.now() }))
  const started = Date.now()
  await t.rejects(fileTokenStore(path, { lockTimeoutMs: 300 }).set(KEY_A, grant(2)), {
    name: 'TokenRequestError',
    kind: 'store',
    message: /held by another process/,
  })
  t.ok(Date.now() - started < 10_000, 'gave up after the lock timeout')
  t.same(await fileTokenStore(path).get(KEY_A), grant(1), 'nothing written without the lock')

  // An old lock whose holder cannot be checked is stale after staleLockMs.
  await writeFile(`${path}.lock`, JSON.stringify({ pid: process.ppid, at: 0 }))
  await new Promise((r) => setTimeout(r, 120))
  await fileTokenStore(path, { staleLockMs: 50 }).set(KEY_A, grant(5))
  t.same(await fileTokenStore(path).get(KEY_A), grant(5), 'a stale lock is taken over')

  await writeFile(path, 'not json')
  const error = await fileTokenStore(path)
    .get(KEY_A)
    .catch((e: unknown) => e)
  t.ok(error instanceof TokenRequestError)
  t.match(error, { kind: 'store', message: /not a token file this version can read/ })

  t.throws(() => fileTokenStore(''), { name: 'TypeError', message: /fileTokenStore: path/ })
  t.throws(() => fileTokenStore(path, { lockTimeoutMs: -1 } as never), {
    name: 'TypeError',
    message: /fileTokenStore: option "lockTimeoutMs"/,
  })
})
