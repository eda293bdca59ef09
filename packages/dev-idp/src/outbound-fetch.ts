import { type LookupAddress, lookup } from 'node:dns'
import { request } from 'node:https'
import { BlockList, isIP } from 'node:net'
import { rootCertificates } from 'node:tls'

/** The limits of every fetch oidc-provider makes for a client (its metadata document, its `jwks_uri`). */
export interface OutboundFetchPolicy {
  /** Loopback addresses (127.0.0.0/8, ::1) may be fetched: clients under development. */
  allowLoopback: boolean
  /** Private, link-local, shared and other special-use addresses may be fetched. */
  allowPrivateNetworks: boolean
  maxBytes: number
  timeoutMs: number
  /** Extra trusted CA certificates (PEM); the system's are trusted too. */
  ca: readonly string[]
}

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')

// IANA special-purpose registries (RFC 6890) plus multicast and reserved ranges: never a client's host.
const special = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  special.addSubnet(network, prefix, 'ipv4')
}
for (const [network, prefix] of [
  ['::', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  special.addSubnet(network, prefix, 'ipv6')
}

/**
 * Why an address may not be fetched under `policy`, or undefined. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) are judged as the IPv4 address they carry.
 */
export function addressProblem(address: string, policy: OutboundFetchPolicy): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  const ip = mapped ? mapped[1]! : address
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4'
  if (loopback.check(ip, family)) return policy.allowLoopback ? undefined : `${address} is a loopback address`
  if (special.check(ip, family) && !policy.allowPrivateNetworks) {
    return `${address} is a private or special-use address`
  }
  return undefined
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void

/** `dns.lookup` that refuses names resolving to a forbidden address; the socket connects to what was checked. */
function guardedLookup(policy: OutboundFetchPolicy) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, [])
      const problem = addresses.map((a) => addressProblem(a.address, policy)).find(Boolean)
      if (problem)
        return callback(
          Object.assign(new Error(`refused: ${hostname} resolves to ${problem}`), { code: 'EREFUSED' }),
          [],
        )
      if (options.all) return callback(null, addresses)
      const first = addresses[0]!
      callback(null, first.address, first.family)
    })
  }
}

/**
 * The `fetch` oidc-provider uses for what a client's metadata points at, with the SSRF rules such a
 * fetch needs (the URL is chosen by whoever presents the client id): https only, every resolved
 * address checked before connecting (so DNS cannot swap in another one), redirects returned as they
 * are (oidc-provider then refuses anything but 200), the body cut at `maxBytes` and the whole
 * exchange at `timeoutMs`.
 */
export function outboundFetch(policy: OutboundFetchPolicy) {
  return (
    input: string | URL,
    init: { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; signal?: AbortSignal } = {},
  ) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(String(input))
      if (url.protocol !== 'https:') return reject(new Error(`refused: ${url.protocol} (https only)`))
      const host = url.hostname.replace(/^\[|\]$/g, '')
      const literal = isIP(host) === 0 ? undefined : addressProblem(host, policy)
      if (literal) return reject(new Error(`refused: ${literal}`))
      const signal = AbortSignal.any([
        AbortSignal.timeout(policy.timeoutMs),
        ...(init.signal ? [init.signal] : []),
      ])
      const headers = Object.fromEntries(new Headers(init.headers).entries())
      const req = request(url, {
        method: init.method ?? 'GET',
        headers,
        signal,
        lookup: guardedLookup(policy) as never,
        ...(policy.ca.length > 0 ? { ca: [...policy.ca, ...rootCertificates] } : {}),
      })
      req.once('error', reject)
      req.once('response', (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > policy.maxBytes) {
            req.destroy()
            reject(new Error(`refused: the response is larger than ${policy.maxBytes} bytes`))
            return
          }
          chunks.push(chunk)
        })
        res.once('error', reject)
        res.once('end', () => {
          const status = res.statusCode ?? 502
          const responseHeaders = new Headers()
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined)
              responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value)
          }
          // Response cannot carry a body with these statuses (and never a 1xx status at all).
          const empty = status === 204 || status === 304
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers: responseHeaders }))
        })
      })
      req.end()
    })
}
