import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateSigningKey, privateJsonFile, randomSecret } from '@portcullis/provider-support'
import t from 'tap'
import { z } from 'zod'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-private-json-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const file = privateJsonFile({
  format: 'test-keys/1',
  note: 'Never commit this file.',
  shape: { secret: z.string().min(43), keys: z.array(z.looseObject({ kid: z.string() })) },
  owner: 'test-owner',
  noun: 'keys file',
  kind: 'a test keys file',
  hint: '; delete it to start again',
})

t.test('no file yet: undefined; written with mode 0600 and read back without format and note', async (t) => {
  const path = join(dir, 'round-trip.json')
  t.equal(await file.read(path), undefined)
  const content = { secret: randomSecret(), keys: [await generateSigningKey('ES256')] }
  await file.write(path, content)
  t.equal(statSync(path).mode & 0o777, 0o600, 'readable by its owner only')
  const raw = JSON.parse(readFileSync(path, 'utf8'))
  t.equal(raw.format, 'test-keys/1')
  t.equal(raw.note, 'Never commit this file.')
  t.same(await file.read(path), content, 'the content comes back as written')
  t.notOk('format' in ((await file.read(path)) ?? {}), 'without its format')
})

t.test('refusals name the owner, the file and what is wrong', async (t) => {
  const path = join(dir, 'bad.json')
  writeFileSync(path, 'not json')
  await t.rejects(file.read(path), {
    message: `test-owner: keys file ${path} is not JSON; delete it to start again`,
  })
  writeFileSync(path, JSON.stringify({ format: 'other/1', secret: 'x'.repeat(43), keys: [] }))
  await t.rejects(file.read(path), {
    message: new RegExp(`^test-owner: keys file ${path} is not a test keys file \\(format: .*\\); delete it`),
  })
  writeFileSync(path, JSON.stringify({ format: 'test-keys/1', secret: 'short', keys: [] }))
  await t.rejects(file.read(path), { message: /\(secret: / })
  await t.rejects(file.read(dir), { message: new RegExp(`^test-owner: cannot read keys file ${dir}`) })
})

t.test('keys and secrets', async (t) => {
  const key = await generateSigningKey('ES256')
  t.match(key, { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: /^[A-Za-z0-9_-]{43}$/ })
  t.type(key.d, 'string', 'a private key')
  t.match(randomSecret(), /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url')
  t.not(randomSecret(), randomSecret())
})
