import { generateSigningKey, privateJsonFile, randomSecret } from '@portcullis/provider-support'
import type { JWK } from 'jose'
import { z } from 'zod'

/** Algorithms the dev IdP always holds a key for: RS256 for ID tokens (OIDC default), ES256 for access tokens. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const

/** What a key file keeps across restarts: private signing keys and the static clients' secrets. */
export interface DevIdpSecrets {
  keys: JWK[]
  clientSecrets: Record<string, string>
}

const keyFile = privateJsonFile({
  format: 'portcullis-dev-idp/1',
  note: 'Development signing keys and client secrets of @portcullis/dev-idp. Never commit this file.',
  shape: {
    keys: z.array(
      z.looseObject({
        kty: z.string(),
        kid: z.string().min(1),
        alg: z.string(),
        d: z.string().min(1, { error: 'private part "d" missing' }),
      }),
    ),
    clientSecrets: z.record(z.string(), z.string().min(1)),
  },
  owner: 'dev-idp',
  noun: 'key file',
  kind: 'a dev-idp key file',
  hint: '; delete it to generate new keys',
})

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
  const existing = path === undefined ? undefined : await keyFile.read(path)
  const keys = [...((existing?.keys ?? []) as JWK[])]
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
      clientSecrets[name] = randomSecret()
      changed = true
    }
  }
  const secrets = { keys, clientSecrets }
  if (path !== undefined && changed) await keyFile.write(path, secrets)
  return secrets
}
