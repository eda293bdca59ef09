import { generateSigningKey, privateJsonFile, randomSecret } from '@portcullis/provider-support'
import type { JWK } from 'jose'
import { z } from 'zod'

/** A private signing key with the time it was made, so rotation knows its age. */
export interface ManagedKey {
  jwk: JWK
  /** Seconds since the epoch. */
  createdAt: number
}

/** What the broker keeps across restarts. */
export interface BrokerSecrets {
  /** Signing keys, newest first: the first signs, the others stay published for verification. */
  signingKeys: ManagedKey[]
  /** 256-bit key that encrypts upstream tokens at rest (base64url). */
  vaultKey: string
  /** Keys that sign cookies (newest first). */
  cookieKeys: string[]
}

const DAY = 86_400

const keysFile = privateJsonFile({
  format: 'portcullis-authorization-server/1',
  note: 'Private keys of @portcullis/authorization-server. Never commit this file.',
  shape: {
    signingKeys: z.array(
      z.object({
        jwk: z.looseObject({ kty: z.string(), kid: z.string().min(1), d: z.string().min(1) }),
        createdAt: z.number().int().nonnegative(),
      }),
    ),
    vaultKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    cookieKeys: z.array(z.string().min(32)).min(1),
  },
  owner: 'authorization-server',
  noun: 'keys file',
  kind: 'a keys file of this package',
})

/**
 * The broker's keys for this run: read from `path` (when given and present), rotated when the
 * newest signing key is older than `rotateAfterDays` (the old one stays published for
 * `overlapDays` more, so tokens it signed keep verifying), and written back when anything changed.
 * Rotation happens at start-up: a long-running instance rotates at its next restart.
 */
export async function loadBrokerSecrets(
  path: string | undefined,
  rotation: { rotateAfterDays: number; overlapDays: number },
  now = Math.floor(Date.now() / 1000),
): Promise<BrokerSecrets> {
  const existing = path === undefined ? undefined : ((await keysFile.read(path)) as BrokerSecrets | undefined)
  let changed = existing === undefined
  let signingKeys = [...(existing?.signingKeys ?? [])].sort((a, b) => b.createdAt - a.createdAt)
  const newest = signingKeys[0]
  if (newest === undefined || now - newest.createdAt >= rotation.rotateAfterDays * DAY) {
    signingKeys.unshift({ jwk: await generateSigningKey('ES256'), createdAt: now })
    changed = true
  }
  // A retired key stays published until every token it signed has expired (the overlap).
  const retireBefore = now - (rotation.rotateAfterDays + rotation.overlapDays) * DAY
  const kept = signingKeys.filter((key, index) => index === 0 || key.createdAt > retireBefore)
  if (kept.length !== signingKeys.length) changed = true
  signingKeys = kept
  const secrets: BrokerSecrets = {
    signingKeys,
    vaultKey: existing?.vaultKey ?? randomSecret(),
    cookieKeys: existing?.cookieKeys ?? [randomSecret()],
  }
  if (path !== undefined && changed) await keysFile.write(path, secrets)
  return secrets
}
