import { LruCache } from '@portcullis/core'
import type { ProviderAdapter, ProviderAdapterFactory, ProviderRecord } from './provider-types.js'

/** Most records one model keeps in memory (least recently used dropped first). */
const MAX_ENTRIES = 100_000
/** A record without an expiry still goes after this long, so memory stays bounded in time too. */
const MAX_TTL_MS = 366 * 86_400 * 1000

/**
 * oidc-provider's adapter interface in this process's memory, bounded per model: the default state
 * store of one instance. Several instances need a shared adapter (`redisAdapter`).
 */
export function memoryAdapter(): ProviderAdapterFactory {
  const models = new Map<string, ProviderAdapter>()
  return (name) => {
    let adapter = models.get(name)
    if (adapter === undefined) {
      adapter = memoryModel()
      models.set(name, adapter)
    }
    return adapter
  }
}

function memoryModel(): ProviderAdapter {
  const records = new LruCache<ProviderRecord>({ maxEntries: MAX_ENTRIES })
  const byIndex = new LruCache<string>({ maxEntries: MAX_ENTRIES })
  const grants = new LruCache<string[]>({ maxEntries: MAX_ENTRIES })
  const ttl = (expiresIn: number | undefined) =>
    expiresIn === undefined ? MAX_TTL_MS : Math.min(expiresIn * 1000, MAX_TTL_MS)
  return {
    async upsert(id, payload, expiresIn) {
      const ms = ttl(expiresIn)
      records.set(id, structuredClone(payload), ms)
      if (payload.uid !== undefined) byIndex.set(`uid:${payload.uid}`, id, ms)
      if (payload.userCode !== undefined) byIndex.set(`userCode:${payload.userCode}`, id, ms)
      if (payload.grantId !== undefined) {
        const list = grants.get(payload.grantId) ?? []
        list.push(id)
        grants.set(payload.grantId, list, ms)
      }
    },
    async find(id) {
      const record = records.get(id)
      return record === undefined ? undefined : structuredClone(record)
    },
    async findByUid(uid) {
      const id = byIndex.get(`uid:${uid}`)
      return id === undefined ? undefined : this.find(id)
    },
    async findByUserCode(userCode) {
      const id = byIndex.get(`userCode:${userCode}`)
      return id === undefined ? undefined : this.find(id)
    },
    async consume(id) {
      const record = records.get(id)
      if (record !== undefined) record.consumed = Math.floor(Date.now() / 1000)
    },
    async destroy(id) {
      records.delete(id)
    },
    async revokeByGrantId(grantId) {
      for (const id of grants.get(grantId) ?? []) records.delete(id)
      grants.delete(grantId)
    },
  }
}
