import { randomBytes } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
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

const FORMAT = 'portcullis-authorization-server/1'
const DAY = 86_400

const fileSchema = z.object({
  format: z.literal(FORMAT),
  signingKeys: z.array(
    z.object({
      jwk: z.looseObject({ kty: z.string(), kid: z.string().min(1), d: z.string().min(1) }),
      createdAt: z.number().int().nonnegative(),
    }),
  ),
  vaultKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  cookieKeys: z.array(z.string().min(32)).min(1),
})

/** A fresh ES256 signing key, `kid` = its RFC 7638 thumbprint. */
async function newSigningKey(now: number): Promise<ManagedKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { jwk: { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' }, createdAt: now }
}

const random = () => randomBytes(32).toString('base64url')

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
  const existing = path === undefined ? undefined : await readSecrets(path)
  let changed = existing === undefined
  let signingKeys = [...(existing?.signingKeys ?? [])].sort((a, b) => b.createdAt - a.createdAt)
  const newest = signingKeys[0]
  if (newest === undefined || now - newest.createdAt >= rotation.rotateAfterDays * DAY) {
    signingKeys.unshift(await newSigningKey(now))
    changed = true
  }
  // A retired key stays published until every token it signed has expired (the overlap).
  const retireBefore = now - (rotation.rotateAfterDays + rotation.overlapDays) * DAY
  const kept = signingKeys.filter((key, index) => index === 0 || key.createdAt > retireBefore)
  if (kept.length !== signingKeys.length) changed = true
  signingKeys = kept
  const secrets: BrokerSecrets = {
    signingKeys,
    vaultKey: existing?.vaultKey ?? random(),
    cookieKeys: existing?.cookieKeys ?? [random()],
  }
  if (path !== undefined && changed) await writeSecrets(path, secrets)
  return secrets
}

async function readSecrets(path: string): Promise<BrokerSecrets | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`authorization-server: cannot read keys file ${path}: ${(error as Error).message}`, {
      cause: error,
    })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new Error(`authorization-server: keys file ${path} is not JSON`)
  }
  const parsed = fileSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(
      `authorization-server: ${path} is not a keys file of this package (${issue.path.join('.') || 'file'}: ${issue.message})`,
    )
  }
  return parsed.data as BrokerSecrets
}

async function writeSecrets(path: string, secrets: BrokerSecrets): Promise<void> {
  const body = {
    format: FORMAT,
    note: 'Private keys of @portcullis/authorization-server. Never commit this file.',
    ...secrets,
  }
  // Write then rename, so a crash never leaves half a file; private keys are for the owner only.
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
  await rename(temporary, path)
}
