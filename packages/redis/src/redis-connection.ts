import { EventEmitter } from 'node:events'
import { parseOptions } from '@portcullis/core/adapter'
import { Redis, type RedisOptions } from 'ioredis'
import { z } from 'zod'
import { isRefusal, REFUSAL_ADVICE, type RefusalKind, refusalKind, refusalMessage } from './redis-refusals.js'

interface ChannelListener {
  onMessage(message: string): void
  onSubscribed(): void
}

/** A pino-style logger (Fastify's `app.log` fits): `(fields, message)`. */
export interface RedisLogger {
  info(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
  error(fields: Record<string, unknown>, message: string): void
}

/** Where the shared state stands, as `status()` reports it. */
export interface RedisStatus {
  /** `up`: the last command or connection event succeeded; `down`: local state only. */
  state: 'connecting' | 'up' | 'down'
  /** When `state` last changed (ms since the epoch). */
  since: number
  /** Why it is down (a message from the client, never a token). */
  lastError: string | undefined
  /** Times it went down since the connection was made. */
  outages: number
  /** Error replies (out of memory, ACL, Cluster redirects): Redis answered, and refused. */
  refusals: number
  /** The last error reply, e.g. `OOM command not allowed ...`. */
  lastRefusal: string | undefined
  /** Why this Redis cannot hold the shared state at all (a Cluster); the deny list then never vouches. */
  unsupported: string | undefined
}

/** The events of a `RedisConnection` (`on('down', ...)`). */
export interface RedisConnectionEvents {
  up: [status: RedisStatus]
  down: [status: RedisStatus]
}

const optionsSchema = z.strictObject({
  /** `redis://[:password@]host:port[/db]` or `rediss://` (TLS). */
  url: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /** ioredis options (host, port, password, tls, sentinels, ...). The bounds below override theirs. */
  redis: z
    .custom<RedisOptions>((v) => typeof v === 'object' && v !== null, 'must be ioredis options')
    .optional(),
  /** Prefix of every key and channel, so several deployments can share one Redis. */
  keyPrefix: z
    .string()
    .max(100)
    .regex(/^[A-Za-z0-9:_.-]*$/, 'letters, digits and : _ . - only')
    .default('portcullis:'),
  /** Longest wait for one command, in ms; past it the command fails and local state answers. */
  commandTimeoutMs: z.number().int().positive().max(10_000).default(250),
  /** Longest wait for a connection, in ms. */
  connectTimeoutMs: z.number().int().positive().max(60_000).default(2000),
  /** Longest pause between reconnection attempts, in ms. */
  reconnectMaxDelayMs: z.number().int().positive().max(60_000).default(2000),
  log: z
    .custom<RedisLogger>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        ['info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      'must be a logger with info, warn and error (pino, Fastify app.log)',
    )
    .optional(),
})

export type RedisConnectionOptions = z.input<typeof optionsSchema>

/**
 * The two Redis connections one Portcullis instance shares between its introspection cache, deny
 * list and attempt limiter (one for commands, one for pub/sub), and its view of Redis health.
 *
 * Every command is bounded: `commandTimeoutMs` (250 ms), no offline queue (a command while
 * disconnected fails at once instead of piling up), at most one retry of a command cut by a
 * reconnect. The parts catch every failure and answer from local state; the connection turns them
 * into one `down` event and one warning per outage, and one `up` event and one notice when Redis
 * answers again.
 */
export class RedisConnection extends EventEmitter<RedisConnectionEvents> {
  /** The command connection. Commands on it may fail at any time: catch, and call `failed`. */
  readonly client: Redis
  readonly keyPrefix: string
  /** The logger given in the options, for the parts' own notices. */
  readonly log: RedisLogger | undefined
  #subscriber: Redis | undefined
  /** Listeners per channel: several parts (or several deny lists) may share one connection. */
  readonly #channels = new Map<string, Set<ChannelListener>>()
  #status: RedisStatus = {
    state: 'connecting',
    since: Date.now(),
    lastError: undefined,
    outages: 0,
    refusals: 0,
    lastRefusal: undefined,
    unsupported: undefined,
  }
  /** When each kind of refusal was last logged: one line per kind per minute, not one per command. */
  readonly #refusalLoggedAt = new Map<RefusalKind, number>()
  #closed = false

