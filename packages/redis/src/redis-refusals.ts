import { ReplyError } from 'ioredis'

/** What an error reply from Redis means for the shared state; each kind is logged with its remedy. */
export type RefusalKind = 'out_of_memory' | 'no_permission' | 'cluster' | 'other'

/**
 * True for an error reply: Redis answered and refused the command. That is no outage (the
 * connection is fine, and reconnecting will not help): it is reported as what it is.
 */
export function isRefusal(error: unknown): boolean {
  return error instanceof ReplyError || (error instanceof Error && error.name === 'ReplyError')
}

/** An error reply's text; an aborted MULTI (EXECABORT) says why through the replies it carries. */
export function refusalMessage(error: Error): string {
  const previous = (error as { previousErrors?: unknown }).previousErrors
  const cause = Array.isArray(previous) && previous[0] instanceof Error ? previous[0].message : undefined
  return cause === undefined ? error.message : `${error.message} (${cause})`
}

export function refusalKind(message: string): RefusalKind {
  // A MULTI aborted by one refused command says EXECABORT; the cause is in the message.
  if (/\bOOM\b|maxmemory/.test(message)) return 'out_of_memory'
  if (/\bNOPERM\b|NOAUTH|WRONGPASS/.test(message)) return 'no_permission'
  if (/^(MOVED|ASK|CLUSTERDOWN|CROSSSLOT)\b/.test(message)) return 'cluster'
  return 'other'
}

/** The log line of each kind: what happened and what to change. */
export const REFUSAL_ADVICE: Record<RefusalKind, string> = {
  out_of_memory:
    'portcullis: Redis is out of memory (maxmemory reached with noeviction, or a volatile-* policy with nothing volatile) and refuses writes: revocations hold where they are made and spread by pub/sub only, and are written when Redis has room. Raise maxmemory, or use maxmemory-policy volatile-lru so cached answers and limiter counts make room',
  no_permission:
    'portcullis: the Redis ACL user may not run a command or use a key or channel the shared state needs. Needed: ~<keyPrefix>* &<keyPrefix>* +@read +@write +@transaction +@pubsub +@scripting +@connection (see the README); without channels, revocations spread by resync only',
  cluster:
    'portcullis: Redis Cluster is not supported (a redirect or cluster error was answered); use one primary, with replicas or Sentinel for failover',
  other: 'portcullis: Redis refused a command',
}
