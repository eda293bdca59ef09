import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * The resumability store of the SDKs' Streamable HTTP transports (`transportOptions.eventStore`,
 * the same interface in both lines): events by stream, replayed after a `Last-Event-ID`.
 */
export interface McpEventStore {
  storeEvent(streamId: string, message: unknown): Promise<string>
  getStreamIdForEventId?(eventId: string): Promise<string | undefined>
  replayEventsAfter(
    lastEventId: string,
    options: { send: (eventId: string, message: unknown) => Promise<void> },
  ): Promise<string>
}

/**
 * One transport's view of an event store the route shares between every session. The SDKs name
 * streams per transport (`_GET_stream` is the same in every session) and replay whatever stream a
 * `Last-Event-ID` points to, so a shared store would let one session (another user's, sessions
 * being bound to principals) resume another's stream and read its events (Streamable HTTP
 * §Resumability and Redelivery: a server MUST NOT replay messages from another stream).
 *
 * The view keeps each session apart twice: its streams are stored under a name of their own
 * (`<scope>/<stream>`), so two sessions' streams never mix in the store; and the event ids it
 * hands out carry an HMAC under a key only this view holds, so a `Last-Event-ID` this view did
 * not issue is refused (400, "Invalid event ID format") before the store is asked.
 */
export function sessionEventStore(store: McpEventStore): McpEventStore {
  // Hex: no `_`, which some stores (the SDK's InMemoryEventStore) split event ids on.
  const scope = randomBytes(12).toString('hex')
  const key = randomBytes(32)
  const prefix = `${scope}/`
  const tagOf = (id: string, stream: string) =>
    createHmac('sha256', key).update(`${id}\n${stream}`).digest('base64url').slice(0, 22)
  const issue = (id: string, stream: string) =>
    `${id}~${Buffer.from(stream).toString('base64url')}~${tagOf(id, stream)}`

  /** The store's id and the transport's stream of an id this view issued, else `undefined`. */
  const verify = (eventId: unknown): { id: string; stream: string } | undefined => {
    if (typeof eventId !== 'string' || eventId.length > 4096) return undefined
    const last = eventId.lastIndexOf('~')
    const middle = last < 0 ? -1 : eventId.lastIndexOf('~', last - 1)
    if (middle < 0) return undefined
    const id = eventId.slice(0, middle)
    const stream = Buffer.from(eventId.slice(middle + 1, last), 'base64url').toString()
    const expected = Buffer.from(tagOf(id, stream))
    const given = Buffer.from(eventId.slice(last + 1))
    return given.length === expected.length && timingSafeEqual(given, expected) ? { id, stream } : undefined
  }

  return {
    async storeEvent(streamId, message) {
      return issue(await store.storeEvent(prefix + streamId, message), streamId)
    },
    async getStreamIdForEventId(eventId) {
      return verify(eventId)?.stream
    },
    async replayEventsAfter(lastEventId, { send }) {
      const known = verify(lastEventId)
      if (known === undefined) throw new Error('Last-Event-ID was not issued on this session')
      const replayed = await store.replayEventsAfter(known.id, {
        send: (id, message) => send(issue(id, known.stream), message),
      })
      // Whatever the store answers, only this session's stream is resumed.
      return typeof replayed === 'string' && replayed.startsWith(prefix)
        ? replayed.slice(prefix.length)
        : known.stream
    },
  }
}

/** True for an object with the two methods every event store has. */
export function isMcpEventStore(value: unknown): value is McpEventStore {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as McpEventStore).storeEvent === 'function' &&
    typeof (value as McpEventStore).replayEventsAfter === 'function'
  )
}
