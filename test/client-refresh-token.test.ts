// @portcullis/client's refresh token grant against the dev IdP, which rotates the refresh tokens
// of public clients: the rotated token is saved at once, shared by processes through the file
// store, never used twice; `resource` on every refresh; a refused grant is cleared.
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { authFetch, fileTokenStore, grantKey, memoryTokenStore, refreshToken } from '@portcullis/client'
import t from 'tap'
import { startClientStack } from './fixtures/client-stack.js'
import { notesEndpoint } from './fixtures/journey-stack.js'
import { toolResult } from './fixtures/sdk-clients.js'

// Child processes load the TypeScript sources: slow on a busy machine.
t.setTimeout(400_000)

const CHILD = fileURLToPath(new URL('./fixtures/refresh-token-process.ts', import.meta.url))

async function tempDir(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-client-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('refresh token: whoami, resource on every refresh, rotation saved at once', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const granted = await stack.idp.userToken({ user: 'alice', resource: notes.resource, scope: 'notes:read' })
  t.type(granted.refresh_token, 'string', 'the user grant came with a refresh token')
  const store = memoryTokenStore()
  const provider = refreshToken({
    issuer: stack.idp.issuer,
    clientId: stack.idp.clients.public.client_id,
    refreshToken: granted.refresh_token!,
    resource: notes.resource,
  })
  const clock = { offset: 0 }
  const fetch = authFetch(provider, { store, now: () => Date.now() / 1000 + clock.offset })
  const before = stack.tokenRequests.length

  const client = new Client({ name: 'refresh-token-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(notes.url, { fetch }))
  t.teardown(() => client.close())
  t.same(
    toolResult(await client.callTool({ name: 'whoami', arguments: {} })),
    { sub: 'alice', client: stack.idp.clients.public.client_id, scopes: ['notes:read'] },
    'whoami as the user who granted access',
  )
  const key = grantKey(provider.grant!)
  const afterFirst = await store.get(key)
  t.type(afterFirst?.refreshToken, 'string')
  t.not(afterFirst?.refreshToken, granted.refresh_token, 'the rotated refresh token is in the store')
  t.same(afterFirst?.scopes, ['notes:read'], 'with the scopes granted')

  clock.offset = (await fetch.token()).expiresAt! - Date.now() / 1000 - 30
  t.same(toolResult(await client.callTool({ name: 'whoami', arguments: {} })).sub, 'alice')
  const afterSecond = await store.get(key)
  t.not(afterSecond?.refreshToken, afterFirst?.refreshToken, 'rotated again, saved again')

  const refreshes = stack.tokenRequests.slice(before)
  t.equal(refreshes.length, 2)
  for (const request of refreshes) {
    t.match(
      request,
      { grantType: 'refresh_token', resource: notes.resource, outcome: 'success' },
      'RFC 8707 resource on the refresh request',
    )
  }
})

t.test('rotation with the file store across two processes', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const dir = await tempDir(t)
  const storePath = join(dir, 'nested', 'tokens.json')
  const granted = await stack.idp.userToken({ user: 'bob', resource: notes.resource, scope: 'notes:read' })
  const options = {
    issuer: stack.idp.issuer,
    clientId: stack.idp.clients.public.client_id,
    resource: notes.resource,
    refreshToken: granted.refresh_token!,
  }
  // This process is one CLI run, the child another (same configuration, same seed, same file).
  const child = (offset: number) => {
    const process_ = spawn(
      process.execPath,
      [
        ...process.execArgv,
        CHILD,
        options.issuer,
        options.clientId,
        options.resource,
        storePath,
        options.refreshToken,
        String(offset),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const lines: Array<Record<string, unknown>> = []
    let started: () => void
    const booted = new Promise<void>((resolve) => {
      started = resolve
    })
    createInterface({ input: process_.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as Record<string, unknown>
      if (message.started) started()
      else lines.push(message)
    })
    const done = new Promise<Record<string, unknown> | undefined>((resolve) =>
      process_.on('exit', () => resolve(lines.at(-1))),
    )
    t.teardown(() => {
      process_.kill()
    })
    return { booted, done }
  }
  const refreshCount = () =>
    stack.tokenRequests.filter((r) => r.grantType === 'refresh_token' && r.outcome === 'success').length
  const here = () =>
    authFetch(refreshToken(options), { store: fileTokenStore(storePath), refreshBeforeExpiry: 300 })

  await here().token()
  t.equal(refreshCount(), 1, 'this process refreshed from the seed')
  t.equal((await stat(storePath)).mode & 0o777, 0o600, 'the token file is readable by its owner only')
  t.equal((await stat(join(dir, 'nested'))).mode & 0o777, 0o700, 'so is the directory it created')
  const file = JSON.parse(await readFile(storePath, 'utf8'))
  t.equal(Object.keys(file.entries).length, 1, 'one entry for issuer + client + resource')
  t.notOk(JSON.stringify(file).includes(granted.refresh_token!), 'the spent seed is not kept')

  // Time passing for every process alike: the stored access token is made due (10 s left of a
  // 600 s lifetime; the margin is 300 s) by rewriting its expiry in the file.
  const makeDue = async () => {
    const contents = JSON.parse(await readFile(storePath, 'utf8'))
    const now = Math.floor(Date.now() / 1000)
    for (const entry of Object.values(contents.entries) as Array<Record<string, any>>) {
      entry.accessToken.expiresAt = now + 10
      entry.updatedAt = now - 590
    }
    await writeFile(storePath, JSON.stringify(contents))
  }

  // The other process, its token due: it must refresh with the rotated token, not the seed it
  // was configured with (oidc-provider treats a reused rotated token as theft: invalid_grant).
  await makeDue()
  t.same(await child(0).done, { ok: true, sub: 'bob' }, 'the other process refreshed with the stored token')
  t.equal(refreshCount(), 2)

  // Both due at once: this process holds the lock while the other waits for it, refreshes, and
  // the other takes the token it saved instead of refreshing again.
  await makeDue()
  const store = fileTokenStore(storePath)
  const other = child(0)
  await store.lock('any', async () => {
    await other.booted
    await new Promise((resolve) => setTimeout(resolve, 1500)) // the child is now at the lock
    await here().token()
  })
  t.same(await other.done, { ok: true, sub: 'bob' }, 'the waiting process took the saved token')
  t.equal(refreshCount(), 3, 'one refresh for the two')
  t.same(
    stack.tokenRequests.filter((r) => r.outcome === 'error'),
    [],
    'no refresh token was ever used twice (the IdP would have said invalid_grant)',
  )
  t.same(
    (await readdir(join(dir, 'nested'))).filter((name) => name !== 'tokens.json'),
    [],
    'no temporary or lock file left behind',
  )
})

t.test('invalid_grant on refresh clears the stored grant and says so', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const dir = await tempDir(t)
  const storePath = join(dir, 'tokens.json')
  const granted = await stack.idp.userToken({ user: 'alice', resource: notes.resource, scope: 'notes:read' })
  const provider = refreshToken({
    issuer: stack.idp.issuer,
    clientId: stack.idp.clients.public.client_id,
    refreshToken: granted.refresh_token!,
    resource: notes.resource,
  })
  const key = grantKey(provider.grant!)
  const fetch = authFetch(provider, { store: fileTokenStore(storePath) })
  await fetch.token()

  // The grant as a later run finds it: no access token, a refresh token the IdP no longer knows.
  const file = JSON.parse(await readFile(storePath, 'utf8'))
  delete file.entries[key].accessToken
  file.entries[key].refreshToken = 'revoked-or-forgotten'
  await writeFile(storePath, JSON.stringify(file))

  const later = authFetch(provider, { store: fileTokenStore(storePath) })
  await t.rejects(later(notes.url), {
    name: 'TokenRequestError',
    kind: 'invalid_grant',
    grantCleared: true,
    message: /the stored grant was cleared: sign in again/,
  })
  const cleared = JSON.parse(await readFile(storePath, 'utf8')).entries[key]
  t.notOk(cleared.refreshToken, 'no refresh token left in the store')
  t.type(cleared.clearedAt, 'number')

  const before = stack.tokenRequests.length
  const third = authFetch(provider, { store: fileTokenStore(storePath) })
  await t.rejects(third.token(), { kind: 'invalid_grant', grantCleared: true, message: /sign in again/ })
  t.equal(stack.tokenRequests.length, before, 'the spent seed is not tried again')
})

t.test('a refresh grant cannot widen its scopes, and says so', async (t) => {
  const stack = await startClientStack(t)
  const notes = await notesEndpoint(t, stack.idp)
  const granted = await stack.idp.userToken({ user: 'alice', resource: notes.resource, scope: 'notes:read' })
  const fetch = authFetch(
    refreshToken({
      issuer: stack.idp.issuer,
      clientId: stack.idp.clients.public.client_id,
      refreshToken: granted.refresh_token!,
      resource: notes.resource,
    }),
  )
  const client = new Client({ name: 'refresh-token-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(notes.url, { fetch }))
  t.teardown(() => client.close())
  const before = stack.tokenRequests.length
  await t.rejects(client.callTool({ name: 'add_note', arguments: { text: 'needs notes:write' } }), {
    message: /notes:write.*refresh cannot widen a grant/,
  })
  t.equal(stack.tokenRequests.length, before, 'no token request was made for it')
})
