import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import type { ProviderAdapter } from './provider-types.js'

/** The upstream tokens of one signed-in user. Never sent to an MCP client. */
export interface UpstreamTokenSet {
  accessToken: string
  refreshToken?: string
  /** Seconds since the epoch. */
  expiresAt?: number
  scope?: string
}

const VERSION = 'v1'

/**
 * Upstream tokens kept server-side, encrypted at rest with AES-256-GCM (a fresh 96-bit IV per
 * record, the record id as additional data so a ciphertext cannot be moved to another user).
 * Records live in the state adapter under `UpstreamTokens`, keyed by the user's account id.
 */
export class TokenVault {
  readonly #adapter: ProviderAdapter
  readonly #key: Buffer

  constructor(adapter: ProviderAdapter, vaultKey: string) {
    this.#adapter = adapter
    // Derive the AES key from the stored secret, so the secret itself is never the cipher key.
    this.#key = createHash('sha256').update('portcullis upstream token vault').update(vaultKey).digest()
  }

  async put(accountId: string, tokens: UpstreamTokenSet, ttlSeconds: number): Promise<void> {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(accountId))
    const body = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()])
    const sealed = [VERSION, iv, cipher.getAuthTag(), body].map((part) =>
      typeof part === 'string' ? part : part.toString('base64url'),
    )
    await this.#adapter.upsert(accountId, { sealed: sealed.join('.') }, ttlSeconds)
  }

  /** The tokens of `accountId`, or undefined when none are kept (or they do not decrypt). */
  async get(accountId: string): Promise<UpstreamTokenSet | undefined> {
    const record = (await this.#adapter.find(accountId)) as { sealed?: unknown } | undefined
    if (typeof record?.sealed !== 'string') return undefined
    const [version, iv, tag, body] = record.sealed.split('.')
    if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(accountId))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()])
      return JSON.parse(plain.toString('utf8')) as UpstreamTokenSet
    } catch {
      // Fail closed: a record sealed with another key (or altered) is as good as none.
      return undefined
    }
  }

  async delete(accountId: string): Promise<void> {
    await this.#adapter.destroy(accountId)
  }
}
