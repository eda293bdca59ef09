import type { RedisConnection } from './redis-connection.js'

/** The record oidc-provider stores (a structural copy of its `AdapterPayload`). */
export type OidcPayload = Record<string, unknown> & {
  uid?: string
  userCode?: string
  grantId?: string
  consumed?: unknown
}

/** oidc-provider's adapter interface, structurally: this package does not depend on oidc-provider. */
export interface OidcAdapter {
  upsert(id: string, payload: OidcPayload, expiresIn?: number): Promise<void>
  find(id: string): Promise<OidcPayload | undefined>
  findByUid(uid: string): Promise<OidcPayload | undefined>
  findByUserCode(userCode: string): Promise<OidcPayload | undefined>
  consume(id: string): Promise<void>
  destroy(id: string): Promise<void>
  revokeByGrantId(grantId: string): Promise<void>
}

const CONSUME =
  "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[1], 'consumed', ARGV[1]) end return 0"

/** Longest life of a record stored without an expiry (oidc-provider gives one to almost all). */
const MAX_TTL = 366 * 86_400

/**
 * oidc-provider's adapter interface on a `RedisConnection`, so several authorization-server
 * instances share grants, codes, sessions, interactions and their own records: an authorization
 * started on one instance finishes on another. Each record is a hash (`payload`, `consumed`), so
 * consuming a code is one atomic HSET and a replayed code is seen on every instance. Tokens of a
 * grant are listed under the grant, so revoking it removes them everywhere. Commands fail closed:
 * when Redis does not answer, the error reaches oidc-provider, which answers `server_error`.
 *
 * @example
 * const broker = await createAuthorizationServer({ ...options, adapter: redisAdapter(connection) })
 */
export function redisAdapter(connection: RedisConnection): (model: string) => OidcAdapter {
  const adapters = new Map<string, OidcAdapter>()
  return (model) => {
    let adapter = adapters.get(model)
    if (adapter === undefined) {
      adapter = modelAdapter(connection, model)
      adapters.set(model, adapter)
    }
    return adapter
  }
}

function modelAdapter(connection: RedisConnection, model: string): OidcAdapter {
  const { client } = connection
  const key = (id: string) => connection.key(`oidc:${model}:${id}`)
  const index = (kind: string, value: string) => connection.key(`oidc:${model}:${kind}:${value}`)
  const grantKey = (grantId: string) => connection.key(`oidc:grant:${grantId}`)
  const run = async <T>(command: () => Promise<T>): Promise<T> => {
    try {
      const result = await command()
      connection.succeeded()
      return result
    } catch (error) {
      connection.failed(error)
      throw error
    }
  }
  const read = async (id: string): Promise<OidcPayload | undefined> => {
    const hash = await run(() => client.hgetall(key(id)))
    if (hash.payload === undefined) return undefined
    const payload = JSON.parse(hash.payload) as OidcPayload
    return hash.consumed === undefined ? payload : { ...payload, consumed: Number(hash.consumed) }
  }
  return {
    async upsert(id, payload, expiresIn) {
      const ttl = Math.max(1, Math.min(expiresIn ?? MAX_TTL, MAX_TTL))
      const multi = client
        .multi()
        .del(key(id))
        .hset(key(id), 'payload', JSON.stringify(payload))
        .expire(key(id), ttl)
      if (payload.grantId !== undefined) {
        // The grant's list lives as long as its longest token.
        multi.rpush(grantKey(payload.grantId), key(id))
        multi.expire(grantKey(payload.grantId), ttl, 'GT')
        multi.expire(grantKey(payload.grantId), ttl, 'NX')
      }
      if (payload.uid !== undefined) multi.set(index('uid', payload.uid), id, 'EX', ttl)
      if (payload.userCode !== undefined) multi.set(index('userCode', payload.userCode), id, 'EX', ttl)
      await run(() => multi.exec())
    },
    find: read,
    async findByUid(uid) {
      const id = await run(() => client.get(index('uid', uid)))
      return id === null ? undefined : read(id)
    },
    async findByUserCode(userCode) {
      const id = await run(() => client.get(index('userCode', userCode)))
      return id === null ? undefined : read(id)
    },
    async consume(id) {
      // Only a record that exists is marked: a consumed-but-gone record must not come back without an expiry.
      await run(() => client.eval(CONSUME, 1, key(id), String(Math.floor(Date.now() / 1000))))
    },
    async destroy(id) {
      await run(() => client.del(key(id)))
    },
    async revokeByGrantId(grantId) {
      const keys = await run(() => client.lrange(grantKey(grantId), 0, -1))
      await run(() => client.del(...keys, grantKey(grantId)))
    },
  }
}