  constructor(options: RedisConnectionOptions = {}) {
    super()
    const o = parseOptions(optionsSchema, options, '@portcullis/redis redisConnection')
    this.keyPrefix = o.keyPrefix
    this.log = o.log
    const bounded: RedisOptions = {
      ...o.redis,
      commandTimeout: o.commandTimeoutMs,
      connectTimeout: o.connectTimeoutMs,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      // Reconnect for ever, never faster than every 50 ms nor slower than reconnectMaxDelayMs.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), o.reconnectMaxDelayMs),
      lazyConnect: false,
      // Our keyPrefix applies to keys and channels alike; ioredis's would miss the channels.
      keyPrefix: '',
    }
    this.client = o.url === undefined ? new Redis(bounded) : new Redis(o.url, bounded)
    this.client.on('ready', () => {
      this.succeeded()
      void this.#checkServer()
    })
    this.client.on('error', (error) => this.#lost(error))
    this.client.on('close', () => this.#lost(new Error('connection closed')))
  }

  /** A snapshot of the health of the shared state. */
  status(): RedisStatus {
    return { ...this.#status }
  }

  /** True while Redis answers. */
  get up(): boolean {
    return this.#status.state === 'up'
  }

  /** Prefixes a key or channel name. */
  key(name: string): string {
    return `${this.keyPrefix}${name}`
  }

  /** Resolves true once connected, false if not within `timeoutMs`. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    if (this.client.status === 'ready') return true
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs)
      const done = (value: boolean) => {
        clearTimeout(timer)
        this.client.off('ready', onReady)
        resolve(value)
      }
      const onReady = () => done(true)
      this.client.on('ready', onReady)
    })
  }

  /** Records a command that worked: Redis is up. */
  succeeded(): void {
    if (this.#status.state === 'up' || this.#closed) return
    // A reply that lands after the socket closed says nothing about Redis now.
    if (this.client.status !== 'ready') return
    const wasDown = this.#status.state === 'down'
    this.#status = { ...this.#status, state: 'up', since: Date.now(), lastError: undefined }
    if (wasDown) this.log?.info({ redis: 'up' }, 'portcullis: Redis is reachable again; shared state resumed')
    this.emit('up', this.status())
  }

  /** Records a command failure: Redis is down until something works again; an error reply is no outage. */
  failed(error: unknown): void {
    if (isRefusal(error)) {
      this.#refused(error as Error)
      return
    }
    // Commands sent before the first connection is made fail (no offline queue); that is no outage.
    // A first connection that does not come is one: ioredis reports it as an error event.
    if (this.#status.state === 'connecting' && this.client.status !== 'ready') {
      this.#status.lastError = error instanceof Error ? error.message : String(error)
      return
    }
    this.#lost(error)
  }

  #refused(error: Error): void {
    const message = refusalMessage(error)
    const kind = refusalKind(message)
    this.#status.refusals++
    this.#status.lastRefusal = message
    this.succeeded() // it answered
    const last = this.#refusalLoggedAt.get(kind)
    if (last !== undefined && Date.now() - last < 60_000) return
    this.#refusalLoggedAt.set(kind, Date.now())
    this.log?.error({ redis: 'refused', kind, err: message }, REFUSAL_ADVICE[kind])
  }

  /** What the server is, once per connection: Cluster is refused, a risky memory policy is told. */
  async #checkServer(): Promise<void> {
    let info: string
    try {
      info = `${await this.client.info('cluster')}\n${await this.client.info('memory')}`
    } catch {
      return // INFO is @dangerous: an ACL user without it learns from error replies instead
    }
    const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim()
    if (field('cluster_enabled') === '1') {
      this.#status.unsupported = REFUSAL_ADVICE.cluster
      this.log?.error({ redis: 'unsupported', kind: 'cluster' }, REFUSAL_ADVICE.cluster)
    }
    const policy = field('maxmemory_policy')
    if (Number(field('maxmemory') ?? 0) > 0 && policy !== undefined && !policy.startsWith('volatile-')) {
      this.log?.warn(
        { redis: 'memory', maxmemoryPolicy: policy },
        policy === 'noeviction'
          ? 'portcullis: Redis has maxmemory with noeviction: once full it refuses every write, revocations included; volatile-lru lets cached answers and limiter counts make room'
          : `portcullis: Redis may evict any key (${policy}), the deny list included: instances write it back when they notice, but volatile-lru never evicts it`,
      )
    }
  }

  #lost(error: unknown): void {
    if (this.#closed) return
    const message = error instanceof Error ? error.message : String(error)
    if (this.#status.state === 'down') {
      this.#status.lastError = message
      return
    }
    this.#status = {
      ...this.#status,
      state: 'down',
      since: Date.now(),
      lastError: message,
      outages: this.#status.outages + 1,
    }
    this.log?.warn(
      { redis: 'down', err: message },
      'portcullis: Redis is unreachable; answering from local state (introspection cache, last known deny list, local attempt counts)',
    )
    this.emit('down', this.status())
  }

  /**
   * Listens on a channel. `onSubscribed` runs after each (re)subscription: messages sent while
   * the subscriber was away are lost, so that is when to resync.
   */
  subscribe(channel: string, onMessage: (message: string) => void, onSubscribed: () => void): void {
    const listener = { onMessage, onSubscribed }
    const listeners = this.#channels.get(channel)
    if (listeners !== undefined) {
      listeners.add(listener)
      if (this.#subscriber?.status === 'ready') onSubscribed()
      return
    }
    this.#channels.set(channel, new Set([listener]))
    const subscriber = this.#subscriberConnection()
    if (subscriber.status === 'ready') this.#subscribeOn(subscriber, channel)
  }

  /** Closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const quit = (redis: Redis) => redis.quit().catch(() => redis.disconnect())
    await Promise.all([
      quit(this.client),
      this.#subscriber === undefined ? undefined : quit(this.#subscriber),
    ])
  }

  #subscriberConnection(): Redis {
    if (this.#subscriber !== undefined) return this.#subscriber
    // Channels are subscribed again by hand on each 'ready', so each part hears of the reconnect.
    const subscriber = this.client.duplicate({ autoResubscribe: false })
    subscriber.on('ready', () => {
      for (const channel of this.#channels.keys()) this.#subscribeOn(subscriber, channel)
    })
    subscriber.on('error', (error) => this.#lost(error))
    subscriber.on('message', (channel: string, message: string) => {
      for (const listener of this.#channels.get(channel) ?? []) listener.onMessage(message)
    })
    this.#subscriber = subscriber
    return subscriber
  }

  #subscribeOn(subscriber: Redis, channel: string): void {
    subscriber.subscribe(channel).then(
      () => {
        for (const listener of this.#channels.get(channel) ?? []) listener.onSubscribed()
      },
      (error: unknown) => this.failed(error),
    )
  }
}

/**
 * Connects to the Redis that several Portcullis instances share. Give the connection to
 * `redisIntrospectionCache`, `redisDenyList` and `redisAttemptLimiter`; close it on shutdown.
 *
 * @example
 * const redis = redisConnection({ url: process.env.REDIS_URL, log: app.log })
 * redis.on('down', (status) => metrics.redisDown(status))
 * app.addHook('onClose', () => redis.close())
 */
export function redisConnection(options: RedisConnectionOptions = {}): RedisConnection {
  return new RedisConnection(options)
}
