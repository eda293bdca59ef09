import { MAX_CLOCK_TOLERANCE, type Revocation, revocationFromKey, revocationKey } from '@portcullis/core'
import type { RedisConnection } from './redis-connection.js'

/** Members read per ZSCAN page: each page is one bounded command, whatever the list's size. */
const PAGE = 1000
/** Tries per page: a page that times out (a busy event loop, a slow moment) is asked again. */
const PAGE_TRIES = 3
/** Revocations written per transaction. */
const WRITE_CHUNK = 500

/** What the cheap periodic check reads. */
export interface DenyListMeta {
  /** The set's identity, written inside it too (`["e", epoch]`): a lost or replaced set lacks it. */
  epoch: string | undefined
  /** Bumped by every write. */
  version: number
  /** When the epoch was named (ms since the epoch, by the instance that named it). */
  since: number | undefined
  /** Whether the set still holds the epoch the caller last synced against. */
  holdsEpoch: boolean
}

/** What one full read found. */
export interface DenyListContents {
  /** The `revocationKey` of every revocation in Redis. */
  keys: Set<string>
  /** The epochs stamped in the set (one; more after two instances restored it at once). */
  epochs: Set<string>
}

const epochMember = (epoch: string) => JSON.stringify(['e', epoch])

function epochOf(member: string): string | undefined {
  if (!member.startsWith('["e",')) return undefined
  try {
    const value = JSON.parse(member) as unknown
    return Array.isArray(value) && value.length === 2 && typeof value[1] === 'string' ? value[1] : undefined
  } catch {
    return undefined
  }
}

/**
 * The deny list's layout in Redis, and its commands. No read depends on a transaction (a full
 * Redis aborts every MULTI, reads included); writes are transactions of a bounded size.
 *
 * - `<prefix>deny`: a sorted set of `revocationKey` members scored by the token's `exp`, plus one
 *   `["e", <epoch>]` member scored `+inf` that names this incarnation of the set. Eviction, `DEL`
 *   or `FLUSHALL` take the epoch with the set, so a lost set is noticed whatever removed it.
 * - `<prefix>deny:meta`: a hash with the current `epoch`, when it was named (`since`), and a
 *   `version` bumped by every write.
 * - `<prefix>deny`, the channel: `[key, expiresAt, version]` per revocation.
 */
export class DenyListStore {
  readonly channel: string
  readonly #set: string
  readonly #meta: string
  readonly #connection: RedisConnection

  constructor(connection: RedisConnection) {
    this.#connection = connection
    this.#set = connection.key('deny')
    this.#meta = connection.key('deny:meta')
    this.channel = connection.key('deny')
  }

  /** The periodic check: one pipelined round trip, no transaction. */
  async meta(knownEpoch: string | undefined): Promise<DenyListMeta> {
    const client = this.#connection.client
    const pipeline = client.pipeline().hmget(this.#meta, 'epoch', 'version', 'since')
    if (knownEpoch !== undefined) pipeline.zscore(this.#set, epochMember(knownEpoch))
    const results = (await pipeline.exec()) ?? []
    const [fields, score] = results.map(([error, value]) => {
      if (error) throw error
      return value
    }) as [[string | null, string | null, string | null], string | null | undefined]
    const since = Number(fields[2])
    return {
      epoch: fields[0] ?? undefined,
      version: Number(fields[1] ?? 0),
      since: Number.isFinite(since) && since > 0 ? since : undefined,
      holdsEpoch: knownEpoch !== undefined && score !== null && score !== undefined,
    }
  }

  /**
   * Reads the whole set in pages (ZSCAN: every member present for the whole scan is returned, each
   * page bounded by the command timeout and retried where it stopped), handing each revocation to
   * `take`; `keys` holds those it took.
   */
  async readAll(take: (revocation: Revocation) => boolean): Promise<DenyListContents> {
    const keys = new Set<string>()
    const epochs = new Set<string>()
    let cursor = '0'
    do {
      const [next, page] = await this.#page(cursor)
      cursor = next
      for (let i = 0; i + 1 < page.length; i += 2) {
        const member = page[i]!
        const epoch = epochOf(member)
        if (epoch !== undefined) {
          epochs.add(epoch)
          continue
        }
        const revocation = revocationFromKey(member, Number(page[i + 1]))
        if (revocation !== undefined && take(revocation)) keys.add(member)
      }
    } while (cursor !== '0')
    return { keys, epochs }
  }

  async #page(cursor: string): Promise<[string, string[]]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#connection.client.zscan(this.#set, cursor, 'COUNT', PAGE)
      } catch (error) {
        if (attempt >= PAGE_TRIES || !/timed out/i.test(String(error))) throw error
      }
    }
  }

  /**
   * Adds revocations (`ZADD GT`: a repeated one keeps the later expiry) and bumps the version, in
   * transactions of `WRITE_CHUNK`; trims lapsed ones. Resolves the version after each chunk.
   */
  async write(revocations: readonly Revocation[], nowS: number): Promise<number[]> {
    const client = this.#connection.client
    const versions: number[] = []
    for (let start = 0; start < revocations.length; start += WRITE_CHUNK) {
      const batch = client.multi()
      const args: (string | number)[] = []
      for (const r of revocations.slice(start, start + WRITE_CHUNK)) args.push(r.expiresAt, revocationKey(r))
      batch.zadd(this.#set, 'GT', ...args)
      // Lapsed: no verifier accepts the token any more (its exp plus the largest clock tolerance).
      if (start === 0) batch.zremrangebyscore(this.#set, '-inf', nowS - MAX_CLOCK_TOLERANCE)
      batch.hincrby(this.#meta, 'version', 1)
      versions.push(Number(await execAll(batch)))
    }
    return versions
  }

  /** Names a new incarnation of the set, inside it and in the meta hash. Resolves the version. */
  async stamp(epoch: string, since: number): Promise<number> {
    const batch = this.#connection.client
      .multi()
      .zadd(this.#set, 'NX', '+inf', epochMember(epoch))
      .hset(this.#meta, 'epoch', epoch, 'since', since)
      .hincrby(this.#meta, 'version', 1)
    return Number(await execAll(batch))
  }

  /** Tells every instance at once; apart from the write, so it goes out when Redis refuses writes. */
  async publish(revocations: readonly Revocation[], version: number | undefined): Promise<void> {
    const pipeline = this.#connection.client.pipeline()
    for (const r of revocations) {
      const message = [revocationKey(r), r.expiresAt, ...(version === undefined ? [] : [version])]
      pipeline.publish(this.channel, JSON.stringify(message))
    }
    const failure = ((await pipeline.exec()) ?? []).find(([error]) => error !== null)?.[0]
    if (failure) throw failure
  }
}

/** Runs a transaction; resolves its last reply, or throws the first error (the whole of it on abort). */
async function execAll(batch: ReturnType<RedisConnection['client']['multi']>): Promise<unknown> {
  const results = await batch.exec()
  if (results === null) throw new Error('transaction discarded')
  const failure = results.find(([error]) => error !== null)?.[0]
  if (failure) throw failure
  return results.at(-1)?.[1]
}
