import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadBrokerSecrets, memoryAdapter, TokenVault } from '@portcullis/authorization-server'
import t from 'tap'

const DAY = 86_400
const rotation = { rotateAfterDays: 90, overlapDays: 7 }

t.test('signing keys: persisted, rotated after the period, the old key kept for the overlap', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'broker-keys-'))
  const file = join(dir, 'keys.json')
  const start = 1_800_000_000
  const first = await loadBrokerSecrets(file, rotation, start)
  t.equal(first.signingKeys.length, 1)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'the file is for its owner only')
  const again = await loadBrokerSecrets(file, rotation, start + 10 * DAY)
  t.same(again, first, 'a restart within the period reuses everything')
  const rotated = await loadBrokerSecrets(file, rotation, start + 90 * DAY)
  t.equal(rotated.signingKeys.length, 2, 'a new key after 90 days')
  t.not(rotated.signingKeys[0]!.jwk.kid, first.signingKeys[0]!.jwk.kid, 'the new key signs (it is first)')
  t.equal(rotated.signingKeys[1]!.jwk.kid, first.signingKeys[0]!.jwk.kid, 'the old key is still published')
  t.equal(rotated.vaultKey, first.vaultKey, 'the vault key does not rotate with signing keys')
  const retired = await loadBrokerSecrets(file, rotation, start + 98 * DAY)
  t.same(
    retired.signingKeys.map((key) => key.jwk.kid),
    [rotated.signingKeys[0]!.jwk.kid],
    'after the overlap the old key is gone',
  )
})

t.test('a keys file that is not one is refused with a clear message', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'broker-keys-'))
  const file = join(dir, 'keys.json')
  await writeFile(file, '{"format":"other"}')
  await t.rejects(loadBrokerSecrets(file, rotation), { message: /is not a keys file of this package/ })
})

t.test('the vault encrypts at rest and binds each record to its account', async (t) => {
  const adapter = memoryAdapter()
  const vault = new TokenVault(adapter('Vault'), 'a'.repeat(43))
  const tokens = {
    accessToken: 'upstream-access-token-secret',
    refreshToken: 'upstream-refresh-secret',
    expiresAt: 1,
  }
  await vault.put('alice', tokens, 60)
  t.same(await vault.get('alice'), tokens)
  const stored = JSON.stringify(await adapter('Vault').find('alice'))
  t.notMatch(stored, /upstream-access-token-secret|upstream-refresh-secret/, 'no token in the clear')
  // A record copied to another account does not decrypt there (the account id is authenticated data).
  await adapter('Vault').upsert('mallory', (await adapter('Vault').find('alice'))!, 60)
  t.equal(await vault.get('mallory'), undefined)
  // Another key opens nothing.
  t.equal(await new TokenVault(adapter('Vault'), 'b'.repeat(43)).get('alice'), undefined)
  await vault.delete('alice')
  t.equal(await vault.get('alice'), undefined)
})
