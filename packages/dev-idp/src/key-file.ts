import { randomBytes } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import { z } from 'zod'
import { readPrivateJsonFile, writePrivateJsonFile } from './private-json-file.js'

/** Algorithms the dev IdP always holds a key for: RS256 for ID tokens (OIDC default), ES256 for access tokens. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const

/** What a key file keeps across restarts: private signing keys and the static clients' secrets. */
export interface DevIdpSecrets {
  keys: JWK[]
  clientSecrets: Record<string, string>
}

const FORMAT = 'portcullis-dev-idp/1'

const fileSchema = z.object({
  format: z.literal(FORMAT),
  keys: z.array(
    z.looseObject({
      kty: z.string(),
      kid: z.string().min(1),
      alg: z.string(),
      d: z.string().min(1, { error: 'private part "d" missing' }),
    }),
  ),
  clientSecrets: z.record(z.string(), z.string().min(1)),
})

/** A fresh private signing key for `alg`, with `kid` = its RFC 7638 thumbprint. */
export async function generateSigningKey(alg: (typeof SIGNING_ALGORITHMS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' }
}

/** A random client secret: 256 bits, base64url. */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * Keys and secrets for one run: read from `path` when it exists, generated (and written there) otherwise.
 * A key file missing a key or a secret gets one added and is rewritten. Without a path, everything is fresh.
 *
 * @example
 * const secrets = await loadKeyFile('.dev-idp-keys.json', ['machine', 'resourceServer'])
 */
export async function loadKeyFile(
  path: string | undefined,
  secretNames: readonly string[],
): Promise<DevIdpSecrets> {
  const existing = path === undefined ? undefined : await readKeyFile(path)
  const keys = [...(existing?.keys ?? [])]
  const clientSecrets = { ...(existing?.clientSecrets ?? {}) }
  let changed = existing === undefined

  for (const alg of SIGNING_ALGORITHMS) {
    if (!keys.some((key) => key.alg === alg)) {
      keys.push(await generateSigningKey(alg))
      changed = true
    }
  }
  for (const name of secretNames) {
    if (clientSecrets[name] === undefined) {
      clientSecrets[name] = generateClientSecret()
      changed = true
    }
  }
  const secrets = { keys, clientSecrets }
  if (path !== undefined && changed) await writeKeyFile(path, secrets)
  return secrets
}

async function readKeyFile(path: string): Promise<DevIdpSecrets | undefined> {
  const parsed = await readPrivateJsonFile(path, fileSchema, {
    owner: 'dev-idp',
    noun: 'key file',
    kind: 'a dev-idp key file',
    hint: '; delete it to generate new keys',
  })
  return parsed && { keys: parsed.keys as JWK[], clientSecrets: parsed.clientSecrets }
}

function writeKeyFile(path: string, secrets: DevIdpSecrets): Promise<void> {
  return writePrivateJsonFile(path, {
    format: FORMAT,
    note: 'Development signing keys and client secrets of @portcullis/dev-idp. Never commit this file.',
    ...secrets,
  })
}
